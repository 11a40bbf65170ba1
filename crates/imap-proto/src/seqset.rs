//! Sequence sets (RFC 3501 §9 `sequence-set`, RFC 5182 `$`): parsed
//! form, resolution against a mailbox, and compression of a list of
//! numbers into the shortest `1:3,5` form.

use std::fmt;

/// One end of a range: a number (never 0) or `*`, the largest number in
/// use (the last message's sequence number or UID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNumber {
    Value(u32),
    Star,
}

impl SeqNumber {
    /// The number, with `*` standing for `largest`.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Value(n) => n,
            SeqNumber::Star => largest,
        }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNumber::Value(n) => write!(f, "{n}"),
            SeqNumber::Star => f.write_str("*"),
        }
    }
}

/// `n` or `a:b`; `a:b` and `b:a` mean the same (RFC 3501 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqRange {
    pub start: SeqNumber,
    pub end: SeqNumber,
}

impl SeqRange {
    pub fn single(n: SeqNumber) -> SeqRange {
        SeqRange { start: n, end: n }
    }

    /// The range as `(low, high)`, `*` standing for `largest`.
    pub fn resolve(self, largest: u32) -> (u32, u32) {
        let a = self.start.resolve(largest);
        let b = self.end.resolve(largest);
        (a.min(b), a.max(b))
    }
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}:{}", self.start, self.end)
        }
    }
}

/// A sequence set as sent: comma-separated ranges, or `$` (the saved
/// search result of RFC 5182, which the session substitutes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SequenceSet {
    Ranges(Vec<SeqRange>),
    Saved,
}

impl SequenceSet {
    /// A set of one number.
    pub fn single(n: u32) -> SequenceSet {
        SequenceSet::Ranges(vec![SeqRange::single(SeqNumber::Value(n))])
    }

    /// The shortest set holding exactly `ids` (in any order, duplicates
    /// and zeros ignored), e.g. `[5, 1, 2, 3]` → `1:3,5`. Empty for no ids.
    pub fn from_ids(ids: &[u32]) -> SequenceSet {
        let mut v: Vec<u32> = ids.iter().copied().filter(|&n| n != 0).collect();
        v.sort_unstable();
        v.dedup();
        let mut ranges: Vec<SeqRange> = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let start = v[i];
            let mut end = start;
            while i + 1 < v.len() && v[i + 1] == end + 1 {
                i += 1;
                end = v[i];
            }
            ranges.push(SeqRange {
                start: SeqNumber::Value(start),
                end: SeqNumber::Value(end),
            });
            i += 1;
        }
        SequenceSet::Ranges(ranges)
    }

    pub fn is_saved(&self) -> bool {
        matches!(self, SequenceSet::Saved)
    }

    /// Whether `n` is in the set, `*` standing for `largest`. Always false
    /// for `$`: substitute the saved result first.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        match self {
            SequenceSet::Saved => false,
            SequenceSet::Ranges(r) => r.iter().any(|r| {
                let (a, b) = r.resolve(largest);
                a <= n && n <= b
            }),
        }
    }

    /// The set as sorted, merged, inclusive `(low, high)` ranges, `*`
    /// standing for `largest`; numbers above `largest` are kept (for UIDs
    /// they are simply not found). Empty for `$`.
    pub fn resolve(&self, largest: u32) -> Vec<(u32, u32)> {
        let SequenceSet::Ranges(r) = self else {
            return Vec::new();
        };
        let mut v: Vec<(u32, u32)> = r.iter().map(|r| r.resolve(largest)).collect();
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// Every number in the set, ascending and without duplicates, `*`
    /// standing for `largest` and nothing above `largest` (the
    /// sequence-number reading; for UIDs, intersect with the mailbox's).
    pub fn iter_bounded(&self, largest: u32) -> impl Iterator<Item = u32> + '_ {
        self.resolve(largest)
            .into_iter()
            .filter(move |&(a, _)| a <= largest)
            .flat_map(move |(a, b)| a.max(1)..=b.min(largest))
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceSet::Saved => f.write_str("$"),
            SequenceSet::Ranges(r) => {
                for (i, r) in r.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{r}")?;
                }
                Ok(())
            }
        }
    }
}

/// `ids` compressed into a sequence-set string, e.g. `[1, 2, 3, 5]` →
/// `"1:3,5"` (for `[APPENDUID]`, `[COPYUID]`, `VANISHED`, `ESEARCH ALL`).
pub fn compress_ids(ids: &[u32]) -> String {
    SequenceSet::from_ids(ids).to_string()
}
