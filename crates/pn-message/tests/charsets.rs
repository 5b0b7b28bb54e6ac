//! Multi-byte charsets and RFC 2231 parameters through the public API (`RawMessage`,
//! `decode_header`); the expected values are what Debian's Dovecot 2.3.19 produced for the
//! same bytes (compared live in `crates/pn/tests/charsets_dovecot.rs`).

use pn_event::{MessageData, MessageFields, MessageSource};
use pn_message::{RawMessage, decode_header};

#[test]
fn shift_jis_base64_body_and_subject() {
    // "日本語のテキスト" in Shift_JIS, base64; the subject the same as an encoded word
    let msg = b"Subject: =?Shift_JIS?B?k/qWe4zqgsyDZYNMg1iDZw==?=\nFrom: =?shift_jis?B?k/qWe4zq?= <a@b.c>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n\nk/qWe4zqgsyDZYNMg1iDZw==\n";
    let mut d = MessageData::default();
    RawMessage(msg).fill(MessageFields::all(), &mut d);
    assert_eq!(d.snippet.as_deref(), Some("日本語のテキスト"));
    assert_eq!(d.subject_utf8.as_deref(), Some("日本語のテキスト"));
    assert_eq!(d.from_display_name.as_deref(), Some("日本語"));
}

#[test]
fn glibc_mappings_win_over_whatwg() {
    let msg = b"Content-Type: text/plain; charset=shift_jis\n\nC:\\dir ~x \x81\x60\n";
    assert_eq!(RawMessage(msg).snippet(), "C:¥dir ‾x 〜");
    assert_eq!(decode_header(b"=?gb2312?B?oaShqg==?="), "・―");
}

#[test]
fn every_multibyte_charset_decodes() {
    for (charset, bytes, text) in [
        ("EUC-JP", &b"\xc6\xfc\xcb\xdc"[..], "日本"),
        ("ISO-2022-JP", b"\x1b$B\x46\x7c\x4b\x5c\x1b(B", "日本"),
        ("GB2312", b"\xd6\xd0\xce\xc4", "中文"),
        ("GBK", b"\xd6\xd0\xce\xc4", "中文"),
        ("GB18030", b"\xd6\xd0\xce\xc4", "中文"),
        ("Big5", b"\xa4\xa4\xa4\xe5", "中文"),
        ("EUC-KR", b"\xc7\xd1\xb1\xb9", "한국"),
    ] {
        let mut msg = format!("Content-Type: text/plain; charset=\"{charset}\"\n\n").into_bytes();
        msg.extend_from_slice(bytes);
        assert_eq!(RawMessage(&msg).snippet(), text, "{charset}");
    }
}

#[test]
fn a_long_multibyte_part_is_cut_at_200_characters() {
    let mut msg = b"Content-Type: text/plain; charset=euc-jp\n\n".to_vec();
    for _ in 0..100_000 {
        msg.extend_from_slice(b"\xc6\xfc");
    }
    let s = RawMessage(&msg).snippet();
    assert_eq!(s.chars().count(), 200);
    assert!(s.chars().all(|c| c == '日'));
}

#[test]
fn rfc2231_continuations_and_extended_values() {
    for params in [
        "charset*0=\"iso-8859\"; charset*1=\"-15\"",
        "charset*=us-ascii''iso-8859-15",
        "charset*0*=us-ascii''iso-8859; charset*1*=%2D15",
    ] {
        let mut bytes = format!("Content-Type: text/plain; {params}\n\n").into_bytes();
        bytes.extend_from_slice(b"5 \xa4\n");
        assert_eq!(RawMessage(&bytes).snippet(), "5 €", "{params}");
    }
    let msg = b"Content-Type: multipart/mixed; boundary*0=ab; boundary*1=cd\n\n--abcd\nContent-Type: text/plain\n\nfound\n--abcd--\n";
    assert_eq!(RawMessage(msg).snippet(), "found");
}
