//! The dictionary's table: an insertion-ordered byte-string map ([`indexmap::IndexMap`]).
//!
//! Dovecot keeps the dictionary in a hash table and writes it in that table's iteration order.
//! The captured Dovecot 2.3.19 files do not follow a reproducible order (a model of
//! `lib/hash.c` with `str_hash` does not explain them), and neither Dovecot nor pn gives the
//! order any meaning. pn therefore keeps the file's order and appends new keys, which keeps
//! rewrites minimal.

use indexmap::IndexMap;

/// Pairs in insertion order; an update keeps the key's place, a removal keeps the others'
/// order.
pub(crate) type OrderedMap = IndexMap<Vec<u8>, Vec<u8>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_and_updates_in_place() {
        let mut m = OrderedMap::default();
        m.insert(b"b".to_vec(), b"1".to_vec());
        m.insert(b"a".to_vec(), b"2".to_vec());
        m.insert(b"c".to_vec(), b"3".to_vec());
        m.insert(b"b".to_vec(), b"4".to_vec());
        assert!(m.shift_remove(&b"a"[..]).is_some());
        assert!(m.shift_remove(&b"a"[..]).is_none());
        let keys: Vec<&[u8]> = m.keys().map(Vec::as_slice).collect();
        assert_eq!(keys, vec![&b"b"[..], &b"c"[..]]);
        assert_eq!(m.get(&b"b"[..]).map(Vec::as_slice), Some(&b"4"[..]));
        assert_eq!(m.len(), 2);
    }
}
