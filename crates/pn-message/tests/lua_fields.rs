//! The fields Dovecot 2.3.19.1 handed to the Lua driver for each delivered vector message.

use std::path::Path;

use pn_event::{MessageData, MessageFields, MessageSource};
use pn_message::RawMessage;
use serde_json::Value;

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

fn all_fields() -> MessageFields {
    MessageFields::FROM
        | MessageFields::TO
        | MessageFields::SUBJECT
        | MessageFields::DATE
        | MessageFields::SNIPPET
        | MessageFields::MESSAGE_ID
}

fn lossy(v: &Option<pn_event::RawValue>) -> String {
    v.as_ref()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn every_lua_capture_matches() {
    let text = std::fs::read_to_string(data_dir().join("lua-fields.json")).expect("json");
    let all: Value = serde_json::from_str(&text).expect("json");
    let all = all.as_object().expect("object");
    assert!(all.len() >= 16);
    for (eml, want) in all {
        let bytes = std::fs::read(data_dir().join(eml)).expect("eml");
        let mut d = MessageData::default();
        RawMessage(&bytes).fill(all_fields(), &mut d);
        let s = |k: &str| {
            want.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // Lua shows a missing string as "" (from/to/addresses/names) or nil (subject, ...).
        assert_eq!(lossy(&d.from), s("from"), "{eml} from");
        assert_eq!(lossy(&d.to), s("to"), "{eml} to");
        assert_eq!(
            d.from_address.clone().unwrap_or_default(),
            s("from_address"),
            "{eml}"
        );
        assert_eq!(
            d.from_display_name.clone().unwrap_or_default(),
            s("from_display_name"),
            "{eml}"
        );
        assert_eq!(
            d.to_address.clone().unwrap_or_default(),
            s("to_address"),
            "{eml}"
        );
        assert_eq!(
            d.to_display_name.clone().unwrap_or_default(),
            s("to_display_name"),
            "{eml}"
        );
        assert_eq!(
            d.subject_utf8.clone().unwrap_or_default(),
            s("subject"),
            "{eml} subject"
        );
        assert_eq!(
            d.subject.is_some(),
            want.get("subject").is_some(),
            "{eml} subject presence"
        );
        assert_eq!(lossy(&d.message_id), s("message_id"), "{eml} message_id");
        assert_eq!(
            d.snippet.clone().unwrap_or_default(),
            s("snippet"),
            "{eml} snippet"
        );
        assert_eq!(d.date, want["date"].as_i64(), "{eml} date");
        assert_eq!(
            i64::from(d.date_tz),
            want["tz"].as_i64().unwrap_or(-1),
            "{eml} tz"
        );
    }
}

#[test]
fn only_the_requested_groups_are_filled() {
    let bytes = std::fs::read(data_dir().join("01-plain-ascii.eml")).expect("eml");
    let mut d = MessageData::default();
    RawMessage(&bytes).fill(MessageFields::SUBJECT, &mut d);
    assert!(d.subject.is_some() && d.subject_utf8.is_some());
    assert!(d.from.is_none() && d.snippet.is_none() && d.date.is_none() && d.to.is_none());
    // a second subscriber only fills what is still missing
    d.subject = Some("kept".into());
    RawMessage(&bytes).fill(MessageFields::SUBJECT | MessageFields::FROM, &mut d);
    assert_eq!(lossy(&d.subject), "kept");
    assert_eq!(d.from_address.as_deref(), Some("bob.sender@example.org"));
}
