//! The typed commands a client sends.

use std::fmt;

use crate::date::{Date, DateTime};
use crate::seqset::SequenceSet;

/// A secret (password, SASL data) whose `Debug` does not show it, so it
/// never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// A mailbox name as received (quoted, literal or atom), not decoded:
/// modified UTF-7 unless UTF8=ACCEPT is enabled (see [`crate::mutf7`]).
/// `INBOX` in any case is stored as `INBOX` (RFC 3501 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mailbox(pub Vec<u8>);

impl Mailbox {
    pub(crate) fn from_wire(mut v: Vec<u8>) -> Mailbox {
        if v.eq_ignore_ascii_case(b"INBOX") {
            v = b"INBOX".to_vec();
        }
        Mailbox(v)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == b"INBOX"
    }

    /// The name as UTF-8, if it is.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The name decoded from modified UTF-7.
    pub fn decode_mutf7(&self) -> Result<String, crate::mutf7::Mutf7Error> {
        crate::mutf7::decode(&self.0)
    }
}

/// A message flag (RFC 3501 §2.3.2). Keywords keep their case; system
/// flags are matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// `\Recent` (IMAP4rev1 only; never settable).
    Recent,
    /// `\*` in PERMANENTFLAGS: new keywords may be created.
    Wildcard,
    /// Another `\Name` (without the backslash).
    Extension(String),
    /// A keyword such as `$Forwarded` or `NonJunk`.
    Keyword(String),
}

impl Flag {
    /// A flag from its atom (`\Seen`, `$Junk`).
    pub fn from_atom(a: &str) -> Flag {
        let Some(name) = a.strip_prefix('\\') else {
            return Flag::Keyword(a.to_string());
        };
        match name.to_ascii_uppercase().as_str() {
            "SEEN" => Flag::Seen,
            "ANSWERED" => Flag::Answered,
            "FLAGGED" => Flag::Flagged,
            "DELETED" => Flag::Deleted,
            "DRAFT" => Flag::Draft,
            "RECENT" => Flag::Recent,
            "*" => Flag::Wildcard,
            _ => Flag::Extension(name.to_string()),
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Wildcard => f.write_str("\\*"),
            Flag::Extension(s) => write!(f, "\\{s}"),
            Flag::Keyword(s) => f.write_str(s),
        }
    }
}

/// A STATUS item (RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ, RFC 8438
/// SIZE, RFC 9051 DELETED, RFC 7889 APPENDLIMIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    HighestModSeq,
    Size,
    Deleted,
    AppendLimit,
}

impl StatusItem {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::Size => "SIZE",
            StatusItem::Deleted => "DELETED",
            StatusItem::AppendLimit => "APPENDLIMIT",
        }
    }

    pub(crate) fn from_word(w: &str) -> Option<StatusItem> {
        use StatusItem::*;
        [
            Messages,
            Recent,
            UidNext,
            UidValidity,
            Unseen,
            HighestModSeq,
            Size,
            Deleted,
            AppendLimit,
        ]
        .into_iter()
        .find(|i| i.as_str().eq_ignore_ascii_case(w))
    }
}

/// SELECT/EXAMINE parameters (RFC 7162).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `(CONDSTORE)`.
    pub condstore: bool,
    /// `(QRESYNC (...))`.
    pub qresync: Option<QResync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST selection options (RFC 5258, RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
}

/// LIST return options (RFC 5258, RFC 5819, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    Status(Vec<StatusItem>),
}

/// `LIST [(selection)] reference patterns [RETURN (options)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    pub selection: Vec<ListSelect>,
    pub reference: Mailbox,
    /// One or more patterns (`%` and `*` wildcards), as received.
    pub patterns: Vec<Vec<u8>>,
    pub returns: Vec<ListReturn>,
    /// Whether any LIST-EXTENDED syntax was used (selection options,
    /// a parenthesised pattern list or RETURN): the reply may then carry
    /// extended data items (RFC 5258 §3).
    pub extended: bool,
}

/// One message of APPEND (several with MULTIAPPEND, RFC 3502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub data: Vec<u8>,
    /// Sent as `~{n}` (RFC 3516 literal8): may hold NULs and binary.
    pub binary: bool,
}

/// SEARCH RETURN options (RFC 4731, RFC 5182).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
}

/// `MODSEQ` entry type (RFC 7162 §3.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    Private,
    Shared,
    All,
}

/// A search key (RFC 3501 §6.4.4 plus CONDSTORE `MODSEQ`, RFC 5032
/// `OLDER`/`YOUNGER`). Strings are as received; decode them with the
/// command's charset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// Several keys that must all match (the top level, or `( ... )`).
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    SequenceSet(SequenceSet),
    Uid(SequenceSet),
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    New,
    Old,
    Recent,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    Keyword(String),
    Unkeyword(String),
    Bcc(Vec<u8>),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    From(Vec<u8>),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    /// `HEADER name value`.
    Header(String, Vec<u8>),
    Before(Date),
    On(Date),
    Since(Date),
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Larger(u64),
    Smaller(u64),
    /// `OLDER n`: internal date more than n seconds ago.
    Older(u32),
    /// `YOUNGER n`.
    Younger(u32),
    /// `MODSEQ ["/flags/\\Seen" priv|shared|all] n`.
    ModSeq {
        entry: Option<(Vec<u8>, EntryType)>,
        modseq: u64,
    },
}

/// `SEARCH [RETURN (...)] [CHARSET x] keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCommand {
    /// `Some` when RETURN was given (answer with ESEARCH); an empty list
    /// means `RETURN ()`, i.e. ALL.
    pub returns: Option<Vec<SearchReturn>>,
    /// The charset, upper-cased.
    pub charset: Option<String>,
    /// The keys; `And` of the top-level keys (or the single key).
    pub criteria: SearchKey,
}

/// Which part of the text of a message section (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    Header,
    /// Field names, upper-cased.
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

/// `[1.2.HEADER.FIELDS (FROM)]`: empty `part` is the whole message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

impl fmt::Display for Section {
    /// The section spec as it goes between the brackets of a FETCH reply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.part.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        let Some(t) = &self.text else {
            return Ok(());
        };
        if !self.part.is_empty() {
            f.write_str(".")?;
        }
        let list = |f: &mut fmt::Formatter<'_>, v: &[String]| -> fmt::Result {
            f.write_str(" (")?;
            f.write_str(&v.join(" "))?;
            f.write_str(")")
        };
        match t {
            SectionText::Header => f.write_str("HEADER"),
            SectionText::HeaderFields(v) => {
                f.write_str("HEADER.FIELDS")?;
                list(f, v)
            }
            SectionText::HeaderFieldsNot(v) => {
                f.write_str("HEADER.FIELDS.NOT")?;
                list(f, v)
            }
            SectionText::Text => f.write_str("TEXT"),
            SectionText::Mime => f.write_str("MIME"),
        }
    }
}

/// A FETCH data item. The macros ALL, FAST and FULL are expanded at parse
/// time (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// `BODY` (the non-extensible BODYSTRUCTURE).
    Body,
    BodyStructure,
    Uid,
    ModSeq,
    /// `BODY[section]<origin.count>` / `BODY.PEEK[...]`.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<u32>,
    },
}

fn dotted(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

impl FetchAttr {
    /// The name this item has in the FETCH reply: `BODY.PEEK[x]<5.10>` is
    /// answered as `BODY[x]<5>`, `RFC822` as `RFC822`, and so on.
    pub fn response_name(&self) -> String {
        match self {
            FetchAttr::Envelope => "ENVELOPE".into(),
            FetchAttr::Flags => "FLAGS".into(),
            FetchAttr::InternalDate => "INTERNALDATE".into(),
            FetchAttr::Rfc822 => "RFC822".into(),
            FetchAttr::Rfc822Header => "RFC822.HEADER".into(),
            FetchAttr::Rfc822Size => "RFC822.SIZE".into(),
            FetchAttr::Rfc822Text => "RFC822.TEXT".into(),
            FetchAttr::Body => "BODY".into(),
            FetchAttr::BodyStructure => "BODYSTRUCTURE".into(),
            FetchAttr::Uid => "UID".into(),
            FetchAttr::ModSeq => "MODSEQ".into(),
            FetchAttr::BodySection {
                section, partial, ..
            } => match partial {
                Some((o, _)) => format!("BODY[{section}]<{o}>"),
                None => format!("BODY[{section}]"),
            },
            FetchAttr::Binary { part, partial, .. } => match partial {
                Some((o, _)) => format!("BINARY[{}]<{o}>", dotted(part)),
                None => format!("BINARY[{}]", dotted(part)),
            },
            FetchAttr::BinarySize { part } => format!("BINARY.SIZE[{}]", dotted(part)),
        }
    }

    /// Whether fetching this sets `\Seen` (BODY[…], BINARY[…], RFC822,
    /// RFC822.TEXT without PEEK).
    pub fn sets_seen(&self) -> bool {
        match self {
            FetchAttr::Rfc822 | FetchAttr::Rfc822Text => true,
            FetchAttr::BodySection { peek, .. } | FetchAttr::Binary { peek, .. } => !peek,
            _ => false,
        }
    }
}

/// `FETCH ... (CHANGEDSINCE n VANISHED)` (RFC 7162).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchModifiers {
    pub changed_since: Option<u64>,
    pub vanished: bool,
}

/// How STORE changes the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`.
    Replace,
    /// `+FLAGS`.
    Add,
    /// `-FLAGS`.
    Remove,
}

/// `[UID] STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCommand {
    pub uid: bool,
    pub set: SequenceSet,
    pub mode: StoreMode,
    pub silent: bool,
    pub flags: Vec<Flag>,
    pub unchanged_since: Option<u64>,
}

/// `ID` parameters: `None` for `ID NIL`.
pub type IdParams = Option<Vec<(String, Option<String>)>>;

/// What a command asks, one variant per command (UID forms are flags on
/// their variants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// `AUTHENTICATE mech [initial]` (RFC 4959 SASL-IR): the mechanism
    /// upper-cased; the initial response as sent (base64, `=` → empty).
    /// Send challenges with [`crate::continuation`] and read the client's
    /// lines with [`crate::CommandParser::parse_auth_line`].
    Authenticate {
        mechanism: String,
        initial: Option<Secret>,
    },
    Login {
        username: String,
        password: Secret,
    },
    Select {
        mailbox: Mailbox,
        params: SelectParams,
    },
    Examine {
        mailbox: Mailbox,
        params: SelectParams,
    },
    /// `CREATE name [(USE (\Sent ...))]` (RFC 6154): `special_use` holds
    /// the attributes without backslash.
    Create {
        mailbox: Mailbox,
        special_use: Vec<String>,
    },
    Delete(Mailbox),
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    Subscribe(Mailbox),
    Unsubscribe(Mailbox),
    List(ListCommand),
    Lsub {
        reference: Mailbox,
        pattern: Vec<u8>,
    },
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: Mailbox,
        messages: Vec<AppendMessage>,
    },
    Check,
    Close,
    Unselect,
    /// `EXPUNGE` (`None`) or `UID EXPUNGE set` (RFC 4315).
    Expunge(Option<SequenceSet>),
    Search {
        uid: bool,
        search: SearchCommand,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchAttr>,
        modifiers: FetchModifiers,
    },
    Store(StoreCommand),
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    /// IDLE: answer `+ idling`, then read lines with
    /// [`crate::CommandParser::parse_idle_done`].
    Idle,
    Namespace,
    /// Capability names, upper-cased.
    Enable(Vec<String>),
    Id(IdParams),
    GetQuota(Vec<u8>),
    GetQuotaRoot(Mailbox),
    SetQuota {
        root: Vec<u8>,
        limits: Vec<(String, u64)>,
    },
}

/// The session states of RFC 3501 §3 in which a command is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected,
}

impl CommandBody {
    /// The command name as Dovecot writes it in error texts (`UID FETCH`).
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            Capability => "CAPABILITY",
            Noop => "NOOP",
            Logout => "LOGOUT",
            StartTls => "STARTTLS",
            Authenticate { .. } => "AUTHENTICATE",
            Login { .. } => "LOGIN",
            Select { .. } => "SELECT",
            Examine { .. } => "EXAMINE",
            Create { .. } => "CREATE",
            Delete(_) => "DELETE",
            Rename { .. } => "RENAME",
            Subscribe(_) => "SUBSCRIBE",
            Unsubscribe(_) => "UNSUBSCRIBE",
            List(_) => "LIST",
            Lsub { .. } => "LSUB",
            Status { .. } => "STATUS",
            Append { .. } => "APPEND",
            Check => "CHECK",
            Close => "CLOSE",
            Unselect => "UNSELECT",
            Expunge(None) => "EXPUNGE",
            Expunge(Some(_)) => "UID EXPUNGE",
            Search { uid: false, .. } => "SEARCH",
            Search { uid: true, .. } => "UID SEARCH",
            Fetch { uid: false, .. } => "FETCH",
            Fetch { uid: true, .. } => "UID FETCH",
            Store(s) if s.uid => "UID STORE",
            Store(_) => "STORE",
            Copy { uid: false, .. } => "COPY",
            Copy { uid: true, .. } => "UID COPY",
            Move { uid: false, .. } => "MOVE",
            Move { uid: true, .. } => "UID MOVE",
            Idle => "IDLE",
            Namespace => "NAMESPACE",
            Enable(_) => "ENABLE",
            Id(_) => "ID",
            GetQuota(_) => "GETQUOTA",
            GetQuotaRoot(_) => "GETQUOTAROOT",
            SetQuota { .. } => "SETQUOTA",
        }
    }

    /// Whether the command may be used in `state` (RFC 3501 §6, RFC 9051).
    /// Commands of the selected state need a selected mailbox; those of
    /// the authenticated state are valid in the selected state too.
    pub fn allowed_in(&self, state: State) -> bool {
        use CommandBody::*;
        match self {
            Capability | Noop | Logout | Id(_) => true,
            StartTls | Authenticate { .. } | Login { .. } => state == State::NotAuthenticated,
            Check
            | Close
            | Unselect
            | Expunge(_)
            | Search { .. }
            | Fetch { .. }
            | Store(_)
            | Copy { .. }
            | Move { .. } => state == State::Selected,
            _ => state != State::NotAuthenticated,
        }
    }
}

/// A complete command: its tag and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}
