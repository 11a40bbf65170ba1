//! The command grammar (RFC 3501 §9, RFC 9051 §9 and the extensions named
//! on each type), run over one complete command: its text with the
//! literal announcements in place, and the literals' data beside it.

use crate::command::*;
use crate::date::{Date, DateTime};
use crate::error::{CommandError, ErrorKind};
use crate::seqset::{SeqNumber, SeqRange, SequenceSet};

/// A literal's data, read after the `{n}` that ends at `at` in the text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lit {
    pub(crate) at: usize,
    pub(crate) data: Vec<u8>,
}

/// How deep SEARCH keys may nest (`NOT NOT ...`, `((...))`).
const MAX_DEPTH: u32 = 64;

type R<T> = Result<T, ErrorKind>;

fn syn<T>(msg: &str) -> R<T> {
    Err(ErrorKind::Syntax(msg.to_string()))
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

fn is_tag_char(b: u8) -> bool {
    (is_atom_char(b) && b != b'+') || b == b']'
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// The commands known, for the early check when a literal is announced.
const COMMANDS: [&str; 33] = [
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "IDLE",
    "NAMESPACE",
    "ENABLE",
    "ID",
    "GETQUOTA",
    "GETQUOTAROOT",
    "SETQUOTA",
];

const UID_COMMANDS: [&str; 6] = ["FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE"];

pub(crate) struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    lits: &'a mut [Lit],
    next_lit: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(s: &'a [u8], lits: &'a mut [Lit]) -> Self {
        Reader {
            s,
            pos: 0,
            lits,
            next_lit: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> R<()> {
        if self.eat(b) {
            return Ok(());
        }
        match (b, self.peek()) {
            (b')', _) => syn("Missing ')'."),
            (_, None) => syn("Missing arguments."),
            _ => syn("Invalid arguments."),
        }
    }

    fn sp(&mut self) -> R<()> {
        self.expect(b' ')
    }

    fn end(&self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            syn("Extra arguments.")
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn nonempty(&self, v: &'a [u8]) -> R<&'a [u8]> {
        if !v.is_empty() {
            return Ok(v);
        }
        match self.peek() {
            None => syn("Missing arguments."),
            Some(b) if b >= 0x80 => syn("Invalid characters in atom."),
            Some(_) => syn("Invalid arguments."),
        }
    }

    /// An atom, upper-cased (atoms are ASCII).
    fn word(&mut self) -> R<String> {
        let a = self.take_while(is_atom_char);
        let a = self.nonempty(a)?;
        Ok(String::from_utf8_lossy(a).to_ascii_uppercase())
    }

    /// Consumes `kw` (case-insensitive) if it is the next whole atom.
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        let Some(w) = self.s.get(self.pos..end) else {
            return false;
        };
        if w.eq_ignore_ascii_case(kw.as_bytes())
            && !self.s.get(end).is_some_and(|&b| is_atom_char(b))
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"')?;
        let mut v = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return syn("Missing '\"'.");
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(v),
                b'\\' => match self.peek() {
                    Some(c @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        v.push(c);
                    }
                    _ => return syn("Invalid escape in quoted string."),
                },
                0 => return syn("NULs not allowed in strings."),
                b'\r' | b'\n' => return syn("CR or LF in quoted string."),
                _ => v.push(b),
            }
        }
    }

    /// `{n}`, `{n+}` or (when `message`) `~{n}`, and its data. Only an
    /// APPEND message may hold NULs.
    fn literal(&mut self, message: bool) -> R<(Vec<u8>, bool)> {
        let binary = self.eat(b'~');
        if binary && !message {
            return syn("literal8 not allowed here.");
        }
        self.expect(b'{')?;
        self.take_while(|b| b.is_ascii_digit());
        self.eat(b'+');
        self.expect(b'}')?;
        let Some(lit) = self.lits.get_mut(self.next_lit) else {
            return syn("Literal not at end of line.");
        };
        if lit.at != self.pos {
            return syn("Literal not at end of line.");
        }
        self.next_lit += 1;
        let data = std::mem::take(&mut lit.data);
        if !message && data.contains(&0) {
            return syn("NULs not allowed in strings.");
        }
        Ok((data, binary))
    }

    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal(false)?.0),
            None => syn("Missing arguments."),
            _ => syn("Invalid arguments."),
        }
    }

    fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                Ok(self.nonempty(a)?.to_vec())
            }
        }
    }

    fn astring_utf8(&mut self) -> R<String> {
        String::from_utf8(self.astring()?).or_else(|_| syn("Invalid UTF-8."))
    }

    fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn mailbox(&mut self) -> R<Mailbox> {
        self.astring().map(Mailbox::from_wire)
    }

    fn number64(&mut self) -> R<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return syn("Invalid number.");
        }
        d.iter()
            .try_fold(0u64, |n, &b| {
                n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .map_or_else(|| syn("Number too large."), Ok)
    }

    fn number(&mut self) -> R<u32> {
        u32::try_from(self.number64()?).or_else(|_| syn("Number too large."))
    }

    fn nz_number(&mut self) -> R<u32> {
        match self.number()? {
            0 => syn("Invalid number 0."),
            n => Ok(n),
        }
    }

    /// A mod-sequence value (RFC 7162: at most 2^63-1).
    fn modseq(&mut self) -> R<u64> {
        match self.number64()? {
            n if n > i64::MAX as u64 => syn("Invalid modseq."),
            n => Ok(n),
        }
    }

    fn seq_number(&mut self) -> R<SeqNumber> {
        if self.eat(b'*') {
            return Ok(SeqNumber::Star);
        }
        match self.number() {
            Ok(n) if n > 0 => Ok(SeqNumber::Value(n)),
            _ => syn("Invalid messageset."),
        }
    }

    fn seq_set(&mut self) -> R<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut v = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            v.push(SeqRange { start: a, end: b });
            if !self.eat(b',') {
                break;
            }
        }
        if self.peek().is_some_and(|b| is_atom_char(b) || b == b'$') {
            return syn("Invalid messageset.");
        }
        Ok(SequenceSet::Ranges(v))
    }

    fn date(&mut self) -> R<Date> {
        let raw = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            let a = self.take_while(is_atom_char);
            self.nonempty(a)?.to_vec()
        };
        Date::parse(&raw).map_or_else(|| syn("Invalid search date parameter."), Ok)
    }

    fn flag(&mut self) -> R<Flag> {
        let backslash = self.eat(b'\\');
        if backslash && self.peek() == Some(b'*') {
            return syn("Invalid flag \\*.");
        }
        let a = self.take_while(is_atom_char);
        let a = self.nonempty(a)?;
        let a = String::from_utf8_lossy(a);
        Ok(if backslash {
            Flag::from_atom(&format!("\\{a}"))
        } else {
            Flag::Keyword(a.into_owned())
        })
    }

    /// `(` item *(SP item) `)`, possibly empty when `empty_ok`.
    fn list<T>(&mut self, empty_ok: bool, mut item: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        self.expect(b'(')?;
        let mut v = Vec::new();
        if self.eat(b')') {
            if empty_ok {
                return Ok(v);
            }
            return syn("Empty list.");
        }
        loop {
            v.push(item(self)?);
            if self.eat(b')') {
                return Ok(v);
            }
            self.sp()?;
        }
    }

    fn flag_list(&mut self) -> R<Vec<Flag>> {
        self.list(true, Self::flag)
    }

    fn status_items(&mut self) -> R<Vec<StatusItem>> {
        self.list(false, |r| {
            let w = r.word()?;
            StatusItem::from_word(&w).map_or_else(|| syn(&format!("Invalid status item {w}.")), Ok)
        })
    }

    /// The tag, then the command name (`UID FETCH` for UID commands).
    fn head(&mut self) -> Result<(String, String), CommandError> {
        let tag = self.take_while(is_tag_char);
        match self.peek() {
            _ if tag.is_empty() => return Err(CommandError::new(ErrorKind::BadTag)),
            Some(b' ') | None => {}
            Some(_) => return Err(CommandError::new(ErrorKind::BadTag)),
        }
        let tag = String::from_utf8_lossy(tag).into_owned();
        let err = |kind, command: Option<String>| CommandError {
            tag: Some(tag.clone()),
            command,
            kind,
        };
        if !self.eat(b' ') {
            return Err(err(ErrorKind::MissingCommand, None));
        }
        let name = self.take_while(is_atom_char);
        if name.is_empty() {
            return Err(err(ErrorKind::MissingCommand, None));
        }
        let mut name = String::from_utf8_lossy(&name[..name.len().min(40)]).to_ascii_uppercase();
        if name == "UID" {
            let save = self.pos;
            let sub = if self.eat(b' ') {
                self.take_while(is_atom_char)
            } else {
                &[]
            };
            let sub = String::from_utf8_lossy(&sub[..sub.len().min(40)]).to_ascii_uppercase();
            if !UID_COMMANDS.contains(&sub.as_str()) {
                self.pos = save;
                return Err(err(ErrorKind::UnknownCommand, Some(format!("UID {sub}"))));
            }
            name = format!("UID {sub}");
        } else if !COMMANDS.contains(&name.as_str()) {
            return Err(err(ErrorKind::UnknownCommand, Some(name)));
        }
        Ok((tag, name))
    }
}

/// The tag and command name at the start of `text`, for the check made
/// when a literal is announced.
pub(crate) fn head(text: &[u8]) -> Result<(String, String), CommandError> {
    Reader::new(text, &mut []).head()
}

/// Parses one complete command.
pub(crate) fn parse_command(text: &[u8], lits: &mut [Lit]) -> Result<Command, CommandError> {
    let mut r = Reader::new(text, lits);
    let (tag, name) = r.head()?;
    match body(&mut r, &name) {
        Ok(body) => Ok(Command { tag, body }),
        Err(kind) => Err(CommandError {
            tag: Some(tag),
            command: Some(name),
            kind,
        }),
    }
}

fn body(r: &mut Reader<'_>, name: &str) -> R<CommandBody> {
    use CommandBody as C;
    let (uid, verb) = match name.strip_prefix("UID ") {
        Some(v) => (true, v),
        None => (false, name),
    };
    let simple = |r: &mut Reader<'_>, c: CommandBody| r.end().map(|()| c);
    let one_mailbox = |r: &mut Reader<'_>| -> R<Mailbox> {
        r.sp()?;
        let m = r.mailbox()?;
        r.end()?;
        Ok(m)
    };
    match verb {
        "CAPABILITY" => simple(r, C::Capability),
        "NOOP" => simple(r, C::Noop),
        "LOGOUT" => simple(r, C::Logout),
        "STARTTLS" => simple(r, C::StartTls),
        "CHECK" => simple(r, C::Check),
        "CLOSE" => simple(r, C::Close),
        "UNSELECT" => simple(r, C::Unselect),
        "IDLE" => simple(r, C::Idle),
        "NAMESPACE" => simple(r, C::Namespace),
        "EXPUNGE" if !uid => simple(r, C::Expunge(None)),
        "EXPUNGE" => {
            r.sp()?;
            let set = r.seq_set()?;
            r.end()?;
            Ok(C::Expunge(Some(set)))
        }
        "AUTHENTICATE" => {
            r.sp()?;
            let mechanism = r.word()?;
            let initial = if r.at_end() {
                None
            } else {
                r.sp()?;
                let d = r.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                let d = r.nonempty(d)?;
                r.end()?;
                Some(Secret(if d == b"=" { Vec::new() } else { d.to_vec() }))
            };
            Ok(C::Authenticate { mechanism, initial })
        }
        "LOGIN" => {
            r.sp()?;
            let username = r.astring_utf8()?;
            r.sp()?;
            let password = Secret(r.astring()?);
            r.end()?;
            Ok(C::Login { username, password })
        }
        "SELECT" | "EXAMINE" => {
            r.sp()?;
            let mailbox = r.mailbox()?;
            let params = if r.at_end() {
                SelectParams::default()
            } else {
                r.sp()?;
                select_params(r)?
            };
            r.end()?;
            Ok(if verb == "SELECT" {
                C::Select { mailbox, params }
            } else {
                C::Examine { mailbox, params }
            })
        }
        "CREATE" => {
            r.sp()?;
            let mailbox = r.mailbox()?;
            let mut special_use = Vec::new();
            if !r.at_end() {
                r.sp()?;
                r.expect(b'(')?;
                if !r.keyword("USE") {
                    return syn("Unknown CREATE parameter.");
                }
                r.sp()?;
                special_use = r.list(true, |r| {
                    r.expect(b'\\')?;
                    let a = r.take_while(is_atom_char);
                    Ok(String::from_utf8_lossy(r.nonempty(a)?).into_owned())
                })?;
                r.expect(b')')?;
            }
            r.end()?;
            Ok(C::Create {
                mailbox,
                special_use,
            })
        }
        "DELETE" => one_mailbox(r).map(C::Delete),
        "SUBSCRIBE" => one_mailbox(r).map(C::Subscribe),
        "UNSUBSCRIBE" => one_mailbox(r).map(C::Unsubscribe),
        "GETQUOTAROOT" => one_mailbox(r).map(C::GetQuotaRoot),
        "GETQUOTA" => {
            r.sp()?;
            let root = r.astring()?;
            r.end()?;
            Ok(C::GetQuota(root))
        }
        "SETQUOTA" => {
            r.sp()?;
            let root = r.astring()?;
            r.sp()?;
            let limits = r.list(true, |r| {
                let name = r.word()?;
                r.sp()?;
                Ok((name, r.number64()?))
            })?;
            r.end()?;
            Ok(C::SetQuota { root, limits })
        }
        "RENAME" => {
            r.sp()?;
            let from = r.mailbox()?;
            r.sp()?;
            let to = r.mailbox()?;
            r.end()?;
            Ok(C::Rename { from, to })
        }
        "LIST" => list(r).map(C::List),
        "LSUB" => {
            r.sp()?;
            let reference = r.mailbox()?;
            r.sp()?;
            let pattern = list_mailbox(r)?;
            r.end()?;
            Ok(C::Lsub { reference, pattern })
        }
        "STATUS" => {
            r.sp()?;
            let mailbox = r.mailbox()?;
            r.sp()?;
            let items = r.status_items()?;
            r.end()?;
            Ok(C::Status { mailbox, items })
        }
        "APPEND" => append(r),
        "SEARCH" => search(r).map(|search| C::Search { uid, search }),
        "FETCH" => fetch(r, uid),
        "STORE" => store(r, uid).map(C::Store),
        "COPY" | "MOVE" => {
            r.sp()?;
            let set = r.seq_set()?;
            r.sp()?;
            let mailbox = r.mailbox()?;
            r.end()?;
            Ok(if verb == "COPY" {
                C::Copy { uid, set, mailbox }
            } else {
                C::Move { uid, set, mailbox }
            })
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            loop {
                r.sp()?;
                caps.push(r.word()?);
                if r.at_end() {
                    return Ok(C::Enable(caps));
                }
            }
        }
        "ID" => {
            r.sp()?;
            if r.keyword("NIL") {
                r.end()?;
                return Ok(C::Id(None));
            }
            let pairs = r.list(true, |r| {
                let k = String::from_utf8_lossy(&r.string()?).into_owned();
                r.sp()?;
                let v = r.nstring()?;
                Ok((k, v.map(|v| String::from_utf8_lossy(&v).into_owned())))
            })?;
            r.end()?;
            Ok(C::Id(Some(pairs)))
        }
        _ => Err(ErrorKind::UnknownCommand),
    }
}

fn select_params(r: &mut Reader<'_>) -> R<SelectParams> {
    let mut p = SelectParams::default();
    r.list(false, |r| {
        let w = r.word()?;
        match w.as_str() {
            "CONDSTORE" => p.condstore = true,
            "QRESYNC" => {
                r.sp()?;
                r.expect(b'(')?;
                let uidvalidity = r.nz_number()?;
                r.sp()?;
                let modseq = r.modseq()?;
                let mut q = QResync {
                    uidvalidity,
                    modseq,
                    known_uids: None,
                    seq_match: None,
                };
                if r.eat(b' ') && r.peek() != Some(b'(') {
                    q.known_uids = Some(r.seq_set()?);
                    if !r.eat(b' ') {
                        r.expect(b')')?;
                        p.qresync = Some(q);
                        return Ok(());
                    }
                }
                if r.eat(b'(') {
                    let seqs = r.seq_set()?;
                    r.sp()?;
                    let uids = r.seq_set()?;
                    r.expect(b')')?;
                    q.seq_match = Some((seqs, uids));
                }
                r.expect(b')')?;
                p.qresync = Some(q);
            }
            _ => return syn(&format!("Unknown select parameter {w}.")),
        }
        Ok(())
    })?;
    Ok(p)
}

fn list_mailbox(r: &mut Reader<'_>) -> R<Vec<u8>> {
    match r.peek() {
        Some(b'"' | b'{') => r.string(),
        _ => {
            let a = r.take_while(is_list_char);
            Ok(r.nonempty(a)?.to_vec())
        }
    }
}

fn list(r: &mut Reader<'_>) -> R<ListCommand> {
    r.sp()?;
    let mut extended = false;
    let mut selection = Vec::new();
    if r.peek() == Some(b'(') {
        extended = true;
        selection = r.list(true, |r| {
            let w = r.word()?;
            Ok(match w.as_str() {
                "SUBSCRIBED" => ListSelect::Subscribed,
                "REMOTE" => ListSelect::Remote,
                "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                "SPECIAL-USE" => ListSelect::SpecialUse,
                _ => return syn(&format!("Unknown LIST selection option {w}.")),
            })
        })?;
        r.sp()?;
        if selection.contains(&ListSelect::RecursiveMatch)
            && !selection
                .iter()
                .any(|s| matches!(s, ListSelect::Subscribed | ListSelect::SpecialUse))
        {
            return syn("RECURSIVEMATCH must not be the only selection option.");
        }
    }
    let reference = r.mailbox()?;
    r.sp()?;
    let patterns = if r.peek() == Some(b'(') {
        extended = true;
        r.list(false, list_mailbox)?
    } else {
        vec![list_mailbox(r)?]
    };
    let mut returns = Vec::new();
    if !r.at_end() {
        r.sp()?;
        if !r.keyword("RETURN") {
            return syn("Invalid arguments.");
        }
        r.sp()?;
        extended = true;
        returns = r.list(true, |r| {
            let w = r.word()?;
            Ok(match w.as_str() {
                "SUBSCRIBED" => ListReturn::Subscribed,
                "CHILDREN" => ListReturn::Children,
                "SPECIAL-USE" => ListReturn::SpecialUse,
                "STATUS" => {
                    r.sp()?;
                    ListReturn::Status(r.status_items()?)
                }
                _ => return syn(&format!("Unknown LIST return option {w}.")),
            })
        })?;
    }
    r.end()?;
    Ok(ListCommand {
        selection,
        reference,
        patterns,
        returns,
        extended,
    })
}

fn append(r: &mut Reader<'_>) -> R<CommandBody> {
    r.sp()?;
    let mailbox = r.mailbox()?;
    let mut messages = Vec::new();
    loop {
        r.sp()?;
        let flags = if r.peek() == Some(b'(') {
            let f = r.flag_list()?;
            r.sp()?;
            f
        } else {
            Vec::new()
        };
        let date = if r.peek() == Some(b'"') {
            let d = r.quoted()?;
            r.sp()?;
            Some(DateTime::parse(&d).map_or_else(|| syn("Invalid date-time."), Ok)?)
        } else {
            None
        };
        let (data, binary) = if r.keyword("UTF8") {
            // RFC 6855: UTF8 (~{n}...)
            r.sp()?;
            r.expect(b'(')?;
            if r.peek() != Some(b'~') {
                return syn("Invalid UTF8 APPEND data.");
            }
            let d = r.literal(true)?;
            r.expect(b')')?;
            d
        } else {
            match r.peek() {
                Some(b'{' | b'~') => r.literal(true)?,
                _ => return syn("Missing message literal."),
            }
        };
        messages.push(AppendMessage {
            flags,
            date,
            data,
            binary,
        });
        if r.at_end() {
            return Ok(CommandBody::Append { mailbox, messages });
        }
    }
}

fn search(r: &mut Reader<'_>) -> R<SearchCommand> {
    r.sp()?;
    let mut returns = None;
    if r.keyword("RETURN") {
        r.sp()?;
        returns = Some(r.list(true, |r| {
            let w = r.word()?;
            Ok(match w.as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => SearchReturn::Save,
                _ => return syn(&format!("Unknown SEARCH return option {w}.")),
            })
        })?);
        r.sp()?;
    }
    let mut charset = None;
    if r.keyword("CHARSET") {
        r.sp()?;
        charset = Some(r.astring_utf8()?.to_ascii_uppercase());
        r.sp()?;
    }
    let mut keys = vec![search_key(r)?];
    while !r.at_end() {
        r.sp()?;
        keys.push(search_key(r)?);
    }
    let criteria = if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    };
    Ok(SearchCommand {
        returns,
        charset,
        criteria,
    })
}

fn search_key(r: &mut Reader<'_>) -> R<SearchKey> {
    r.depth += 1;
    let k = if r.depth > MAX_DEPTH {
        syn("Too deep search key nesting.")
    } else {
        search_key_inner(r)
    };
    r.depth -= 1;
    k
}

fn search_key_inner(r: &mut Reader<'_>) -> R<SearchKey> {
    use SearchKey as K;
    match r.peek() {
        Some(b'(') => return r.list(false, search_key).map(K::And),
        Some(b'0'..=b'9' | b'*' | b'$') => return r.seq_set().map(K::SequenceSet),
        _ => {}
    }
    let w = r.word()?;
    let arg = |r: &mut Reader<'_>| -> R<Vec<u8>> {
        r.sp()?;
        r.astring()
    };
    let date = |r: &mut Reader<'_>| -> R<Date> {
        r.sp()?;
        r.date()
    };
    let keyword = |r: &mut Reader<'_>| -> R<String> {
        r.sp()?;
        let a = r.take_while(is_atom_char);
        Ok(String::from_utf8_lossy(r.nonempty(a)?).into_owned())
    };
    Ok(match w.as_str() {
        "ALL" => K::All,
        "ANSWERED" => K::Answered,
        "DELETED" => K::Deleted,
        "DRAFT" => K::Draft,
        "FLAGGED" => K::Flagged,
        "NEW" => K::New,
        "OLD" => K::Old,
        "RECENT" => K::Recent,
        "SEEN" => K::Seen,
        "UNANSWERED" => K::Unanswered,
        "UNDELETED" => K::Undeleted,
        "UNDRAFT" => K::Undraft,
        "UNFLAGGED" => K::Unflagged,
        "UNSEEN" => K::Unseen,
        "KEYWORD" => K::Keyword(keyword(r)?),
        "UNKEYWORD" => K::Unkeyword(keyword(r)?),
        "BCC" => K::Bcc(arg(r)?),
        "BODY" => K::Body(arg(r)?),
        "CC" => K::Cc(arg(r)?),
        "FROM" => K::From(arg(r)?),
        "SUBJECT" => K::Subject(arg(r)?),
        "TEXT" => K::Text(arg(r)?),
        "TO" => K::To(arg(r)?),
        "HEADER" => {
            r.sp()?;
            let name = r.astring_utf8()?;
            K::Header(name, arg(r)?)
        }
        "BEFORE" => K::Before(date(r)?),
        "ON" => K::On(date(r)?),
        "SINCE" => K::Since(date(r)?),
        "SENTBEFORE" => K::SentBefore(date(r)?),
        "SENTON" => K::SentOn(date(r)?),
        "SENTSINCE" => K::SentSince(date(r)?),
        "LARGER" | "SMALLER" => {
            r.sp()?;
            let n = r.number64()?;
            if w == "LARGER" {
                K::Larger(n)
            } else {
                K::Smaller(n)
            }
        }
        "OLDER" | "YOUNGER" => {
            r.sp()?;
            let n = r.nz_number()?;
            if w == "OLDER" {
                K::Older(n)
            } else {
                K::Younger(n)
            }
        }
        "UID" => {
            r.sp()?;
            K::Uid(r.seq_set()?)
        }
        "NOT" => {
            r.sp()?;
            K::Not(Box::new(search_key(r)?))
        }
        "OR" => {
            r.sp()?;
            let a = search_key(r)?;
            r.sp()?;
            let b = search_key(r)?;
            K::Or(Box::new(a), Box::new(b))
        }
        "MODSEQ" => {
            r.sp()?;
            let entry = if r.peek() == Some(b'"') {
                let name = r.quoted()?;
                r.sp()?;
                let t = match r.word()?.as_str() {
                    "PRIV" => EntryType::Private,
                    "SHARED" => EntryType::Shared,
                    "ALL" => EntryType::All,
                    _ => return syn("Invalid MODSEQ entry type."),
                };
                r.sp()?;
                Some((name, t))
            } else {
                None
            };
            K::ModSeq {
                entry,
                modseq: r.modseq()?,
            }
        }
        _ => return syn(&format!("Unknown argument {w}.")),
    })
}

fn fetch(r: &mut Reader<'_>, uid: bool) -> R<CommandBody> {
    r.sp()?;
    let set = r.seq_set()?;
    r.sp()?;
    let items = if r.peek() == Some(b'(') {
        r.list(false, fetch_att)?
    } else if r.keyword("ALL") {
        use FetchAttr::*;
        vec![Flags, InternalDate, Rfc822Size, Envelope]
    } else if r.keyword("FAST") {
        use FetchAttr::*;
        vec![Flags, InternalDate, Rfc822Size]
    } else if r.keyword("FULL") {
        use FetchAttr::*;
        vec![Flags, InternalDate, Rfc822Size, Envelope, Body]
    } else {
        vec![fetch_att(r)?]
    };
    let mut modifiers = FetchModifiers::default();
    if !r.at_end() {
        r.sp()?;
        r.list(false, |r| {
            let w = r.word()?;
            match w.as_str() {
                "CHANGEDSINCE" => {
                    r.sp()?;
                    modifiers.changed_since = Some(r.modseq()?);
                }
                "VANISHED" => modifiers.vanished = true,
                _ => return syn(&format!("Unknown FETCH modifier {w}.")),
            }
            Ok(())
        })?;
        if modifiers.vanished && (!uid || modifiers.changed_since.is_none()) {
            return syn("VANISHED only allowed with UID FETCH and CHANGEDSINCE.");
        }
    }
    r.end()?;
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        modifiers,
    })
}

fn partial(r: &mut Reader<'_>) -> R<Option<(u32, u32)>> {
    if !r.eat(b'<') {
        return Ok(None);
    }
    let origin = r.number()?;
    r.expect(b'.')?;
    let count = r.nz_number()?;
    r.expect(b'>')?;
    Ok(Some((origin, count)))
}

fn part_numbers(r: &mut Reader<'_>) -> R<Vec<u32>> {
    r.expect(b'[')?;
    let mut part = Vec::new();
    if r.eat(b']') {
        return Ok(part);
    }
    loop {
        part.push(r.nz_number()?);
        if r.eat(b']') {
            return Ok(part);
        }
        r.expect(b'.')?;
    }
}

fn section(r: &mut Reader<'_>) -> R<Section> {
    r.expect(b'[')?;
    let mut s = Section::default();
    if r.eat(b']') {
        return Ok(s);
    }
    loop {
        if r.peek().is_some_and(|b| b.is_ascii_digit()) {
            s.part.push(r.nz_number()?);
            if r.eat(b'.') {
                continue;
            }
            break;
        }
        let w = r.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
        let w = String::from_utf8_lossy(w).to_ascii_uppercase();
        let fields = |r: &mut Reader<'_>| -> R<Vec<String>> {
            r.sp()?;
            r.list(false, |r| {
                let n = r.astring_utf8()?;
                if n.is_empty() || n.bytes().any(|b| !(0x21..=0x7e).contains(&b) || b == b':') {
                    return syn("Invalid header field name.");
                }
                Ok(n.to_ascii_uppercase())
            })
        };
        s.text = Some(match w.as_str() {
            "HEADER" => SectionText::Header,
            "HEADER.FIELDS" => SectionText::HeaderFields(fields(r)?),
            "HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(fields(r)?),
            "TEXT" => SectionText::Text,
            "MIME" if !s.part.is_empty() => SectionText::Mime,
            _ => return syn("Invalid BODY[..] parameter."),
        });
        break;
    }
    r.expect(b']')?;
    Ok(s)
}

fn fetch_att(r: &mut Reader<'_>) -> R<FetchAttr> {
    use FetchAttr as F;
    let w = r.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
    let w = String::from_utf8_lossy(r.nonempty(w)?).to_ascii_uppercase();
    let bracket = r.peek() == Some(b'[');
    Ok(match (w.as_str(), bracket) {
        ("ENVELOPE", false) => F::Envelope,
        ("FLAGS", false) => F::Flags,
        ("INTERNALDATE", false) => F::InternalDate,
        ("RFC822", false) => F::Rfc822,
        ("RFC822.HEADER", false) => F::Rfc822Header,
        ("RFC822.SIZE", false) => F::Rfc822Size,
        ("RFC822.TEXT", false) => F::Rfc822Text,
        ("BODY", false) => F::Body,
        ("BODYSTRUCTURE", false) => F::BodyStructure,
        ("UID", false) => F::Uid,
        ("MODSEQ", false) => F::ModSeq,
        ("BODY" | "BODY.PEEK", true) => F::BodySection {
            peek: w == "BODY.PEEK",
            section: section(r)?,
            partial: partial(r)?,
        },
        ("BINARY" | "BINARY.PEEK", true) => F::Binary {
            peek: w == "BINARY.PEEK",
            part: part_numbers(r)?,
            partial: partial(r)?,
        },
        ("BINARY.SIZE", true) => F::BinarySize {
            part: part_numbers(r)?,
        },
        _ => return syn(&format!("Unknown parameter {w}.")),
    })
}

fn store(r: &mut Reader<'_>, uid: bool) -> R<StoreCommand> {
    r.sp()?;
    let set = r.seq_set()?;
    r.sp()?;
    let mut unchanged_since = None;
    if r.peek() == Some(b'(') {
        r.list(false, |r| {
            if !r.keyword("UNCHANGEDSINCE") {
                return syn("Unknown STORE modifier.");
            }
            r.sp()?;
            unchanged_since = Some(r.modseq()?);
            Ok(())
        })?;
        r.sp()?;
    }
    let mode = if r.eat(b'+') {
        StoreMode::Add
    } else if r.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let w = r.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
    let silent = match w.to_ascii_uppercase().as_slice() {
        b"FLAGS" => false,
        b"FLAGS.SILENT" => true,
        _ => return syn("Invalid STORE data item."),
    };
    r.sp()?;
    let flags = if r.peek() == Some(b'(') {
        r.flag_list()?
    } else {
        let mut v = vec![r.flag()?];
        while r.eat(b' ') {
            v.push(r.flag()?);
        }
        v
    };
    r.end()?;
    Ok(StoreCommand {
        uid,
        set,
        mode,
        silent,
        flags,
        unchanged_since,
    })
}
