//! The delivery hot path: raw message bytes → `MessageNew` data (the ox driver's fields:
//! FROM | SUBJECT | SNIPPET) → the ox JSON body, for a 2 KiB plain message (`baseline`), a
//! 64 KiB HTML message, and a message whose 10 MiB attachment follows a short text part. The
//! last must cost about the same as the baseline: nothing after the text part is parsed.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pn_driver_ox::payload::write_message_new;
use pn_event::{EventData, MessageData, MessageFields, MessageSource, MessageTxnData};
use pn_message::RawMessage;

const HEADERS: &str = "Return-Path: <bob@example.org>\r\n\
Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n\tby mail.example.com with LMTP id abc\r\n\tfor <alice@example.com>; Mon, 01 Jan 2024 09:00:00 +0000\r\n\
From: =?UTF-8?Q?Bob_M=C3=BCller?= <bob@example.org>\r\n\
To: Alice <alice@example.com>\r\n\
Subject: =?UTF-8?Q?Quarterly_report_=E2=80=93_draft?=\r\n\
Date: Mon, 01 Jan 2024 09:00:00 +0000\r\n\
Message-ID: <bench-1@example.org>\r\n\
MIME-Version: 1.0\r\n";

fn plain_2k() -> Vec<u8> {
    let mut m = String::from(HEADERS);
    m.push_str(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    let line = "Hello Alice, here is the quarterly report draft we talked about.\r\n";
    while m.len() < 2048 {
        m.push_str(line);
    }
    m.truncate(2048);
    m.into_bytes()
}

fn html_64k() -> Vec<u8> {
    let mut m = String::from(HEADERS);
    m.push_str("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    m.push_str("<html><head><style>p { margin: 0; } td { padding: 4px; }</style></head><body>\r\n");
    let row = "<table><tr><td class=3D\"c\">Caf=C3=A9 &amp; Cr&egrave;me</td><td>Quarterly&nbsp;numbers</td></tr></table>\r\n";
    while m.len() < 64 * 1024 - 20 {
        m.push_str(row);
    }
    m.push_str("</body></html>\r\n");
    m.into_bytes()
}

fn attachment_10m() -> Vec<u8> {
    let mut m = String::from(HEADERS);
    m.push_str("Content-Type: multipart/mixed; boundary=\"=_bench\"\r\n\r\n");
    m.push_str("--=_bench\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    m.push_str("Please find the report attached.\r\n\r\nBob\r\n");
    m.push_str("--=_bench\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n");
    m.push_str("Content-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    let line = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCnRleHQK\r\n";
    let mut bytes = m.into_bytes();
    while bytes.len() < 10 * 1024 * 1024 {
        bytes.extend_from_slice(line.as_bytes());
    }
    bytes.extend_from_slice(b"--=_bench--\r\n");
    bytes
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("baseline", plain_2k()),
        ("html_64k", html_64k()),
        ("attachment_10m", attachment_10m()),
    ];
    let fields = MessageFields::FROM | MessageFields::SUBJECT | MessageFields::SNIPPET;
    let mut group = c.benchmark_group("event_to_payload");
    let mut out = Vec::with_capacity(1024);
    for (name, bytes) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut data = MessageData::default();
                RawMessage(black_box(bytes)).fill(fields, &mut data);
                let msg = MessageTxnData {
                    mailbox: String::from("INBOX"),
                    uid: 42,
                    uid_validity: 1_795_889_745,
                    events: vec![EventData::MessageNew(data)],
                };
                out.clear();
                write_message_new(&mut out, b"alice@example.com", &msg, Some(3));
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
