//! The aliases(5) format, as Postfix's postalias(1) reads it to build an
//! alias database and as local(8) reads an alias value, an `:include:` file
//! or a `.forward` file.
//!
//! * [`parse`] / [`parse_each`]: the entries of an alias source file. Each
//!   logical line (see [`crate::lines`]: comments, blank lines and
//!   continuation lines) is `name: value`, tokenized as an RFC 822 address
//!   list (Postfix's tok822_scan): the first `:` outside quotes ends the
//!   name. The name is stored unquoted (`"Quoted Name": x` → `quoted name`)
//!   and folded to lowercase; the value is stored in Postfix's external form
//!   (tokens joined again, `,` followed by one space, quotes kept):
//!   `a,b,  c` → `a, b, c`. A line without a name, a value or a colon, or
//!   with a comma in the name, is skipped with `FILE, line N: need
//!   name:value pair`; a name with `@` or `%` with `FILE, line N: name must
//!   be local`.
//! * [`expand_value`]: the targets of one alias value, parsed as local(8)
//!   does (tok822_parse: commas and white space separate addresses, double
//!   quotes keep spaces, `\` escapes the next character, `(comments)` and
//!   `Phrase <addr>` forms are understood): [`AliasTarget`].
//! * [`read_include`] / [`parse_include`]: an `:include:` file (or a
//!   `.forward` file): one or more targets a line, lines starting with `#`
//!   skipped, with local(8)'s checks on the file.
//!
//! The tokenizer and parser are a port of Postfix's tok822 module, so that
//! the same text gives the same addresses here and there.

use crate::lines::logical_lines;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One destination in an alias value, an `:include:` file or a `.forward`
/// file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasTarget {
    /// A mail address in internal (unquoted) form: `user`, `user@domain`,
    /// `a b@example.com` (from `"a b"@example.com`).
    Address(String),
    /// `/file/name`: append the message to the file.
    File(PathBuf),
    /// `|command`: pipe the message into the command (the text after the
    /// `|`, quotes removed).
    Command(String),
    /// `:include:/file/name`: deliver to the targets listed in the file
    /// (the path as written; it may be relative, which [`read_include`]
    /// refuses).
    Include(PathBuf),
    /// `~/file/name` (or `~user/…`, which local(8) rejects as "bad home
    /// directory syntax"): a file under the recipient's home directory. The
    /// whole text, starting with `~`.
    HomeFile(String),
}

impl AliasTarget {
    /// Classifies one address text (internal form) as local(8)'s
    /// deliver_token() does: `/`, `~`, `|`, `:include:` (any case), else
    /// an address.
    pub fn classify(text: &str) -> AliasTarget {
        const INCLUDE: &str = ":include:";
        if text.starts_with('/') {
            AliasTarget::File(PathBuf::from(text))
        } else if text.starts_with('~') {
            AliasTarget::HomeFile(text.to_string())
        } else if let Some(cmd) = text.strip_prefix('|') {
            AliasTarget::Command(cmd.to_string())
        } else if text.len() >= INCLUDE.len()
            && text.as_bytes()[..INCLUDE.len()].eq_ignore_ascii_case(INCLUDE.as_bytes())
        {
            // The first nine bytes are ASCII, so this is a char boundary.
            AliasTarget::Include(PathBuf::from(&text[INCLUDE.len()..]))
        } else {
            AliasTarget::Address(text.to_string())
        }
    }
}

impl fmt::Display for AliasTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasTarget::Address(a) => f.write_str(a),
            AliasTarget::File(p) => write!(f, "{}", p.display()),
            AliasTarget::Command(c) => write!(f, "|{c}"),
            AliasTarget::Include(p) => write!(f, ":include:{}", p.display()),
            AliasTarget::HomeFile(h) => f.write_str(h),
        }
    }
}

/// One entry of an alias source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, unquoted, lowercased when folding.
    pub name: String,
    /// The value in Postfix's stored (external) form.
    pub value: String,
    /// The physical line the entry starts on.
    pub line: usize,
}

/// Why a logical line is not an alias entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// No colon, nothing before or after it, or a comma in the name.
    NeedPair,
    /// The name has an `@` or `%`: only local names may be aliased.
    NotLocal,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineError::NeedPair => "need name:value pair",
            LineError::NotLocal => "name must be local",
        })
    }
}

impl std::error::Error for LineError {}

/// Splits one logical line into (name, value), the name unquoted and not
/// yet folded, the value in stored form. `Ok(None)`: the line holds no
/// tokens at all.
pub fn parse_line(line: &str) -> Result<Option<(String, String)>, LineError> {
    let mut t = tok822::Toks::default();
    let Some((head, _)) = t.scan(line.as_bytes()) else {
        return Ok(None);
    };
    let colon = t
        .find_type(Some(head), tok822::Ty::Op(b':'))
        .ok_or(LineError::NeedPair)?;
    if t.prev(colon).is_none()
        || t.next(colon).is_none()
        || t.rfind_type(Some(colon), tok822::Ty::Op(b',')).is_some()
    {
        return Err(LineError::NeedPair);
    }
    if t.rfind_type(Some(colon), tok822::Ty::Op(b'@')).is_some()
        || t.rfind_type(Some(colon), tok822::Ty::Op(b'%')).is_some()
    {
        return Err(LineError::NotLocal);
    }
    let value_head = t.cut_after(colon);
    t.unlink(colon);
    let mut key = Vec::new();
    t.internalize(Some(head), &mut key);
    let mut value = Vec::new();
    t.externalize(value_head, &mut value);
    Ok(Some((
        String::from_utf8_lossy(&key).into_owned(),
        String::from_utf8_lossy(&value).into_owned(),
    )))
}

/// Parses the alias source `text` (the contents of the file `name`, which
/// only labels warnings) into entries, in file order, duplicates kept. Bad
/// lines are warned about (`name, line N: …`) and skipped.
pub fn parse(text: &str, name: &str, fold: bool, warn: &dyn Fn(&str)) -> Vec<Entry> {
    let mut out = Vec::new();
    parse_each(text, name, fold, warn, &mut |e| out.push(e));
    out
}

/// As [`parse`], handing each entry to `each` as soon as it is read, so that
/// the caller's own warnings (duplicates) come in line order.
pub fn parse_each(
    text: &str,
    name: &str,
    fold: bool,
    warn: &dyn Fn(&str),
    each: &mut dyn FnMut(Entry),
) {
    for l in logical_lines(text, name, warn) {
        match parse_line(&l.text) {
            Ok(Some((key, value))) => each(Entry {
                name: if fold { key.to_lowercase() } else { key },
                value,
                line: l.number,
            }),
            Ok(None) => {}
            Err(e) => warn(&format!("{name}, line {}: {e}", l.number)),
        }
    }
}

/// The targets of one alias value (or one line of a `.forward` or
/// `:include:` file), in order, as local(8)'s deliver_token_string() finds
/// them. Text that holds no address (`<>`, a lone comment) gives none.
pub fn expand_value(value: &str) -> Vec<AliasTarget> {
    expand_bytes(value.as_bytes())
}

fn expand_bytes(value: &[u8]) -> Vec<AliasTarget> {
    let mut t = tok822::Toks::default();
    let mut out = Vec::new();
    let mut tp = t.parse(value);
    while let Some(id) = tp {
        if t.ty(id) == tok822::Ty::Addr {
            let mut buf = Vec::new();
            t.internalize(t.head(id), &mut buf);
            out.push(AliasTarget::classify(&String::from_utf8_lossy(&buf)));
        }
        tp = t.next(id);
    }
    out
}

/// Postfix's line_length_limit: local(8) reads `:include:` and `.forward`
/// files in records of at most this many bytes.
pub const LINE_LENGTH_LIMIT: usize = 2048;

/// The targets listed in the text of an `:include:` or `.forward` file:
/// each line (a line longer than [`LINE_LENGTH_LIMIT`] is cut into records
/// of that size, as local(8) does) holds zero or more targets; a record
/// whose first character is `#` is a comment. A line that starts with
/// white space needs no special treatment: its targets simply add to the
/// list, so continuation lines work as in an alias file.
pub fn parse_include(text: &[u8]) -> Vec<AliasTarget> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        for record in line.chunks(LINE_LENGTH_LIMIT) {
            if record.first() != Some(&b'#') {
                out.extend(expand_bytes(record));
            }
        }
    }
    out
}

/// An `:include:` file that passed local(8)'s checks, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeFile {
    pub path: PathBuf,
    pub targets: Vec<AliasTarget>,
    /// The owner of the file. When the alias that names the file belongs
    /// to root, local(8) delivers to the file's `|command` and `/file`
    /// targets with the rights of this user (unless it is root).
    pub uid: u32,
    pub gid: u32,
}

/// Why an `:include:` file cannot be used. Each is a mail system
/// configuration error (local(8) bounces with 5.3.5), except a read
/// error, which may go away (defer).
#[derive(Debug)]
pub enum IncludeError {
    /// The path does not start with `/`.
    RelativePath(PathBuf),
    /// stat(2) failed (missing file, no permission).
    Stat { path: PathBuf, source: io::Error },
    /// A directory, FIFO, device…
    NotRegular(PathBuf),
    /// Anyone may write to it.
    WorldWritable(PathBuf),
    /// open(2) failed.
    Open { path: PathBuf, source: io::Error },
    /// Reading failed.
    Read { path: PathBuf, source: io::Error },
}

impl IncludeError {
    /// True for a configuration problem (bounce), false for one that may
    /// go away (defer).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, IncludeError::Read { .. })
    }

    /// The enhanced status code local(8) reports.
    pub fn dsn(&self) -> &'static str {
        if self.is_permanent() {
            "5.3.5"
        } else {
            "4.3.0"
        }
    }
}

impl fmt::Display for IncludeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::error::io_text;
        match self {
            IncludeError::RelativePath(p) => {
                write!(f, ":include:{} uses a relative path", p.display())
            }
            IncludeError::Stat { path, source } => write!(
                f,
                "unable to lookup :include: file {}: {}",
                path.display(),
                io_text(source)
            ),
            IncludeError::NotRegular(p) => {
                write!(f, ":include: file {} is not a regular file", p.display())
            }
            IncludeError::WorldWritable(p) => {
                write!(f, ":include: file {} is world writable", p.display())
            }
            IncludeError::Open { path, source } => write!(
                f,
                "cannot open include file {}: {}",
                path.display(),
                io_text(source)
            ),
            IncludeError::Read { path, source } => {
                write!(f, "read {}: {}", path.display(), io_text(source))
            }
        }
    }
}

impl std::error::Error for IncludeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IncludeError::Stat { source, .. }
            | IncludeError::Open { source, .. }
            | IncludeError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Reads an `:include:` file with local(8)'s checks: an absolute path, a
/// regular file (symbolic links are followed), not world-writable. The
/// file is opened with the rights of the calling process (local switches
/// to the recipient's, or the include file owner's, before it calls this)
/// and checked again once open, so that a file swapped in between the
/// check and the open is refused too.
pub fn read_include(path: &Path) -> Result<IncludeFile, IncludeError> {
    if !path.is_absolute() {
        return Err(IncludeError::RelativePath(path.to_path_buf()));
    }
    let check = |m: &std::fs::Metadata| -> Result<(), IncludeError> {
        if !m.file_type().is_file() {
            return Err(IncludeError::NotRegular(path.to_path_buf()));
        }
        if m.mode() & 0o002 != 0 {
            return Err(IncludeError::WorldWritable(path.to_path_buf()));
        }
        Ok(())
    };
    let before = std::fs::metadata(path).map_err(|source| IncludeError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    check(&before)?;
    let mut f = File::open(path).map_err(|source| IncludeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let read_err = |source| IncludeError::Read {
        path: path.to_path_buf(),
        source,
    };
    let m = f.metadata().map_err(read_err)?;
    // Judge the file that was opened too: it may have been replaced
    // between the stat and the open.
    check(&m)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(read_err)?;
    Ok(IncludeFile {
        path: path.to_path_buf(),
        targets: parse_include(&bytes),
        uid: m.uid(),
        gid: m.gid(),
    })
}

/// A port of Postfix's tok822 module (tok822_scan, tok822_parse,
/// tok822_internalize, tok822_externalize and the list operations they
/// use): RFC 822 tokens in a doubly linked list, with address nodes that
/// own sub-lists. Nodes live in a vector and link by index.
mod tok822 {
    /// Postfix's tok822_opchar: the RFC 822 specials plus `|`, `%`, `!`.
    const OPCHARS: &[u8] = b"|%!()<>@,;:\\\".[]";

    fn is_opchar(c: u8) -> bool {
        OPCHARS.contains(&c)
    }

    fn is_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\r' | b'\n')
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Ty {
        /// The parser's end markers (type 0 in Postfix).
        Sentinel,
        /// A one-character operator.
        Op(u8),
        Atom,
        QString,
        Comment,
        DomLit,
        Addr,
        StartGrp,
    }

    impl Ty {
        fn non_operator(self) -> bool {
            matches!(
                self,
                Ty::Atom | Ty::QString | Ty::Comment | Ty::DomLit | Ty::Addr
            )
        }
    }

    type Id = usize;

    #[derive(Debug)]
    struct Tok {
        ty: Ty,
        text: Vec<u8>,
        prev: Option<Id>,
        next: Option<Id>,
        head: Option<Id>,
        tail: Option<Id>,
        owner: Option<Id>,
    }

    #[derive(Debug, Default)]
    pub struct Toks {
        t: Vec<Tok>,
    }

    const DO_WORD: u8 = 1;
    const DO_GROUP: u8 = 2;

    impl Toks {
        fn alloc(&mut self, ty: Ty) -> Id {
            self.t.push(Tok {
                ty,
                text: Vec::new(),
                prev: None,
                next: None,
                head: None,
                tail: None,
                owner: None,
            });
            self.t.len() - 1
        }

        pub fn ty(&self, id: Id) -> Ty {
            self.t[id].ty
        }

        pub fn next(&self, id: Id) -> Option<Id> {
            self.t[id].next
        }

        pub fn prev(&self, id: Id) -> Option<Id> {
            self.t[id].prev
        }

        pub fn head(&self, id: Id) -> Option<Id> {
            self.t[id].head
        }

        /// Sets the owner of `from` and every token after it; returns the last.
        fn set_owner_to_end(&mut self, from: Id, owner: Option<Id>) -> Id {
            let mut t = from;
            self.t[t].owner = owner;
            while let Some(n) = self.t[t].next {
                t = n;
                self.t[t].owner = owner;
            }
            t
        }

        /// tok822_append: inserts the list `t2` after `t1`; returns its end.
        fn append(&mut self, t1: Id, t2: Id) -> Id {
            let next = self.t[t1].next;
            self.t[t1].next = Some(t2);
            self.t[t2].prev = Some(t1);
            let owner = self.t[t1].owner;
            let last = self.set_owner_to_end(t2, owner);
            self.t[last].next = next;
            if let Some(n) = next {
                self.t[n].prev = Some(last);
            }
            last
        }

        /// tok822_prepend: inserts the list `t2` before `t1`; returns its end.
        fn prepend(&mut self, t1: Id, t2: Id) -> Id {
            let prev = self.t[t1].prev;
            if let Some(p) = prev {
                self.t[p].next = Some(t2);
            }
            self.t[t2].prev = prev;
            let owner = self.t[t1].owner;
            let last = self.set_owner_to_end(t2, owner);
            self.t[last].next = Some(t1);
            self.t[t1].prev = Some(last);
            last
        }

        /// tok822_cut_before: splits the list before `tp`.
        fn cut_before(&mut self, tp: Id) -> Option<Id> {
            let prev = self.t[tp].prev;
            if let Some(p) = prev {
                self.t[p].next = None;
                self.t[tp].prev = None;
            }
            prev
        }

        /// tok822_cut_after: splits the list after `tp`; returns the rest.
        pub fn cut_after(&mut self, tp: Id) -> Option<Id> {
            let next = self.t[tp].next;
            if let Some(n) = next {
                self.t[n].prev = None;
                self.t[tp].next = None;
            }
            next
        }

        /// tok822_unlink: takes `tp` out of its list; returns its predecessor.
        pub fn unlink(&mut self, tp: Id) -> Option<Id> {
            let prev = self.t[tp].prev;
            let next = self.t[tp].next;
            if let Some(p) = prev {
                self.t[p].next = next;
            }
            if let Some(n) = next {
                self.t[n].prev = prev;
            }
            self.t[tp].prev = None;
            self.t[tp].next = None;
            prev
        }

        /// tok822_sub_append: appends the list `t2` to the sub-list of `t1`.
        fn sub_append(&mut self, t1: Id, t2: Id) -> Id {
            let last = match self.t[t1].tail {
                Some(tail) if self.t[t1].head.is_some() => self.append(tail, t2),
                _ => {
                    self.t[t1].head = Some(t2);
                    self.set_owner_to_end(t2, Some(t1))
                }
            };
            self.t[t1].tail = Some(last);
            last
        }

        /// tok822_group: moves the tokens between `left` and `right` under a
        /// new address node, optionally inserting an operator (a comma)
        /// after `left`. Returns `left`.
        fn group(&mut self, left: Id, right: Id, sync: Option<u8>) -> Id {
            if left != right {
                if let Some(first) = self.t[left].next {
                    if first != right {
                        self.cut_before(right);
                        self.cut_before(first);
                        let g = self.alloc(Ty::Addr);
                        self.sub_append(g, first);
                        self.append(left, g);
                        self.append(g, right);
                        if let Some(c) = sync {
                            let s = self.alloc(Ty::Op(c));
                            self.append(left, s);
                        }
                    }
                }
            }
            left
        }

        /// Postfix's COLLECT macro: copies bytes while `cond` holds, `\`
        /// escaping the next byte, white space turned into blanks.
        fn collect(&mut self, id: Id, s: &[u8], i: &mut usize, cond: impl Fn(u8) -> bool) {
            while *i < s.len() {
                let mut c = s[*i];
                if c == b'\\' {
                    *i += 1;
                    if *i >= s.len() {
                        break;
                    }
                    c = s[*i];
                } else if !cond(c) {
                    break;
                }
                self.t[id].text.push(if is_space(c) { b' ' } else { c });
                *i += 1;
            }
        }

        /// tok822_comment: a comment, nested parentheses and all, kept in
        /// external form.
        fn comment(&mut self, id: Id, s: &[u8], i: &mut usize) {
            let text = &mut self.t[id].text;
            text.push(b'(');
            let mut level = 1;
            while *i < s.len() {
                let ch = s[*i];
                text.push(ch);
                *i += 1;
                if ch == b'(' {
                    level += 1;
                } else if ch == b')' {
                    level -= 1;
                    if level == 0 {
                        break;
                    }
                } else if ch == b'\\' {
                    if *i >= s.len() {
                        break;
                    }
                    text.push(s[*i]);
                    *i += 1;
                }
            }
        }

        /// tok822_scan: the token list of `s`, as (first, last). The text
        /// ends at a NUL byte, as a C string does.
        pub fn scan(&mut self, s: &[u8]) -> Option<(Id, Id)> {
            let s = match s.iter().position(|&b| b == 0) {
                Some(n) => &s[..n],
                None => s,
            };
            let mut head: Option<Id> = None;
            let mut tail: Option<Id> = None;
            let mut i = 0;
            while i < s.len() {
                let ch = s[i];
                i += 1;
                if is_space(ch) {
                    continue;
                }
                let tp = if ch == b'(' {
                    let tp = self.alloc(Ty::Comment);
                    self.comment(tp, s, &mut i);
                    tp
                } else if ch == b'[' {
                    let tp = self.alloc(Ty::DomLit);
                    self.collect(tp, s, &mut i, |c| c != b']');
                    if i < s.len() {
                        i += 1;
                    }
                    tp
                } else if ch == b'"' {
                    let tp = self.alloc(Ty::QString);
                    self.collect(tp, s, &mut i, |c| c != b'"');
                    if i < s.len() {
                        i += 1;
                    }
                    tp
                } else if ch != b'\\' && is_opchar(ch) {
                    self.alloc(Ty::Op(ch))
                } else {
                    let tp = self.alloc(Ty::Atom);
                    i -= 1;
                    self.collect(tp, s, &mut i, |c| !is_space(c) && !is_opchar(c));
                    // tok822_quote_atom: an atom that needs quoting is a
                    // quoted string.
                    if self.t[tp]
                        .text
                        .iter()
                        .any(|&c| c <= b' ' || c == 0x7f || is_opchar(c))
                    {
                        self.t[tp].ty = Ty::QString;
                    }
                    tp
                };
                match tail {
                    None => {
                        head = Some(tp);
                        tail = Some(tp);
                    }
                    Some(t) => tail = Some(self.append(t, tp)),
                }
            }
            Some((head?, tail?))
        }

        fn glue(&mut self, left: Id, right: Id) {
            self.t[left].next = Some(right);
            self.t[right].prev = Some(left);
        }

        fn prev_of(&self, id: Id) -> Id {
            // Every token inside the parser's list has a predecessor: the
            // head sentinel at worst, where the loops stop.
            self.t[id].prev.unwrap_or(id)
        }

        /// Moves comment `tp` to just before `right`; returns (new right,
        /// the token before where `tp` was).
        fn move_comment(&mut self, tp: Id, right: Id) -> (Id, Id) {
            let prev = self.unlink(tp);
            let right = self.prepend(right, tp);
            (right, prev.unwrap_or(tp))
        }

        /// tok822_parse: the address tree of `s`. Top-level [`Ty::Addr`]
        /// nodes are the addresses; everything else (phrases, comments,
        /// commas, group names) is kept around them.
        pub fn parse(&mut self, s: &[u8]) -> Option<Id> {
            let (first, last) = self.scan(s)?;
            let head = self.alloc(Ty::Sentinel);
            let tail = self.alloc(Ty::Sentinel);
            self.glue(head, first);
            self.glue(last, tail);

            let mut state = DO_WORD;
            let mut right = tail;
            let mut tp = self.prev_of(tail);
            while self.ty(tp) != Ty::Sentinel {
                match self.ty(tp) {
                    Ty::Comment => {
                        (right, tp) = self.move_comment(tp, right);
                        continue;
                    }
                    Ty::Op(b';') => {
                        right = self.group(tp, right, Some(b','));
                        state = DO_GROUP | DO_WORD;
                    }
                    Ty::Op(b':') if state & DO_GROUP != 0 => {
                        self.t[tp].ty = Ty::StartGrp;
                        self.group(tp, right, None);
                        while self.ty(tp) != Ty::Sentinel && self.ty(tp) != Ty::Op(b',') {
                            tp = self.prev_of(tp);
                        }
                        right = tp;
                        continue;
                    }
                    Ty::Op(b'>') => {
                        right = self.group(tp, right, Some(b','));
                        while self.ty(tp) != Ty::Sentinel && self.ty(tp) != Ty::Op(b'<') {
                            if self.ty(tp) == Ty::Comment {
                                (right, tp) = self.move_comment(tp, right);
                                continue;
                            }
                            tp = self.prev_of(tp);
                        }
                        self.group(tp, right, None);
                        while self.ty(tp) != Ty::Sentinel
                            && !matches!(self.ty(tp), Ty::Op(b'>' | b';' | b',' | b':'))
                        {
                            tp = self.prev_of(tp);
                        }
                        right = tp;
                        state |= DO_WORD;
                        continue;
                    }
                    Ty::Atom | Ty::QString | Ty::DomLit => {
                        if state & DO_WORD == 0 {
                            let left = self.group(tp, right, Some(b','));
                            right = self.t[left].next.unwrap_or(right);
                        }
                        state &= !DO_WORD;
                    }
                    Ty::Op(b',') => {
                        right = self.group(tp, right, None);
                        state |= DO_WORD;
                    }
                    _ => state |= DO_WORD,
                }
                tp = self.prev_of(tp);
            }
            self.group(tp, right, None);

            let result = self.t[head].next.filter(|&n| n != tail);
            if let Some(n) = self.t[head].next {
                self.cut_before(n);
            }
            self.cut_before(tail);
            result
        }

        /// tok822_find_type: the first token of type `ty` from `head` on.
        pub fn find_type(&self, head: Option<Id>, ty: Ty) -> Option<Id> {
            let mut tp = head;
            while let Some(id) = tp {
                if self.ty(id) == ty {
                    return Some(id);
                }
                tp = self.next(id);
            }
            None
        }

        /// tok822_rfind_type: the first token of type `ty` from `tail` back.
        pub fn rfind_type(&self, tail: Option<Id>, ty: Ty) -> Option<Id> {
            let mut tp = tail;
            while let Some(id) = tp {
                if self.ty(id) == ty {
                    return Some(id);
                }
                tp = self.prev(id);
            }
            None
        }

        /// tok822_append_space: whether a blank goes after `id`.
        fn append_space(&self, id: Id) -> bool {
            let tok = &self.t[id];
            let Some(next) = tok.next else {
                return false;
            };
            if tok.owner.is_some() {
                return false;
            }
            let next_ty = self.t[next].ty;
            if tok.ty == Ty::Op(b',') || tok.ty == Ty::StartGrp || next_ty == Ty::Op(b'<') {
                return true;
            }
            tok.ty.non_operator() && next_ty.non_operator()
        }

        /// tok822_internalize: the list as text, without quoting.
        pub fn internalize(&self, tree: Option<Id>, out: &mut Vec<u8>) {
            let mut tp = tree;
            while let Some(id) = tp {
                let tok = &self.t[id];
                match tok.ty {
                    Ty::Addr => self.internalize(tok.head, out),
                    Ty::Comment | Ty::Atom | Ty::QString => out.extend_from_slice(&tok.text),
                    Ty::DomLit => {
                        out.push(b'[');
                        out.extend_from_slice(&tok.text);
                        out.push(b']');
                    }
                    Ty::StartGrp => out.push(b':'),
                    Ty::Op(c) => out.push(c),
                    Ty::Sentinel => {}
                }
                if self.append_space(id) {
                    out.push(b' ');
                }
                tp = tok.next;
            }
        }

        /// tok822_externalize of a flat token list (as tok822_scan makes
        /// it): quoted strings and domain literals quoted again. (Address
        /// nodes, which only tok822_parse makes, are written unquoted.)
        pub fn externalize(&self, tree: Option<Id>, out: &mut Vec<u8>) {
            let copy_quoted = |out: &mut Vec<u8>, text: &[u8], set: &[u8]| {
                for &c in text {
                    if set.contains(&c) {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
            };
            let mut tp = tree;
            while let Some(id) = tp {
                let tok = &self.t[id];
                match tok.ty {
                    Ty::Addr => self.internalize(tok.head, out),
                    Ty::Atom | Ty::Comment => out.extend_from_slice(&tok.text),
                    Ty::QString => {
                        out.push(b'"');
                        copy_quoted(out, &tok.text, b"\"\\\r\n");
                        out.push(b'"');
                    }
                    Ty::DomLit => {
                        out.push(b'[');
                        copy_quoted(out, &tok.text, b"\\\r\n");
                        out.push(b']');
                    }
                    Ty::StartGrp => out.push(b':'),
                    Ty::Op(c) => out.push(c),
                    Ty::Sentinel => {}
                }
                if self.append_space(id) {
                    out.push(b' ');
                }
                tp = tok.next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn a(s: &str) -> AliasTarget {
        AliasTarget::Address(s.into())
    }

    fn entries(text: &str) -> (Vec<(String, String, usize)>, Vec<String>) {
        let warnings = RefCell::new(Vec::new());
        let w = |s: &str| warnings.borrow_mut().push(s.to_string());
        let e = parse(text, "/etc/aliases", true, &w)
            .into_iter()
            .map(|e| (e.name, e.value, e.line))
            .collect();
        (e, warnings.into_inner())
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        entries(text)
            .0
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    fn one(line: &str) -> (String, String) {
        match parse_line(line) {
            Ok(Some(kv)) => kv,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn values_are_stored_as_postfix_stores_them() {
        // Every case checked against Postfix 3.7's postalias -s.
        let cases = [
            ("Dream: root", "Dream", "root"),
            ("multi: a, b,c   d", "multi", "a, b, c d"),
            ("\"Quoted Name\": q", "Quoted Name", "q"),
            ("\"with:colon\": wc", "with:colon", "wc"),
            (
                "pipe: \"|/usr/bin/cmd arg1 arg2\"",
                "pipe",
                "\"|/usr/bin/cmd arg1 arg2\"",
            ),
            ("pipe2: |/bin/true", "pipe2", "|/bin/true"),
            ("pipe3: |\"/bin/echo hi\"", "pipe3", "|\"/bin/echo hi\""),
            ("file: /var/log/x", "file", "/var/log/x"),
            ("inc: :include:/etc/foo", "inc", ":include:/etc/foo"),
            ("quoted: \"a b\"@x, 'c'", "quoted", "\"a b\"@x, 'c'"),
            (
                "remote: user@example.com, <other@example.com>, Joe <joe@x.org>",
                "remote",
                "user@example.com, <other@example.com>, Joe <joe@x.org>",
            ),
            (
                "comment: a (comment here), b",
                "comment",
                "a (comment here), b",
            ),
            ("esc: a\\,b, c\\ d", "esc", "\"a,b\", \"c d\""),
            ("8bit: jörg", "8bit", "jörg"),
            ("grp: list: a, b;", "grp", "list:a, b;"),
            ("two words: x", "two words", "x"),
            ("name (cmt): y", "name (cmt)", "y"),
            ("spc : z", "spc", "z"),
            ("\"@\": at", "@", "at"),
            ("unbal: \"abc, d", "unbal", "\"abc, d\""),
            ("lit: u@[1.2.3.4]", "lit", "u@[1.2.3.4]"),
            ("bs: a\\", "bs", "a"),
            ("angle: <>", "angle", "<>"),
            ("onlycmt: (c)", "onlycmt", "(c)"),
            ("sq: a\"b\"c", "sq", "a \"b\" c"),
            ("dots: a.b. c", "dots", "a.b.c"),
            ("q2: \"\\\"x\\\"\"", "q2", "\"\\\"x\\\"\""),
            ("semi: a;b", "semi", "a;b"),
            ("bang: a!b", "bang", "a!b"),
            ("pp: \"|cmd \\\"q\\\" x\"", "pp", "\"|cmd \\\"q\\\" x\""),
            ("crlf: a, b\r", "crlf", "a, b"),
            ("tab:\ta\tb leading: ws", "tab", "a b leading:ws"),
            ("\"x\\\"y\": z", "x\"y", "z"),
        ];
        for (line, k, v) in cases {
            assert_eq!(one(line), (k.to_string(), v.to_string()), "{line:?}");
        }
    }

    #[test]
    fn bad_lines_are_named_with_file_and_line() {
        let (e, w) = entries(
            "# comment\n\nDup: first\nDUP: second\nno colon here\nbad@x: y\n\
             a,b: z\nempty:\n: novalue\npct%x: y\n\"unb: x\nok: a,\n   b\n  # inner\n  , c\n",
        );
        assert_eq!(
            e,
            [
                ("dup".to_string(), "first".to_string(), 3),
                ("dup".to_string(), "second".to_string(), 4),
                ("ok".to_string(), "a, b, c".to_string(), 12),
            ]
        );
        assert_eq!(
            w,
            [
                "/etc/aliases, line 5: need name:value pair",
                "/etc/aliases, line 6: name must be local",
                "/etc/aliases, line 7: need name:value pair",
                "/etc/aliases, line 8: need name:value pair",
                "/etc/aliases, line 9: need name:value pair",
                "/etc/aliases, line 10: name must be local",
                "/etc/aliases, line 11: need name:value pair",
            ]
        );
        let (e, w) = entries("  lead: x\nok: a\n\\\n");
        assert_eq!(e, [("ok".to_string(), "a".to_string(), 2)]);
        assert_eq!(
            w,
            [
                "/etc/aliases: logical line must not start with whitespace: \"  lead: x\"",
                "/etc/aliases, line 3: need name:value pair",
            ]
        );
        assert_eq!(parse_line("   ").unwrap(), None);
        assert_eq!(parse_line("x").unwrap_err(), LineError::NeedPair);
        assert_eq!(
            parse_line("x@y: z").unwrap_err().to_string(),
            "name must be local"
        );
    }

    #[test]
    fn folding_is_optional() {
        let e = parse("MiXed: Value@Example.COM\n", "f", false, &|_| {});
        assert_eq!(e[0].name, "MiXed");
        assert_eq!(e[0].value, "Value@Example.COM");
        assert_eq!(pairs("MiXed: V")[0].0, "mixed");
    }

    #[test]
    fn expansion_finds_each_kind_of_target() {
        use AliasTarget::*;
        assert_eq!(
            expand_value(
                "root, user@example.com /var/mail/log, \"|/usr/bin/cmd arg1 arg2\", \
                 :include:/etc/mail/list, ~/mbox"
            ),
            [
                a("root"),
                a("user@example.com"),
                File("/var/mail/log".into()),
                Command("/usr/bin/cmd arg1 arg2".into()),
                Include("/etc/mail/list".into()),
                HomeFile("~/mbox".into()),
            ]
        );
        // An unquoted command is split at white space, as in Postfix.
        assert_eq!(expand_value("|exit 67"), [Command("exit".into()), a("67")]);
        assert_eq!(
            expand_value("|\"/bin/echo hi\", |/bin/true"),
            [Command("/bin/echo hi".into()), Command("/bin/true".into())]
        );
        // The stored form of a value gives the same targets as its source.
        let (_, stored) = one("x: a\\,b, c\\ d, \"|cmd \\\"q\\\" x\"");
        assert_eq!(
            expand_value(&stored),
            [a("a,b"), a("c d"), Command("cmd \"q\" x".into())]
        );
        assert_eq!(
            expand_value(":INCLUDE: /etc/list"),
            [Include("/etc/list".into())]
        );
        assert_eq!(expand_value(":include:rel"), [Include("rel".into())]);
    }

    #[test]
    fn expansion_understands_rfc822_forms() {
        assert_eq!(
            expand_value("Joe User <joe@x.org>, \"a b\"@x, c (comment), <>, (only)"),
            [a("joe@x.org"), a("a b@x"), a("c")]
        );
        assert_eq!(expand_value("list: a, b;"), [a("a"), a("b")]);
        assert_eq!(expand_value("a b  c"), [a("a"), a("b"), a("c")]);
        assert_eq!(
            expand_value("a.b@c.d, u@[1.2.3.4]"),
            [a("a.b@c.d"), a("u@[1.2.3.4]")]
        );
        assert_eq!(expand_value("<a> <b>"), [a("a"), a("b")]);
        assert_eq!(expand_value("x\\ y, z\\"), [a("x y"), a("z")]);
        assert_eq!(expand_value("\"unterminated, q"), [a("unterminated, q")]);
        assert!(expand_value("").is_empty());
        assert!(expand_value(" , ,, ").is_empty());
        assert_eq!(expand_value("jörg, ü@x"), [a("jörg"), a("ü@x")]);
        assert_eq!(
            AliasTarget::classify("|cmd").to_string(),
            "|cmd",
            "Display gives the text back"
        );
    }

    #[test]
    fn include_text() {
        let text = b"# a comment\nuser1, user2\n  user3\n #not a comment\n\n/var/spool/x\n";
        assert_eq!(
            parse_include(text),
            [
                a("user1"),
                a("user2"),
                a("user3"),
                a("#not"),
                a("a"),
                a("comment"),
                AliasTarget::File("/var/spool/x".into())
            ]
        );
        let long = format!("{}b\n", "a".repeat(LINE_LENGTH_LIMIT));
        assert_eq!(
            parse_include(long.as_bytes()),
            [a(&"a".repeat(LINE_LENGTH_LIMIT)), a("b")]
        );
    }

    #[test]
    fn include_files_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("maps-alias-inc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("list");
        std::fs::write(&f, "a, b\n\"|cmd x\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let inc = read_include(&f).unwrap();
        assert_eq!(
            inc.targets,
            [a("a"), a("b"), AliasTarget::Command("cmd x".into())]
        );
        assert_eq!(inc.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(inc.gid, std::fs::metadata(&f).unwrap().gid());

        let e = read_include(Path::new("rel/list")).unwrap_err();
        assert_eq!(e.to_string(), ":include:rel/list uses a relative path");
        let e = read_include(&dir).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(":include: file {} is not a regular file", dir.display())
        );
        assert!(e.is_permanent());
        assert_eq!(e.dsn(), "5.3.5");
        let missing = dir.join("missing");
        let e = read_include(&missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "unable to lookup :include: file {}: No such file or directory",
                missing.display()
            )
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = read_include(&f).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(":include: file {} is world writable", f.display())
        );
        // A symbolic link to a good file is followed.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read_include(&link).unwrap().targets.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
