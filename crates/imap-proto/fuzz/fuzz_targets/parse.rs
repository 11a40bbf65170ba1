//! Feeds arbitrary bytes to the command parser, whole and split at a point
//! taken from the input, and checks that both give the same events, that
//! nothing panics, and that every error has an answer.

#![no_main]

use imap_proto::{AuthLine, CommandParser, IdleLine, Parsed, ParserConfig};
use libfuzzer_sys::fuzz_target;

fn run(cfg: ParserConfig, chunks: &[&[u8]]) -> Vec<String> {
    let mut p = CommandParser::new(cfg);
    let mut out = Vec::new();
    for c in chunks {
        let mut it = c.iter();
        loop {
            match p.parse(&mut it) {
                Ok(Parsed::NeedsMoreData) => break,
                Ok(ev) => out.push(format!("{ev:?}")),
                Err(e) => {
                    let _ = e.response().to_bytes();
                    out.push(format!("{e:?}"));
                }
            }
        }
        assert!(it.as_slice().is_empty());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (head, input) = data.split_at(3);
    let cfg = ParserConfig {
        max_line_length: 16 + usize::from(head[0]) * 4,
        max_append_literal: u64::from(head[1]) * 16,
        max_nonsync_literal: (head[2] & 1 == 1).then_some(u64::from(head[2])),
    };
    let cut = usize::from(head[2]) % (input.len() + 1);
    let whole = run(cfg, &[input]);
    assert_eq!(whole, run(cfg, &[&input[..cut], &input[cut..]]));

    let mut p = CommandParser::new(cfg);
    let mut it = input.iter();
    while !matches!(p.parse_auth_line(&mut it), Ok(AuthLine::NeedsMoreData)) {}
    let mut it = input.iter();
    while !matches!(p.parse_idle_done(&mut it), Ok(IdleLine::NeedsMoreData)) {}
    let _ = imap_proto::mutf7::decode(input);
});
