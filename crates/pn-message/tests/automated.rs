//! pn's own `AUTOMATED` group: the raw `Auto-Submitted` and `Precedence` headers of the
//! top-level header block, looked up only when asked for.

use pn_event::{AutomatedHeaders, MessageData, MessageFields, MessageSource, RawValue};
use pn_message::RawMessage;

fn fill(msg: &[u8], fields: MessageFields) -> MessageData {
    let mut d = MessageData::default();
    RawMessage(msg).fill(fields, &mut d);
    d
}

#[test]
fn first_of_each_header_raw_with_folding() {
    let msg = b"From: a@b\r\nauto-submitted: auto-replied\r\n  (vacation)\r\nPRECEDENCE: bulk\r\n\
Precedence: list\r\nAuto-Submitted: no\r\n\r\nbody\r\n";
    let d = fill(msg, MessageFields::AUTOMATED);
    assert_eq!(
        d.automated,
        Some(AutomatedHeaders {
            auto_submitted: Some(RawValue::from("auto-replied\n  (vacation)")),
            precedence: Some(RawValue::from("bulk")),
        })
    );
    assert_eq!(d.from, None, "only the group asked for");
}

#[test]
fn looked_up_even_when_absent_and_never_in_the_body() {
    let msg = b"From: a@b\n\nAuto-Submitted: auto-generated\nPrecedence: junk\n";
    let d = fill(msg, MessageFields::AUTOMATED | MessageFields::FROM);
    assert_eq!(d.automated, Some(AutomatedHeaders::default()));
    assert_eq!(d.from, Some(RawValue::from("a@b")));
    // A forwarded message's headers are body too.
    let forwarded = b"Content-Type: message/rfc822\n\nAuto-Submitted: auto-replied\n\nhi\n";
    assert_eq!(
        fill(forwarded, MessageFields::AUTOMATED).automated,
        Some(AutomatedHeaders::default())
    );
}

#[test]
fn dovecot_groups_never_fill_it() {
    let msg = b"Auto-Submitted: auto-replied\nPrecedence: bulk\nSubject: x\n\nbody\n";
    let d = fill(msg, MessageFields::DOVECOT);
    assert_eq!(d.automated, None);
    assert_eq!(d.subject, Some(RawValue::from("x")));
    let json = serde_json::to_string(&d).expect("json");
    assert!(!json.contains("automated"), "{json}");
}
