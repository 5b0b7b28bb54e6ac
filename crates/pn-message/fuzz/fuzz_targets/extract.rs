//! Arbitrary bytes as a message: extraction of every field plus the ox payload must never
//! panic, the snippet stays within 200 characters, and the payload is valid UTF-8 JSON text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pn_driver_ox::payload::write_message_new;
use pn_event::{EventData, MessageData, MessageFields, MessageSource, MessageTxnData};
use pn_message::RawMessage;

fuzz_target!(|data: &[u8]| {
    let mut d = MessageData::default();
    RawMessage(data).fill(MessageFields::all(), &mut d);
    if let Some(s) = &d.snippet {
        assert!(s.chars().count() <= 200);
        assert!(!s.starts_with(' ') && !s.ends_with(' '));
    }
    let msg = MessageTxnData {
        mailbox: "INBOX".into(),
        uid: 1,
        uid_validity: 2,
        events: vec![EventData::MessageNew(d)],
    };
    let mut out = Vec::new();
    write_message_new(&mut out, data.get(..8).unwrap_or(data), &msg, Some(3));
    assert!(std::str::from_utf8(&out).is_ok());
});
