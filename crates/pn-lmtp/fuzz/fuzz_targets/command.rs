//! The LMTP command parser and the DATA/BDAT decoders must never panic, whatever the bytes;
//! a reply is always well-formed (three digits, CRLF-terminated), and decoding in one piece
//! or byte by byte gives the same result.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pn_lmtp::command;
use pn_lmtp::data::{DotDecoder, LfConverter};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        if let Err(reply) = command::parse(line) {
            let wire = reply.to_wire();
            assert!(wire.ends_with("\r\n"));
            assert!((200..600).contains(&reply.code));
        }
    }

    let mut whole = Vec::new();
    let end_whole = DotDecoder::new().feed(data, &mut whole);
    let mut pieces = Vec::new();
    let mut decoder = DotDecoder::new();
    let mut end_pieces = None;
    for (i, b) in data.iter().enumerate() {
        if decoder.feed(std::slice::from_ref(b), &mut pieces).is_some() {
            end_pieces = Some(i + 1);
            break;
        }
    }
    assert_eq!(end_whole, end_pieces);
    assert_eq!(whole, pieces);

    let mut lf = Vec::new();
    let mut conv = LfConverter::new();
    let (a, b) = data.split_at(data.len() / 2);
    conv.feed(a, &mut lf);
    conv.feed(b, &mut lf);
    conv.finish(&mut lf);
    assert!(lf.len() <= data.len());
});
