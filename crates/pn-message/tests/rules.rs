//! One behaviour per test: the extraction rules of spec §1.4 on hand-made messages.

use pn_event::{MessageData, MessageFields, MessageSource};
use pn_message::{RawMessage, decode_header, parse_date};

fn snippet(msg: &str) -> String {
    RawMessage(msg.as_bytes()).snippet()
}

fn snippet_bytes(msg: &[u8]) -> String {
    RawMessage(msg).snippet()
}

fn fill(msg: &[u8], fields: MessageFields) -> MessageData {
    let mut d = MessageData::default();
    RawMessage(msg).fill(fields, &mut d);
    d
}

#[test]
fn base64_body_is_decoded() {
    let msg = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSGVsbG8g\nV8O2cmxk\n";
    assert_eq!(snippet(msg), "Hello Wörld");
}

#[test]
fn quoted_printable_utf8_body_is_decoded() {
    let msg = "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: Quoted-Printable\n\nCaf=C3=A9 =\nau lait=20\n";
    assert_eq!(snippet(msg), "Café au lait");
}

#[test]
fn iso_8859_1_body_maps_bytes_to_code_points() {
    let msg = b"Content-Type: text/plain; charset=iso-8859-1\n\nS\xe4tze \xa9\n";
    assert_eq!(snippet_bytes(msg), "Sätze ©");
}

#[test]
fn windows_1252_body_uses_its_extra_characters() {
    let msg = b"Content-Type: text/plain; charset=windows-1252\n\n\x93quoted\x94 \x80 \x96 dash\n";
    assert_eq!(snippet_bytes(msg), "\u{201c}quoted\u{201d} € – dash");
}

#[test]
fn koi8_r_body_is_cyrillic() {
    let msg = b"Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2!\n";
    assert_eq!(snippet_bytes(msg), "Привет, мир!");
}

#[test]
fn unknown_charset_reads_as_utf8() {
    let msg = b"Content-Type: text/plain; charset=x-unknown\n\nok \xc3\xa9 \xff end\n";
    assert_eq!(snippet_bytes(msg), "ok é \u{FFFD} end");
}

#[test]
fn us_ascii_with_8bit_utf8_passes_through() {
    let msg = "Content-Type: text/plain; charset=us-ascii\n\nnaïve\n";
    assert_eq!(snippet(msg), "naïve");
}

#[test]
fn unknown_transfer_encoding_gives_empty_snippet() {
    let msg = "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n";
    assert_eq!(snippet(msg), "");
}

#[test]
fn non_text_top_level_gives_empty_snippet() {
    assert_eq!(snippet("Content-Type: image/png\n\nPNG..."), "");
}

#[test]
fn message_without_mime_headers_is_text() {
    assert_eq!(
        snippet("Subject: x\n\n  plain old\n  message\n"),
        "plain old message"
    );
}

#[test]
fn multipart_without_boundary_gives_empty_snippet() {
    let msg = "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhidden\n--x--\n";
    assert_eq!(snippet(msg), "");
}

#[test]
fn unterminated_multipart_still_finds_its_text() {
    let msg = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\ntruncated mail";
    assert_eq!(snippet(msg), "truncated mail");
}

#[test]
fn preamble_and_epilogue_are_ignored() {
    let msg = "Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\nContent-Type: application/octet-stream\n\nxx\n--b--\nepilogue\n";
    assert_eq!(snippet(msg), "");
}

#[test]
fn nested_multiparts_are_searched_depth_first() {
    let msg = "Content-Type: multipart/mixed; boundary=outer\n\n\
--outer\nContent-Type: multipart/alternative; boundary=inner\n\n\
--inner\nContent-Type: text/html\n\n<p>html &amp; more</p>\n\
--inner\nContent-Type: text/enriched\n\nenriched\n\
--inner--\n\
--outer\nContent-Type: text/plain\n\nlater plain\n--outer--\n";
    // alternative without text/plain: the html child wins over text/enriched
    assert_eq!(snippet(msg), "html & more");
}

#[test]
fn alternative_prefers_plain_over_earlier_html() {
    let msg = "Content-Type: multipart/alternative; boundary=\"a b\"\n\n\
--a b\nContent-Type: text/html\n\n<b>html</b>\n--a b\nContent-Type: text/plain\n\nplain text\n--a b--\n";
    assert_eq!(snippet(msg), "plain text");
}

#[test]
fn attachment_before_text_is_skipped() {
    let msg = "Content-Type: multipart/mixed; boundary=b\n\n\
--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0x\n\
--b\nContent-Type: text/plain\n\nafter the attachment\n--b--\n";
    assert_eq!(snippet(msg), "after the attachment");
}

#[test]
fn html_entities_and_tags() {
    let msg = "Content-Type: text/html\n\n<html><head><style>x{}</style></head><body>a&lt;b&gt;&quot;c&quot; &euro;&#8364;&#x20AC; &unknown; d<br>e</body></html>";
    assert_eq!(snippet(msg), "a<b>\"c\" €€€ d e");
}

#[test]
fn html_blockquote_is_quoted_text() {
    let msg = "Content-Type: text/html\n\n<blockquote>old</blockquote><p>new</p>";
    assert_eq!(snippet(msg), "new");
    let only = "Content-Type: text/html\n\n<blockquote>old words</blockquote>";
    assert_eq!(snippet(only), ">old words");
}

#[test]
fn snippet_is_at_most_200_characters() {
    let body = "ü".repeat(500);
    let s = snippet(&format!(
        "Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    ));
    assert_eq!(s.chars().count(), 200);
}

#[test]
fn crlf_and_lf_give_the_same_fields() {
    let lf = "From: A <a@b.c>\nSubject: s\n t\nDate: Tue, 2 Jan 2024 11:30:00 -0500\n\nline one\nline two\n";
    let crlf = lf.replace('\n', "\r\n");
    let all =
        MessageFields::FROM | MessageFields::SUBJECT | MessageFields::DATE | MessageFields::SNIPPET;
    assert_eq!(fill(lf.as_bytes(), all), fill(crlf.as_bytes(), all));
}

#[test]
fn eight_bit_headers_stay_raw_and_decode_lossily() {
    let msg = b"From: J\xf6rg <j@x.de>\nSubject: caf\xe9 \xc3\xa9\n\nx\n";
    let d = fill(msg, MessageFields::FROM | MessageFields::SUBJECT);
    assert_eq!(
        d.from.as_ref().map(|r| r.as_bytes().to_vec()),
        Some(b"J\xf6rg <j@x.de>".to_vec())
    );
    assert_eq!(d.from_display_name.as_deref(), Some("J\u{FFFD}rg"));
    assert_eq!(d.subject_utf8.as_deref(), Some("caf\u{FFFD} é"));
}

#[test]
fn first_occurrence_wins_and_names_are_case_insensitive() {
    let msg = b"subject: first\nSUBJECT: second\n\nx\n";
    let d = fill(msg, MessageFields::SUBJECT);
    assert_eq!(
        d.subject.as_ref().map(|r| r.as_bytes()),
        Some(&b"first"[..])
    );
}

#[test]
fn thousand_line_folded_header_is_kept_whole() {
    let mut msg = String::from("Subject: start");
    for i in 0..1000 {
        msg.push_str(&format!("\n w{i}"));
    }
    msg.push_str("\n\nbody\n");
    let d = fill(
        msg.as_bytes(),
        MessageFields::SUBJECT | MessageFields::SNIPPET,
    );
    let raw = d.subject.expect("subject");
    assert_eq!(raw.as_bytes().iter().filter(|&&b| b == b'\n').count(), 1000);
    assert!(raw.as_bytes().ends_with(b"\n w999"));
    assert_eq!(d.snippet.as_deref(), Some("body"));
}

#[test]
fn group_address_gives_group_name_and_no_address() {
    let d = fill(b"To: Team: a@b.c, d@e.f;\n\nx\n", MessageFields::TO);
    assert_eq!(d.to_address, None);
    assert_eq!(d.to_display_name.as_deref(), Some("Team"));
}

#[test]
fn address_without_domain_is_the_mailbox() {
    let d = fill(b"From: postmaster\n\nx\n", MessageFields::FROM);
    assert_eq!(d.from_address.as_deref(), Some("postmaster"));
    assert_eq!(d.from_display_name, None);
}

#[test]
fn invalid_or_missing_date_is_zero() {
    let d = fill(b"Date: someday\n\nx\n", MessageFields::DATE);
    assert_eq!((d.date, d.date_tz), (Some(0), 0));
    let d = fill(b"Subject: x\n\nx\n", MessageFields::DATE);
    assert_eq!((d.date, d.date_tz), (Some(0), 0));
    assert_eq!(
        parse_date(b"Mon, 1 Jan 2024 09:00:00 +0000"),
        Some((1_704_099_600, 0))
    );
}

#[test]
fn encoded_words_decode_and_unknown_charsets_fall_back() {
    assert_eq!(
        decode_header(b"=?UTF-8?B?SsO8cmdlbiBHcsO8w59lbA==?="),
        "Jürgen Grüßel"
    );
    assert_eq!(decode_header(b"=?x-bogus?Q?caf=C3=A9?="), "café");
    assert_eq!(
        decode_header(b"=?windows-1252?Q?=93x=94?="),
        "\u{201c}x\u{201d}"
    );
}

#[test]
fn nul_in_header_and_body() {
    let d = fill(
        b"Subject: a\0b\n\nc\0d\n",
        MessageFields::SUBJECT | MessageFields::SNIPPET,
    );
    assert_eq!(
        d.subject
            .as_ref()
            .map(|r| r.to_string_lossy().into_owned())
            .as_deref(),
        Some("a\u{FFFD}b")
    );
    assert_eq!(d.snippet.as_deref(), Some("cd"));
}

#[test]
fn huge_attachment_after_text_is_not_parsed() {
    // Garbage after the text part (never terminated, not valid base64) changes nothing.
    let mut msg = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nshort text\n--b\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n".to_vec();
    msg.extend(std::iter::repeat_n(b'!', 1 << 20));
    assert_eq!(snippet_bytes(&msg), "short text");
}

#[test]
fn no_panic_on_odd_inputs() {
    for msg in [
        &b""[..],
        b"\n",
        b"\r\n\r\n",
        b":",
        b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n--\n",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b",
        b"Content-Type: text/html\n\n<",
        b"Content-Type: text/html\n\n&#xFFFFFFFFFF;",
        b"From: (((\nTo: \"\nDate: 99 Xyz 1\n\n",
    ] {
        let _ = fill(msg, MessageFields::all());
    }
}
