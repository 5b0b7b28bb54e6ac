use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A raw header value exactly as the message carries it: bytes, not necessarily UTF-8.
///
/// Dovecot passes `From`, `To`, `Subject` and `Message-ID` on undecoded (encoded words and
/// folding kept); 8-bit headers may hold any bytes, and each consumer decides how to show them
/// (the ox JSON replaces every invalid byte with U+FFFD, Lua receives the bytes).
///
/// Serialised as a string when the bytes are UTF-8 and as an array of bytes otherwise, so a
/// stored event round-trips without loss.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct RawValue(pub Vec<u8>);

impl RawValue {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text, with invalid UTF-8 replaced (for logs).
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl From<&str> for RawValue {
    fn from(s: &str) -> Self {
        RawValue(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for RawValue {
    fn from(v: Vec<u8>) -> Self {
        RawValue(v)
    }
}

impl fmt::Debug for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl Serialize for RawValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(s) => serializer.serialize_str(s),
            Err(_) => serializer.collect_seq(self.0.iter()),
        }
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue(v.as_bytes().to_vec()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawValue, E> {
                Ok(RawValue(v.to_vec()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(RawValue(out))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_serialises_as_string_and_binary_as_bytes() {
        let text = RawValue::from("=?UTF-8?Q?Zo=C3=AB?= <z@x>");
        assert_eq!(
            serde_json::to_string(&text).expect("ser"),
            r#""=?UTF-8?Q?Zo=C3=AB?= <z@x>""#
        );
        let binary = RawValue(vec![b'a', 0xe9, b'b']);
        let json = serde_json::to_string(&binary).expect("ser");
        assert_eq!(json, "[97,233,98]");
        assert_eq!(serde_json::from_str::<RawValue>(&json).expect("de"), binary);
    }
}
