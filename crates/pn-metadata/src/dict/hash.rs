//! An insertion-ordered byte-string map.
//!
//! Dovecot keeps the dictionary in a hash table and writes it in that table's iteration order.
//! The captured Dovecot 2.3.19 files do not follow a reproducible order (a model of
//! `lib/hash.c` with `str_hash` does not explain them), and neither Dovecot nor pn gives the
//! order any meaning. pn therefore keeps the file's order and appends new keys, which keeps
//! rewrites minimal.

use std::collections::HashMap;

/// Pairs in insertion order with an index by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderedMap {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    index: HashMap<Vec<u8>, usize>,
}

impl OrderedMap {
    /// Replaces the value of an existing key in place, or appends.
    pub(crate) fn update(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if let Some(&i) = self.index.get(&key) {
            self.entries[i].1 = value;
            return;
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
    }

    /// Removes a key; whether it was there.
    pub(crate) fn remove(&mut self, key: &[u8]) -> bool {
        let Some(i) = self.index.remove(key) else {
            return false;
        };
        self.entries.remove(i);
        for (k, _) in &self.entries[i..] {
            if let Some(pos) = self.index.get_mut(k) {
                *pos -= 1;
            }
        }
        true
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.index.get(key).map(|&i| self.entries[i].1.as_slice())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_and_updates_in_place() {
        let mut m = OrderedMap::default();
        m.update(b"b".to_vec(), b"1".to_vec());
        m.update(b"a".to_vec(), b"2".to_vec());
        m.update(b"c".to_vec(), b"3".to_vec());
        m.update(b"b".to_vec(), b"4".to_vec());
        assert!(m.remove(b"a"));
        assert!(!m.remove(b"a"));
        let keys: Vec<&[u8]> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![&b"b"[..], &b"c"[..]]);
        assert_eq!(m.get(b"b"), Some(&b"4"[..]));
        assert_eq!(m.get(b"c"), Some(&b"3"[..]));
        assert_eq!(m.len(), 2);
    }
}
