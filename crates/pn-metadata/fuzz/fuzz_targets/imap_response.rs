//! The IMAP response reader and parser never panic on any server bytes, and a value the
//! client encodes (quoted string or literal) parses back as the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pn_metadata::imap::proto::{
    Part, Response, Untagged, parse_response, push_string, read_response,
};

fuzz_target!(|data: &[u8]| {
    // Whatever a server sends: read responses one by one and parse each.
    let mut reader = std::io::BufReader::with_capacity(7, data);
    while let Ok(Some(resp)) = read_response(&mut reader) {
        let _ = parse_response(&resp);
    }
    let _ = parse_response(data);

    // The encoder's output as a METADATA value reads back unchanged.
    let mut parts = Vec::new();
    if push_string(&mut parts, data, true).is_err() {
        return;
    }
    let mut line = b"* METADATA \"\" (/private/x ".to_vec();
    for p in parts {
        match p {
            Part::Text(t) => line.extend_from_slice(&t),
            Part::Literal { data, binary } => {
                if binary {
                    line.push(b'~');
                }
                line.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
                line.extend_from_slice(&data);
            }
        }
    }
    line.extend_from_slice(b")\r\n");
    let mut reader = std::io::BufReader::new(&line[..]);
    let read = read_response(&mut reader)
        .expect("read")
        .expect("one response");
    assert_eq!(read, line);
    match parse_response(&read) {
        Some(Response::Untagged(Untagged::Metadata { entries, .. })) => {
            assert_eq!(
                entries,
                vec![("/private/x".to_owned(), Some(data.to_vec()))]
            );
        }
        other => panic!("{other:?}"),
    }
});
