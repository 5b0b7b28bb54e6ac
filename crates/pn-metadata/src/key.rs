//! Attribute keys: `/private/…` and `/shared/…`, server metadata, Dovecot's internal
//! attributes.

/// `MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER`: server metadata is stored on INBOX under this
/// prefix.
pub const SERVER_PREFIX: &str = "vendor/vendor.dovecot/pvt/server/";

pub use pn_core::AttributeType;

/// The dictionary prefix an attribute type is stored under (`priv/`, `shared/`).
pub(crate) fn dict_prefix(attr_type: AttributeType) -> &'static str {
    match attr_type {
        AttributeType::Private => "priv/",
        AttributeType::Shared => "shared/",
    }
}

/// Splits a doveadm key argument: lower-cased, then `/private/<k>`, `/shared/<k>`, or
/// `/private` / `/shared` alone (key `""`). `None` for anything else (doveadm's "Must begin
/// with /private or /shared"). Returns the lower-cased argument too, for the error message.
pub fn parse_doveadm_key(arg: &str) -> Result<(AttributeType, String), String> {
    let lower = arg.to_ascii_lowercase();
    if let Some(k) = lower.strip_prefix("/private/") {
        Ok((AttributeType::Private, k.to_owned()))
    } else if let Some(k) = lower.strip_prefix("/shared/") {
        Ok((AttributeType::Shared, k.to_owned()))
    } else if lower == "/private" {
        Ok((AttributeType::Private, String::new()))
    } else if lower == "/shared" {
        Ok((AttributeType::Shared, String::new()))
    } else {
        Err(lower)
    }
}

/// How Dovecot answers an internal attribute itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalRank {
    /// The dictionary's value wins; the internal value is a default.
    Default,
    /// Only the internal value counts; it cannot be set.
    Authority,
}

/// An attribute Dovecot 2.3 registers internally (`mailbox-attribute-internal.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternalAttribute {
    /// Private or shared.
    pub attr_type: AttributeType,
    /// The key as stored.
    pub key: &'static str,
    /// Its rank.
    pub rank: InternalRank,
}

/// Dovecot's internal attributes, sorted by type then key as Dovecot keeps them.
pub const INTERNAL_ATTRIBUTES: [InternalAttribute; 5] = [
    InternalAttribute {
        attr_type: AttributeType::Private,
        key: "comment",
        rank: InternalRank::Default,
    },
    InternalAttribute {
        attr_type: AttributeType::Private,
        key: "specialuse",
        rank: InternalRank::Authority,
    },
    InternalAttribute {
        attr_type: AttributeType::Shared,
        key: "comment",
        rank: InternalRank::Default,
    },
    InternalAttribute {
        attr_type: AttributeType::Shared,
        key: "vendor/vendor.dovecot/pvt/server/admin",
        rank: InternalRank::Authority,
    },
    InternalAttribute {
        attr_type: AttributeType::Shared,
        key: "vendor/vendor.dovecot/pvt/server/comment",
        rank: InternalRank::Authority,
    },
];

/// The internal attribute `key` of this type, if it is one.
pub fn internal_attribute(
    attr_type: AttributeType,
    key: &str,
) -> Option<&'static InternalAttribute> {
    INTERNAL_ATTRIBUTES
        .iter()
        .find(|a| a.attr_type == attr_type && a.key == key)
}

/// The internal attribute names a listing under `prefix` adds (relative to `prefix`), as
/// `mailbox_internal_attributes_get` computes them with a dictionary configured. Internal
/// server attributes only appear on the user's INBOX.
pub fn internal_keys_under(
    attr_type: AttributeType,
    prefix: &str,
    is_inbox: bool,
) -> Vec<&'static str> {
    let bare = prefix.strip_suffix('/').unwrap_or(prefix);
    let mut out = Vec::new();
    for attr in INTERNAL_ATTRIBUTES
        .iter()
        .filter(|a| a.attr_type == attr_type)
    {
        if !is_inbox && attr.key.starts_with(SERVER_PREFIX) {
            continue;
        }
        if bare.is_empty() {
            out.push(attr.key);
            continue;
        }
        let Some(rest) = attr.key.strip_prefix(bare) else {
            continue;
        };
        if let Some(child) = rest.strip_prefix('/') {
            out.push(child);
        } else if rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// Dovecot's merge of a listing: the dictionary's keys except those also in `internal`
/// (compared without case), then the internal keys.
pub fn merge_internal(dict_keys: Vec<String>, internal: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = dict_keys
        .into_iter()
        .filter(|k| !internal.iter().any(|i| i.eq_ignore_ascii_case(k)))
        .collect();
    out.extend(internal.iter().map(|s| (*s).to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doveadm_keys_are_lower_cased_and_split() {
        assert_eq!(
            parse_doveadm_key("/PRIVATE/Vendor/X"),
            Ok((AttributeType::Private, "vendor/x".to_owned()))
        );
        assert_eq!(
            parse_doveadm_key("/shared"),
            Ok((AttributeType::Shared, String::new()))
        );
        assert_eq!(
            parse_doveadm_key("/private/"),
            Ok((AttributeType::Private, String::new()))
        );
        assert_eq!(parse_doveadm_key("/Public/x"), Err("/public/x".to_owned()));
    }

    #[test]
    fn internal_server_keys_appear_under_the_server_prefix_on_inbox_only() {
        assert_eq!(
            internal_keys_under(AttributeType::Shared, SERVER_PREFIX, true),
            vec!["admin", "comment"]
        );
        assert!(internal_keys_under(AttributeType::Shared, SERVER_PREFIX, false).is_empty());
        assert_eq!(
            internal_keys_under(AttributeType::Private, "", false),
            vec!["comment", "specialuse"]
        );
        assert_eq!(
            internal_keys_under(AttributeType::Shared, "", false),
            vec!["comment"]
        );
    }

    #[test]
    fn merge_moves_internal_duplicates_to_the_end() {
        let merged = merge_internal(
            vec!["x".into(), "Comment".into()],
            &["comment", "specialuse"],
        );
        assert_eq!(merged, vec!["x", "comment", "specialuse"]);
    }
}
