//! Responses: status lines with response codes, untagged data, command
//! continuation requests, and the [`Value`] tree FETCH replies are built
//! from. Everything is appended to a `Vec<u8>` ready to send.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::command::{Flag, IdParams, StatusItem};
use crate::date::DateTime;
use crate::seqset::SequenceSet;

/// Protocol options that change how responses are written.
///
/// * `rev2` (IMAP4rev2 enabled, RFC 9051): no `* n RECENT`, no `\Recent`
///   in FLAGS, no RECENT in STATUS; [`Data::search_reply`] answers with
///   ESEARCH; UTF-8 may be sent in quoted strings.
/// * `utf8` (`ENABLE UTF8=ACCEPT`, RFC 6855): UTF-8 may be sent in quoted
///   strings (mailbox names are then UTF-8, not modified UTF-7 — that is
///   the caller's choice of bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub rev2: bool,
    pub utf8: bool,
}

impl WriteOptions {
    fn utf8_quoted(self) -> bool {
        self.rev2 || self.utf8
    }
}

/// Strings longer than this are written as literals.
const MAX_QUOTED: usize = 1024;

fn can_quote(s: &[u8], opts: WriteOptions) -> bool {
    if s.len() > MAX_QUOTED || s.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return false;
    }
    s.is_ascii() || (opts.utf8_quoted() && std::str::from_utf8(s).is_ok())
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

/// Appends `s` as a quoted string if it can be one, else as a literal.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], opts: WriteOptions) {
    if can_quote(s, opts) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, s);
    }
}

/// Appends `{n}\r\n` and the bytes.
pub fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    write_literal_header(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends `{n}\r\n`, for a caller that streams the `n` bytes itself.
pub fn write_literal_header(out: &mut Vec<u8>, n: u64) {
    let _ = write!(Buf(out), "{{{n}}}\r\n");
}

/// Appends `s` as an atom when it may be one (not `NIL`), else as a
/// string (mailbox names, quota roots).
pub fn write_astring(out: &mut Vec<u8>, s: &[u8], opts: WriteOptions) {
    if !s.is_empty()
        && s.iter().all(|&b| is_atom_char(b) || b == b']')
        && !s.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(s);
    } else {
        write_string(out, s, opts);
    }
}

/// Appends `NIL` or the string.
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>, opts: WriteOptions) {
    match s {
        Some(s) => write_string(out, s, opts),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `fmt::Write` into a byte buffer.
struct Buf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Text without CR, LF and NUL (they would end or corrupt the line).
fn write_text(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().filter(|&b| !matches!(b, 0 | b'\r' | b'\n')));
}

/// A value in a response: what FETCH items, ENVELOPE and BODYSTRUCTURE
/// are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Nil,
    Number(u64),
    /// Written as is (CR, LF and NUL dropped): flags, `\Seen`, keywords.
    Atom(Cow<'a, str>),
    /// Quoted when it can be (short, no CR/LF/NUL, 7-bit or UTF-8 when
    /// allowed), else a literal.
    String(Cow<'a, [u8]>),
    /// Always a literal `{n}\r\n...` (message bodies).
    Literal(Cow<'a, [u8]>),
    /// A literal8 `~{n}\r\n...` (BINARY, RFC 3516).
    Literal8(Cow<'a, [u8]>),
    /// `(a b c)`.
    List(Vec<Value<'a>>),
    /// Values written one after the other with nothing between them: the
    /// bodies of a multipart BODY/BODYSTRUCTURE, `(...)(...)`
    /// (RFC 3501 `body-type-mpart = 1*body SP media-subtype`).
    Run(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    pub fn atom(s: impl Into<Cow<'a, str>>) -> Value<'a> {
        Value::Atom(s.into())
    }

    pub fn string(s: impl Into<Cow<'a, [u8]>>) -> Value<'a> {
        Value::String(s.into())
    }

    /// `NIL` for `None`.
    pub fn nstring(s: Option<impl Into<Cow<'a, [u8]>>>) -> Value<'a> {
        s.map_or(Value::Nil, |s| Value::String(s.into()))
    }

    pub fn literal(s: impl Into<Cow<'a, [u8]>>) -> Value<'a> {
        Value::Literal(s.into())
    }

    /// A flag list, e.g. `(\Seen $Forwarded)`.
    pub fn flags(flags: &[Flag]) -> Value<'static> {
        Value::List(
            flags
                .iter()
                .map(|f| Value::Atom(Cow::Owned(f.to_string())))
                .collect(),
        )
    }

    /// `"17-Jul-1996 02:44:25 -0700"` (INTERNALDATE).
    pub fn date_time(d: &DateTime) -> Value<'static> {
        Value::String(Cow::Owned(d.to_string().into_bytes()))
    }

    pub fn write(&self, out: &mut Vec<u8>, opts: WriteOptions) {
        match self {
            Value::Nil => out.extend_from_slice(b"NIL"),
            Value::Number(n) => {
                let _ = write!(Buf(out), "{n}");
            }
            Value::Atom(a) => write_text(out, a),
            Value::String(s) => write_string(out, s, opts),
            Value::Literal(s) => write_literal(out, s),
            Value::Literal8(s) => {
                out.push(b'~');
                write_literal(out, s);
            }
            Value::List(v) => {
                out.push(b'(');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    x.write(out, opts);
                }
                out.push(b')');
            }
            Value::Run(v) => {
                for x in v {
                    x.write(out, opts);
                }
            }
        }
    }
}

/// The status of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// A response code, written in brackets (RFC 3501 §7.1, RFC 4315, 5530,
/// 7162, 9051).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    /// Capability names, e.g. `IMAP4rev1 IDLE`.
    Capability(Vec<String>),
    PermanentFlags(Vec<Flag>),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    Parse,
    BadCharset(Vec<String>),
    AppendUid {
        uidvalidity: u32,
        uids: SequenceSet,
    },
    CopyUid {
        uidvalidity: u32,
        source: SequenceSet,
        dest: SequenceSet,
    },
    UidNotSticky,
    HighestModSeq(u64),
    NoModSeq,
    Modified(SequenceSet),
    Closed,
    AlreadyExists,
    Nonexistent,
    TooBig,
    ServerBug,
    ClientBug,
    AuthenticationFailed,
    AuthorizationFailed,
    Expired,
    PrivacyRequired,
    ContactAdmin,
    NoPerm,
    Unavailable,
    InUse,
    ExpungeIssued,
    Corruption,
    OverQuota,
    Limit,
    Cannot,
    /// Anything else, written as given between the brackets.
    Other(String),
}

impl Code {
    /// Appends the code without brackets.
    pub fn write(&self, out: &mut Vec<u8>) {
        let simple = match self {
            Code::Alert => "ALERT",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::TryCreate => "TRYCREATE",
            Code::Parse => "PARSE",
            Code::UidNotSticky => "UIDNOTSTICKY",
            Code::NoModSeq => "NOMODSEQ",
            Code::Closed => "CLOSED",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::Nonexistent => "NONEXISTENT",
            Code::TooBig => "TOOBIG",
            Code::ServerBug => "SERVERBUG",
            Code::ClientBug => "CLIENTBUG",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::AuthorizationFailed => "AUTHORIZATIONFAILED",
            Code::Expired => "EXPIRED",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::ContactAdmin => "CONTACTADMIN",
            Code::NoPerm => "NOPERM",
            Code::Unavailable => "UNAVAILABLE",
            Code::InUse => "INUSE",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::Corruption => "CORRUPTION",
            Code::OverQuota => "OVERQUOTA",
            Code::Limit => "LIMIT",
            Code::Cannot => "CANNOT",
            _ => "",
        };
        if !simple.is_empty() {
            out.extend_from_slice(simple.as_bytes());
            return;
        }
        let mut b = Buf(out);
        let _ = match self {
            Code::Capability(c) => write!(b, "CAPABILITY {}", c.join(" ")),
            Code::PermanentFlags(f) => {
                let f: Vec<String> = f.iter().map(Flag::to_string).collect();
                write!(b, "PERMANENTFLAGS ({})", f.join(" "))
            }
            Code::UidNext(n) => write!(b, "UIDNEXT {n}"),
            Code::UidValidity(n) => write!(b, "UIDVALIDITY {n}"),
            Code::Unseen(n) => write!(b, "UNSEEN {n}"),
            Code::BadCharset(c) if c.is_empty() => write!(b, "BADCHARSET"),
            Code::BadCharset(c) => write!(b, "BADCHARSET ({})", c.join(" ")),
            Code::AppendUid { uidvalidity, uids } => write!(b, "APPENDUID {uidvalidity} {uids}"),
            Code::CopyUid {
                uidvalidity,
                source,
                dest,
            } => write!(b, "COPYUID {uidvalidity} {source} {dest}"),
            Code::HighestModSeq(n) => write!(b, "HIGHESTMODSEQ {n}"),
            Code::Modified(s) => write!(b, "MODIFIED {s}"),
            Code::Other(s) => {
                write_text(b.0, s);
                Ok(())
            }
            _ => Ok(()),
        };
    }
}

/// `tag OK [CODE] text` (or untagged `* ...` when `tag` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    pub tag: Option<String>,
    pub status: Status,
    pub code: Option<Code>,
    /// The human-readable text; CR, LF and NUL are dropped when written.
    pub text: String,
}

impl StatusResponse {
    pub fn new(tag: Option<String>, status: Status, text: impl Into<String>) -> Self {
        StatusResponse {
            tag,
            status,
            code: None,
            text: text.into(),
        }
    }

    pub fn ok(tag: Option<String>, text: impl Into<String>) -> Self {
        Self::new(tag, Status::Ok, text)
    }

    pub fn no(tag: Option<String>, text: impl Into<String>) -> Self {
        Self::new(tag, Status::No, text)
    }

    pub fn bad(tag: Option<String>, text: impl Into<String>) -> Self {
        Self::new(tag, Status::Bad, text)
    }

    /// Untagged `* BYE text`.
    pub fn bye(text: impl Into<String>) -> Self {
        Self::new(None, Status::Bye, text)
    }

    /// Untagged `* PREAUTH text`.
    pub fn preauth(text: impl Into<String>) -> Self {
        Self::new(None, Status::PreAuth, text)
    }

    pub fn with_code(mut self, code: Code) -> Self {
        self.code = Some(code);
        self
    }

    /// Appends the line with its CRLF.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.tag {
            Some(t) => write_text(out, t),
            None => out.push(b'*'),
        }
        out.push(b' ');
        out.extend_from_slice(self.status.as_str().as_bytes());
        if let Some(c) = &self.code {
            out.extend_from_slice(b" [");
            c.write(out);
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            write_text(out, &self.text);
        }
        out.extend_from_slice(b"\r\n");
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

/// A command continuation request `+ text\r\n` (`+ idling` for IDLE, a
/// base64 challenge for AUTHENTICATE; see also
/// [`crate::LITERAL_CONTINUATION`]).
pub fn continuation(text: &str) -> Vec<u8> {
    let mut v = b"+ ".to_vec();
    write_text(&mut v, text);
    v.extend_from_slice(b"\r\n");
    v
}

/// One `* LIST` / `* LSUB` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    /// Attributes with their backslash (`\HasNoChildren`, `\Sent`).
    pub attributes: Vec<String>,
    /// The hierarchy delimiter, `None` for NIL (flat).
    pub delimiter: Option<char>,
    /// The name in its wire form (modified UTF-7 unless UTF8=ACCEPT).
    pub mailbox: Vec<u8>,
    /// LIST-EXTENDED items, e.g. `("CHILDINFO", ("SUBSCRIBED"))`,
    /// `("OLDNAME", ("old"))`.
    pub extended: Vec<(String, Value<'static>)>,
}

/// A `* ESEARCH` reply (RFC 4731); absent items are not written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ESearch {
    /// The tag of the SEARCH it answers.
    pub tag: Option<String>,
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub count: Option<u32>,
    pub all: Option<SequenceSet>,
    pub modseq: Option<u64>,
}

/// A namespace list entry: prefix and delimiter.
pub type NamespaceEntry = (String, Option<char>);

/// Untagged data (RFC 3501 §7.2–7.4 and the extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    Capability(Vec<String>),
    Exists(u32),
    /// Not written under IMAP4rev2.
    Recent(u32),
    Expunge(u32),
    /// `* VANISHED [(EARLIER)] uids` (RFC 7162 QRESYNC).
    Vanished {
        earlier: bool,
        uids: SequenceSet,
    },
    /// `\Recent` is left out under IMAP4rev2.
    Flags(Vec<Flag>),
    List(ListItem),
    Lsub(ListItem),
    /// RECENT is left out under IMAP4rev2. The mailbox in wire form.
    Status {
        mailbox: Vec<u8>,
        items: Vec<(StatusItem, u64)>,
    },
    /// `* SEARCH 1 2 3 [(MODSEQ n)]`.
    Search {
        ids: Vec<u32>,
        modseq: Option<u64>,
    },
    ESearch(ESearch),
    Enabled(Vec<String>),
    Id(IdParams),
    /// Personal, other users', shared; an empty list is written NIL.
    Namespace {
        personal: Vec<NamespaceEntry>,
        other: Vec<NamespaceEntry>,
        shared: Vec<NamespaceEntry>,
    },
    /// `* QUOTA root (name usage limit ...)`.
    Quota {
        root: Vec<u8>,
        resources: Vec<(String, u64, u64)>,
    },
    QuotaRoot {
        mailbox: Vec<u8>,
        roots: Vec<Vec<u8>>,
    },
    /// `* seq FETCH (name value ...)`; names from
    /// [`crate::FetchAttr::response_name`].
    Fetch {
        seq: u32,
        items: Vec<(Cow<'a, str>, Value<'a>)>,
    },
}

impl Data<'_> {
    /// The answer to a SEARCH without RETURN: `* SEARCH ids` for
    /// IMAP4rev1, `* ESEARCH (TAG "t") [UID] ALL set` under IMAP4rev2.
    pub fn search_reply(
        tag: &str,
        uid: bool,
        ids: &[u32],
        modseq: Option<u64>,
        opts: WriteOptions,
    ) -> Data<'static> {
        if opts.rev2 {
            Data::ESearch(ESearch {
                tag: Some(tag.to_string()),
                uid,
                all: (!ids.is_empty()).then(|| SequenceSet::from_ids(ids)),
                modseq,
                ..ESearch::default()
            })
        } else {
            Data::Search {
                ids: ids.to_vec(),
                modseq,
            }
        }
    }

    /// Appends the line(s) with CRLF.
    pub fn write_to(&self, out: &mut Vec<u8>, opts: WriteOptions) {
        let start = out.len();
        out.extend_from_slice(b"* ");
        let ns = |out: &mut Vec<u8>, v: &[NamespaceEntry]| {
            if v.is_empty() {
                out.extend_from_slice(b"NIL");
                return;
            }
            out.push(b'(');
            for (p, d) in v {
                out.push(b'(');
                write_string(out, p.as_bytes(), opts);
                out.push(b' ');
                write_delimiter(out, *d);
                out.push(b')');
            }
            out.push(b')');
        };
        match self {
            Data::Capability(c) => {
                out.extend_from_slice(b"CAPABILITY");
                for c in c {
                    out.push(b' ');
                    write_text(out, c);
                }
            }
            Data::Exists(n) => {
                let _ = write!(Buf(out), "{n} EXISTS");
            }
            Data::Recent(_) if opts.rev2 => {
                out.truncate(start);
                return;
            }
            Data::Recent(n) => {
                let _ = write!(Buf(out), "{n} RECENT");
            }
            Data::Expunge(n) => {
                let _ = write!(Buf(out), "{n} EXPUNGE");
            }
            Data::Vanished { earlier, uids } => {
                let e = if *earlier { "(EARLIER) " } else { "" };
                let _ = write!(Buf(out), "VANISHED {e}{uids}");
            }
            Data::Flags(f) => {
                out.extend_from_slice(b"FLAGS ");
                let f: Vec<Flag> = f
                    .iter()
                    .filter(|f| !(opts.rev2 && **f == Flag::Recent))
                    .cloned()
                    .collect();
                Value::flags(&f).write(out, opts);
            }
            Data::List(l) | Data::Lsub(l) => {
                out.extend_from_slice(if matches!(self, Data::List(_)) {
                    b"LIST ("
                } else {
                    b"LSUB ("
                });
                write_text(out, &l.attributes.join(" "));
                out.extend_from_slice(b") ");
                write_delimiter(out, l.delimiter);
                out.push(b' ');
                write_astring(out, &l.mailbox, opts);
                if !l.extended.is_empty() {
                    out.extend_from_slice(b" (");
                    for (i, (k, v)) in l.extended.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        write_string(out, k.as_bytes(), opts);
                        out.push(b' ');
                        v.write(out, opts);
                    }
                    out.push(b')');
                }
            }
            Data::Status { mailbox, items } => {
                out.extend_from_slice(b"STATUS ");
                write_astring(out, mailbox, opts);
                out.extend_from_slice(b" (");
                let mut first = true;
                for (k, v) in items {
                    if opts.rev2 && *k == StatusItem::Recent {
                        continue;
                    }
                    if !first {
                        out.push(b' ');
                    }
                    first = false;
                    let _ = write!(Buf(out), "{} {v}", k.as_str());
                }
                out.push(b')');
            }
            Data::Search { ids, modseq } => {
                out.extend_from_slice(b"SEARCH");
                let mut b = Buf(out);
                for id in ids {
                    let _ = write!(b, " {id}");
                }
                if let Some(m) = modseq {
                    let _ = write!(b, " (MODSEQ {m})");
                }
            }
            Data::ESearch(e) => {
                out.extend_from_slice(b"ESEARCH");
                if let Some(t) = &e.tag {
                    out.extend_from_slice(b" (TAG ");
                    write_string(out, t.as_bytes(), opts);
                    out.push(b')');
                }
                let mut b = Buf(out);
                if e.uid {
                    let _ = write!(b, " UID");
                }
                if let Some(n) = e.min {
                    let _ = write!(b, " MIN {n}");
                }
                if let Some(n) = e.max {
                    let _ = write!(b, " MAX {n}");
                }
                if let Some(s) = &e.all {
                    let _ = write!(b, " ALL {s}");
                }
                if let Some(n) = e.count {
                    let _ = write!(b, " COUNT {n}");
                }
                if let Some(n) = e.modseq {
                    let _ = write!(b, " MODSEQ {n}");
                }
            }
            Data::Enabled(c) => {
                out.extend_from_slice(b"ENABLED");
                for c in c {
                    out.push(b' ');
                    write_text(out, c);
                }
            }
            Data::Id(None) => out.extend_from_slice(b"ID NIL"),
            Data::Id(Some(pairs)) => {
                out.extend_from_slice(b"ID (");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    write_string(out, k.as_bytes(), opts);
                    out.push(b' ');
                    write_nstring(out, v.as_deref().map(str::as_bytes), opts);
                }
                out.push(b')');
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                out.extend_from_slice(b"NAMESPACE ");
                ns(out, personal);
                out.push(b' ');
                ns(out, other);
                out.push(b' ');
                ns(out, shared);
            }
            Data::Quota { root, resources } => {
                out.extend_from_slice(b"QUOTA ");
                write_astring(out, root, opts);
                out.extend_from_slice(b" (");
                let mut b = Buf(out);
                for (i, (name, usage, limit)) in resources.iter().enumerate() {
                    let sep = if i > 0 { " " } else { "" };
                    let _ = write!(b, "{sep}{name} {usage} {limit}");
                }
                out.push(b')');
            }
            Data::QuotaRoot { mailbox, roots } => {
                out.extend_from_slice(b"QUOTAROOT ");
                write_astring(out, mailbox, opts);
                for r in roots {
                    out.push(b' ');
                    write_astring(out, r, opts);
                }
            }
            Data::Fetch { seq, items } => {
                let _ = write!(Buf(out), "{seq} FETCH (");
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    write_text(out, k);
                    out.push(b' ');
                    v.write(out, opts);
                }
                out.push(b')');
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    pub fn to_bytes(&self, opts: WriteOptions) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v, opts);
        v
    }
}

fn write_delimiter(out: &mut Vec<u8>, d: Option<char>) {
    match d {
        None => out.extend_from_slice(b"NIL"),
        Some(c) => {
            let mut buf = [0u8; 4];
            write_string(
                out,
                c.encode_utf8(&mut buf).as_bytes(),
                WriteOptions::default(),
            );
        }
    }
}
