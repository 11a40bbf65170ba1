//! Test helpers: run a parser over every split of its input, and a tiny
//! pseudo-random generator for the robustness tests.

use std::fmt::Debug;

use crate::{
    BdatReader, Command, CommandError, CommandParser, DataDecoder, DataStatus, ParserConfig, Reply,
    ReplyError, ReplyParser,
};

/// Every way to cut `input` in two (including empty ends) and, when it is
/// at most `max3` bytes long, every way to cut it in three.
pub fn splits(input: &[u8], max3: usize) -> Vec<Vec<&[u8]>> {
    let mut out = vec![vec![input]];
    for i in 0..=input.len() {
        out.push(vec![&input[..i], &input[i..]]);
    }
    if input.len() <= max3 {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                out.push(vec![&input[..i], &input[i..j], &input[j..]]);
            }
        }
    }
    out
}

/// Run `run` over every split of `input`; all must agree with the unsplit
/// run, which is returned.
pub fn same_for_all_splits<T: PartialEq + Debug>(input: &[u8], run: impl Fn(&[&[u8]]) -> T) -> T {
    let want = run(&[input]);
    for chunks in splits(input, 64) {
        let got = run(&chunks);
        assert_eq!(
            got,
            want,
            "input {:?} split as {:?}",
            String::from_utf8_lossy(input),
            chunks_debug(&chunks)
        );
    }
    want
}

fn chunks_debug(chunks: &[&[u8]]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// What a whole server session's input turns into.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Cmd(Result<Command, CommandError>, bool),
    /// DATA content, size, bare LF seen, long lines.
    Data(Vec<u8>, u64, bool, u64),
    /// An unfinished DATA or BDAT at the end of input.
    Partial(Vec<u8>),
    Chunk(Vec<u8>),
}

enum Mode {
    Cmd,
    Data(DataDecoder, Vec<u8>),
    Bdat(BdatReader, Vec<u8>),
}

/// Drive a server over `chunks`: commands, switching to the DATA decoder
/// after DATA and to the chunk reader after BDAT, as smtpd would.
pub fn run_session(cfg: ParserConfig, data_limit: usize, chunks: &[&[u8]]) -> Vec<Event> {
    let mut p = CommandParser::new(cfg);
    let mut ev = Vec::new();
    let mut mode = Mode::Cmd;
    for chunk in chunks {
        let mut it = chunk.iter();
        loop {
            match &mut mode {
                Mode::Cmd => match p.parse(&mut it) {
                    Err(CommandError::NeedsMoreData) => break,
                    r => {
                        match &r {
                            Ok(Command::Data) => {
                                let cfg = crate::DataConfig {
                                    line_limit: data_limit,
                                    ..Default::default()
                                };
                                mode = Mode::Data(DataDecoder::new(cfg), Vec::new());
                            }
                            Ok(Command::Bdat { size, .. }) => {
                                mode = Mode::Bdat(BdatReader::new(*size), Vec::new())
                            }
                            _ => {}
                        }
                        ev.push(Event::Cmd(r, p.bare_lf()));
                    }
                },
                Mode::Data(d, out) => match d.decode(&mut it, out) {
                    DataStatus::NeedsMoreData => break,
                    DataStatus::Done => {
                        ev.push(Event::Data(
                            std::mem::take(out),
                            d.size(),
                            d.bare_lf_seen(),
                            d.long_lines(),
                        ));
                        mode = Mode::Cmd;
                    }
                },
                Mode::Bdat(b, out) => match b.read(&mut it, out) {
                    DataStatus::NeedsMoreData => break,
                    DataStatus::Done => {
                        ev.push(Event::Chunk(std::mem::take(out)));
                        mode = Mode::Cmd;
                    }
                },
            }
        }
    }
    match mode {
        Mode::Data(_, out) | Mode::Bdat(_, out) => ev.push(Event::Partial(out)),
        Mode::Cmd => {}
    }
    ev
}

/// Parse commands only.
pub fn run_commands(
    cfg: ParserConfig,
    chunks: &[&[u8]],
) -> Vec<(Result<Command, CommandError>, bool)> {
    let mut p = CommandParser::new(cfg);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut it = chunk.iter();
        loop {
            match p.parse(&mut it) {
                Err(CommandError::NeedsMoreData) => break,
                r => out.push((r, p.bare_lf())),
            }
        }
    }
    out
}

/// Parse replies only.
pub fn run_replies(
    line_limit: usize,
    max_lines: usize,
    chunks: &[&[u8]],
) -> Vec<Result<Reply, ReplyError>> {
    let mut p = ReplyParser::new(line_limit, max_lines);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut it = chunk.iter();
        loop {
            match p.parse(&mut it) {
                Err(ReplyError::NeedsMoreData) => break,
                r => out.push(r),
            }
        }
    }
    out
}

/// Decode DATA content; returns (message, done, bytes left after the end).
pub fn run_data(chunks: &[&[u8]]) -> (Vec<u8>, bool, Vec<u8>, bool) {
    run_data_with(crate::DataConfig::default(), chunks)
}

/// [`run_data`] with a decoder configuration.
pub fn run_data_with(cfg: crate::DataConfig, chunks: &[&[u8]]) -> (Vec<u8>, bool, Vec<u8>, bool) {
    let mut d = DataDecoder::new(cfg);
    let mut out = Vec::new();
    let mut rest = Vec::new();
    for chunk in chunks {
        let mut it = chunk.iter();
        if d.decode(&mut it, &mut out) == DataStatus::Done {
            rest.extend_from_slice(it.as_slice());
        }
    }
    (out, d.is_done(), rest, d.bare_lf_seen())
}

/// A linear congruential generator (Knuth's MMIX constants).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed)
    }

    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }

    /// A byte string biased towards SMTP-ish material.
    pub fn smtp_bytes(&mut self) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"MAIL FROM:",
            b"RCPT TO:",
            b"<",
            b">",
            b"@",
            b"\r\n",
            b"\n",
            b"\r",
            b".",
            b"\r\n.\r\n",
            b" ",
            b"\"",
            b"\\",
            b"BDAT ",
            b"DATA",
            b"EHLO x",
            b"SIZE=",
            b"NOTIFY=",
            b"ORCPT=rfc822;",
            b"+2B",
            b"250-",
            b"250 ",
            b"2.0.0",
            b"[IPv6:",
            b"]",
            b":",
            b",",
            b"\0",
            b"\xff",
            b"\xc3\xa9",
            b"AUTH PLAIN",
            b"x",
            b"99999999999999999999",
        ];
        let n = self.below(40);
        let mut v = Vec::new();
        for _ in 0..n {
            if self.below(4) == 0 {
                v.push(self.next() as u8);
            } else {
                v.extend_from_slice(PIECES[self.below(PIECES.len())]);
            }
        }
        v
    }
}
