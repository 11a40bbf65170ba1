//! The authenticated and selected states, run by the process that has
//! become the user: mailbox management (LIST, LSUB, STATUS, CREATE,
//! DELETE, RENAME, SUBSCRIBE, APPEND), the selected mailbox (SELECT,
//! EXAMINE, FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, CLOSE, UNSELECT,
//! IDLE) and the session-wide ones (CAPABILITY, NOOP, CHECK, ID, ENABLE,
//! NAMESPACE, LOGOUT). After every command the selected mailbox is
//! synced and what others changed is reported before the tagged reply.

use crate::conn::{Conn, End};
use crate::fetch::{self, Meta};
use crate::list;
use crate::prelogin::MAX_BAD_COMMANDS;
use crate::search::{self, Facts};
use crate::Settings;
use imap_proto::{
    continuation, mutf7, Code, Command, CommandBody, Data, ESearch, FetchAttr, Flag, IdleLine,
    ListCommand, ListItem, ListReturn, ListSelect, Mailbox, SearchCommand, SearchReturn,
    SequenceSet, State, StatusItem, StatusResponse, StoreCommand, StoreMode, Value,
};
use login::{Stream, User};
use mailbox::folders::{FolderError, Folders, SEPARATOR};
use mailbox::imap::{self as view, Change, FlagOp, Selected};
use mailbox::location::{Format, Location, UserVars};
use std::borrow::Cow;
use std::time::Instant;

/// The capabilities after login.
pub fn capabilities() -> Vec<String> {
    [
        "IMAP4rev1",
        "SASL-IR",
        "LOGIN-REFERRALS",
        "ID",
        "ENABLE",
        "IDLE",
        "LITERAL+",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
        "UNSELECT",
        "CHILDREN",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "SPECIAL-USE",
        "ESEARCH",
        "SEARCHRES",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

const SYSTEM_FLAGS: [Flag; 5] = [
    Flag::Answered,
    Flag::Flagged,
    Flag::Deleted,
    Flag::Seen,
    Flag::Draft,
];

struct Open {
    name: String,
    mb: Selected,
    /// The keywords the client was last told of in FLAGS.
    keywords: Vec<String>,
}

impl Open {
    /// A new FLAGS and PERMANENTFLAGS when keywords were defined since
    /// the last ones (by this session's STORE or by another's), so the
    /// client learns them as Dovecot tells it (RFC 3501 7.2.6).
    fn announce_keywords(&mut self, conn: &mut Conn) {
        let now = self.mb.keywords();
        if now != self.keywords {
            flag_lists(conn, &now, self.mb.read_only());
            self.keywords = now;
        }
    }
}

/// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` for a mailbox
/// with these keywords.
fn flag_lists(conn: &mut Conn, keywords: &[String], read_only: bool) {
    let mut flags: Vec<Flag> = SYSTEM_FLAGS.to_vec();
    flags.extend(keywords.iter().cloned().map(Flag::Keyword));
    conn.data(&Data::Flags(flags.clone()));
    let mut permanent = flags;
    permanent.push(Flag::Wildcard);
    conn.status(
        &StatusResponse::ok(None, "Flags permitted.").with_code(Code::PermanentFlags(
            if read_only { Vec::new() } else { permanent },
        )),
    );
}

struct Session<'a> {
    s: &'a Settings,
    conn: Conn,
    folders: Folders,
    user: String,
    selected: Option<Open>,
    /// SEARCHRES: the last `SEARCH RETURN (SAVE)` result, as UIDs.
    saved: Vec<u32>,
    bad: u32,
}

/// Why a command failed, for the tagged reply.
struct No(StatusResponse);

type Reply = Result<StatusResponse, No>;

fn no(tag: &str, text: impl Into<String>) -> No {
    No(StatusResponse::no(Some(tag.to_string()), text))
}

fn ok(tag: &str, text: impl Into<String>) -> StatusResponse {
    StatusResponse::ok(Some(tag.to_string()), text)
}

/// The Maildir++ root of the user's mailboxes: mail_location, or
/// `~/Maildir` when it is empty (Dovecot's autodetection).
fn maildir_root(s: &Settings, user: &User) -> Result<std::path::PathBuf, String> {
    let spec = if s.mail_location.is_empty() {
        "maildir:~/Maildir".to_string()
    } else {
        s.mail_location.clone()
    };
    let vars = UserVars {
        user: user.name.clone(),
        home: Some(user.account.home.clone()),
    };
    let loc =
        Location::parse(&spec, &vars).map_err(|e| format!("mail_location {spec:?}: {e:?}"))?;
    if loc.format != Format::Maildir {
        return Err(format!(
            "mail_location {spec:?}: imapd serves Maildir mailboxes only (mbox: use pop3d)"
        ));
    }
    Ok(loc.inbox_path())
}

/// Serves the logged-in client to the end.
pub fn run(stream: Stream, pending: Vec<u8>, s: &Settings, user: &User) {
    let mut conn = Conn::new(stream, pending, s.idle, s.parser_config());
    let root = match maildir_root(s, user) {
        Ok(r) => r,
        Err(e) => {
            maillog::error!("imap({}): {e}", user.name);
            conn.status(&StatusResponse::bye(
                "Internal error occurred. Refer to server log for more information.",
            ));
            let _ = conn.flush();
            return;
        }
    };
    if let Err(e) = mailbox::maildir::make_maildir(&root) {
        maillog::error!("imap({}): create {}: {e}", user.name, root.display());
        conn.status(&StatusResponse::bye(
            "Internal error occurred. Refer to server log for more information.",
        ));
        let _ = conn.flush();
        return;
    }
    let folders = Folders::new(&root);
    auto_create(&folders, &user.name);
    let mut sess = Session {
        s,
        conn,
        folders,
        user: user.name.clone(),
        selected: None,
        saved: Vec::new(),
        bad: 0,
    };
    let end = sess.serve();
    let _ = sess.conn.flush();
    match end {
        End::Closed | End::Idle | End::Io(_) => {
            maillog::info!("imap({}): Disconnected: {end}", sess.user)
        }
    }
}

/// Dovecot's `auto = subscribe` for the special-use mailboxes.
fn auto_create(f: &Folders, user: &str) {
    for name in list::AUTO_CREATE {
        if !f.exists(name) {
            match f.create(name) {
                Ok(()) | Err(FolderError::Exists) => {}
                Err(e) => {
                    maillog::warning!("imap({user}): create mailbox {name}: {e}");
                    continue;
                }
            }
            if let Err(e) = f.set_subscribed(name, true) {
                maillog::warning!("imap({user}): subscribe {name}: {e}");
            }
        }
    }
}

/// A mailbox name from the wire (modified UTF-7) as UTF-8.
fn decode_name(m: &Mailbox) -> Option<String> {
    if m.is_inbox() {
        return Some("INBOX".into());
    }
    let n = m.decode_mutf7().ok()?;
    Some(n.trim_end_matches(SEPARATOR).to_string())
}

fn wire_name(name: &str) -> Vec<u8> {
    mutf7::encode(name).into_bytes()
}

impl Session<'_> {
    fn state(&self) -> State {
        if self.selected.is_some() {
            State::Selected
        } else {
            State::Authenticated
        }
    }

    fn serve(&mut self) -> End {
        loop {
            if let Err(e) = self.conn.flush() {
                return e;
            }
            let cmd = match self.conn.command() {
                Err(e) => return e,
                Ok(Err(e)) => {
                    self.conn.status(&e.response());
                    if self.too_many_bad() {
                        return End::Closed;
                    }
                    continue;
                }
                Ok(Ok(c)) => c,
            };
            if !cmd.body.allowed_in(self.state()) {
                let why = if self.state() == State::Authenticated
                    && cmd.body.allowed_in(State::Selected)
                {
                    "No mailbox selected."
                } else {
                    "Already logged in."
                };
                self.conn.status(&StatusResponse::bad(
                    Some(cmd.tag.clone()),
                    format!("Error in IMAP command {}: {why}", cmd.body.name()),
                ));
                if self.too_many_bad() {
                    return End::Closed;
                }
                continue;
            }
            let logout = matches!(cmd.body, CommandBody::Logout);
            // No EXPUNGE may be sent during FETCH, STORE or SEARCH.
            let expunge_ok = !matches!(
                cmd.body,
                CommandBody::Fetch { .. } | CommandBody::Store(_) | CommandBody::Search { .. }
            );
            let reply = match self.command(cmd) {
                Ok(r) => r,
                Err(e) => return e,
            };
            let reply = reply.unwrap_or_else(|No(r)| r);
            if !logout {
                self.report(expunge_ok);
            }
            self.conn.status(&reply);
            if logout {
                return End::Closed;
            }
        }
    }

    fn too_many_bad(&mut self) -> bool {
        self.bad += 1;
        if self.bad >= MAX_BAD_COMMANDS {
            self.conn
                .status(&StatusResponse::bye("Too many invalid IMAP commands."));
            return true;
        }
        false
    }

    /// Syncs the selected mailbox and sends what changed.
    fn report(&mut self, allow_expunge: bool) {
        let Some(open) = &mut self.selected else {
            return;
        };
        let changes = match open.mb.sync(allow_expunge) {
            Ok(c) => c,
            Err(e) => {
                maillog::warning!("imap({}): sync {}: {e}", self.user, open.name);
                return;
            }
        };
        open.announce_keywords(&mut self.conn);
        for c in changes {
            match c {
                Change::Expunge { seq, .. } => self.conn.data(&Data::Expunge(seq)),
                Change::Exists(n) => {
                    self.conn.data(&Data::Exists(n));
                    let recent = open.mb.messages().iter().filter(|m| m.recent).count();
                    self.conn.data(&Data::Recent(recent as u32));
                }
                Change::Flags { seq } => {
                    if let Some(m) = open.mb.messages().get(seq as usize - 1) {
                        let items = vec![
                            (
                                Cow::Borrowed("FLAGS"),
                                Value::flags(&fetch::flags_of(m, true)),
                            ),
                            (Cow::Borrowed("UID"), Value::Number(u64::from(m.uid))),
                        ];
                        self.conn.data(&Data::Fetch { seq, items });
                    }
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) -> Result<Reply, End> {
        let tag = cmd.tag.as_str();
        Ok(match cmd.body {
            CommandBody::Capability => {
                self.conn.data(&Data::Capability(capabilities()));
                Ok(ok(tag, "Capability completed."))
            }
            CommandBody::Noop => Ok(ok(tag, "NOOP completed.")),
            CommandBody::Check => Ok(ok(tag, "Check completed.")),
            CommandBody::Logout => {
                self.conn.status(&StatusResponse::bye("Logging out"));
                maillog::info!("imap({}): Logged out", self.user);
                Ok(ok(tag, "Logout completed."))
            }
            CommandBody::Id(_) => {
                self.conn.data(&Data::Id(crate::server_id()));
                Ok(ok(tag, "ID completed."))
            }
            CommandBody::Enable(_) => {
                // Nothing this server can enable yet (CONDSTORE, QRESYNC,
                // UTF8=ACCEPT and IMAP4rev2 are not offered).
                self.conn.data(&Data::Enabled(Vec::new()));
                Ok(ok(tag, "Enabled."))
            }
            CommandBody::Namespace => {
                self.conn.data(&Data::Namespace {
                    personal: vec![(String::new(), Some(SEPARATOR))],
                    other: Vec::new(),
                    shared: Vec::new(),
                });
                Ok(ok(tag, "Namespace completed."))
            }
            CommandBody::Select { mailbox, .. } => self.select(tag, &mailbox, false),
            CommandBody::Examine { mailbox, .. } => self.select(tag, &mailbox, true),
            CommandBody::Create { mailbox, .. } => self.create(tag, &mailbox),
            CommandBody::Delete(m) => self.delete(tag, &m),
            CommandBody::Rename { from, to } => self.rename(tag, &from, &to),
            CommandBody::Subscribe(m) => self.subscribe(tag, &m, true),
            CommandBody::Unsubscribe(m) => self.subscribe(tag, &m, false),
            CommandBody::List(l) => self.list(tag, &l),
            CommandBody::Lsub { reference, pattern } => self.lsub(tag, &reference, &pattern),
            CommandBody::Status { mailbox, items } => self.status(tag, &mailbox, &items),
            CommandBody::Append { mailbox, messages } => self.append(tag, &mailbox, messages),
            CommandBody::Close => {
                if let Some(open) = &mut self.selected {
                    if !open.mb.read_only() {
                        if let Err(e) = open.mb.expunge(None) {
                            maillog::warning!("imap({}): close: expunge: {e}", self.user);
                        }
                    }
                }
                self.selected = None;
                Ok(ok(tag, "Close completed."))
            }
            CommandBody::Unselect => {
                self.selected = None;
                Ok(ok(tag, "Unselect completed."))
            }
            CommandBody::Expunge(uids) => self.expunge(tag, uids.as_ref()),
            CommandBody::Search { uid, search } => self.search(tag, uid, &search),
            CommandBody::Fetch {
                uid, set, items, ..
            } => self.fetch(tag, uid, &set, &items)?,
            CommandBody::Store(st) => self.store(tag, &st)?,
            CommandBody::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, false),
            CommandBody::Move { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, true),
            CommandBody::Idle => self.idle(tag)?,
            CommandBody::GetQuota(_)
            | CommandBody::GetQuotaRoot(_)
            | CommandBody::SetQuota { .. } => Err(no(tag, "Quota not enabled.")),
            CommandBody::StartTls
            | CommandBody::Authenticate { .. }
            | CommandBody::Login { .. } => Err(No(StatusResponse::bad(
                Some(tag.to_string()),
                "Error in IMAP command: Already logged in.",
            ))),
        })
    }

    fn mailbox_path(&self, tag: &str, m: &Mailbox) -> Result<(String, std::path::PathBuf), No> {
        let name = decode_name(m).ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        match self.folders.path(&name) {
            Ok(p) => Ok((name, p)),
            Err(_) => Err(no(tag, format!("Invalid mailbox name: {name}"))),
        }
    }

    fn missing(tag: &str, name: &str, trycreate: bool) -> No {
        let r = StatusResponse::no(
            Some(tag.to_string()),
            format!("Mailbox doesn't exist: {name}"),
        );
        No(r.with_code(if trycreate {
            Code::TryCreate
        } else {
            Code::Nonexistent
        }))
    }

    fn select(&mut self, tag: &str, m: &Mailbox, read_only: bool) -> Reply {
        if self.selected.take().is_some() {
            self.conn.status(
                &StatusResponse::ok(None, "Previous mailbox closed.").with_code(Code::Closed),
            );
        }
        let (name, path) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, false));
        }
        let mb = Selected::open(&path, read_only).map_err(|e| {
            maillog::error!("imap({}): open {name}: {e}", self.user);
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        })?;
        let keywords = mb.keywords();
        flag_lists(&mut self.conn, &keywords, read_only);
        let msgs = mb.messages();
        self.conn.data(&Data::Exists(msgs.len() as u32));
        self.conn.data(&Data::Recent(
            msgs.iter().filter(|m| m.recent).count() as u32
        ));
        if let Some(i) = msgs
            .iter()
            .position(|m| !m.flags.contains(mailbox::store::Flags::SEEN))
        {
            self.conn.status(
                &StatusResponse::ok(None, "First unseen.").with_code(Code::Unseen(i as u32 + 1)),
            );
        }
        self.conn.status(
            &StatusResponse::ok(None, "UIDs valid").with_code(Code::UidValidity(mb.uid_validity())),
        );
        self.conn.status(
            &StatusResponse::ok(None, "Predicted next UID").with_code(Code::UidNext(mb.uid_next())),
        );
        self.selected = Some(Open { name, mb, keywords });
        Ok(ok(tag, "Select completed.").with_code(if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        }))
    }

    fn folder_error(&self, tag: &str, name: &str, e: FolderError) -> No {
        match e {
            FolderError::Exists => No(StatusResponse::no(
                Some(tag.to_string()),
                "Mailbox already exists",
            )
            .with_code(Code::AlreadyExists)),
            FolderError::NotFound => Self::missing(tag, name, false),
            FolderError::Inbox => no(tag, "INBOX can't be deleted."),
            FolderError::Invalid(_) => no(tag, format!("Invalid mailbox name: {name}")),
            FolderError::Store(e) => {
                maillog::error!("imap({}): mailbox {name}: {e}", self.user);
                no(
                    tag,
                    "Internal error occurred. Refer to server log for more information.",
                )
            }
        }
    }

    fn create(&mut self, tag: &str, m: &Mailbox) -> Reply {
        let name = decode_name(m).ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(self.folder_error(tag, &name, FolderError::Exists));
        }
        self.folders
            .create(&name)
            .map_err(|e| self.folder_error(tag, &name, e))?;
        Ok(ok(tag, "Create completed."))
    }

    fn delete(&mut self, tag: &str, m: &Mailbox) -> Reply {
        let name = decode_name(m).ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        if self.selected.as_ref().is_some_and(|o| o.name == name) {
            self.selected = None;
        }
        self.folders
            .delete(&name)
            .map_err(|e| self.folder_error(tag, &name, e))?;
        Ok(ok(tag, "Delete completed."))
    }

    fn rename(&mut self, tag: &str, from: &Mailbox, to: &Mailbox) -> Reply {
        let f = decode_name(from).ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        let t = decode_name(to).ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        self.folders
            .rename(&f, &t)
            .map_err(|e| self.folder_error(tag, &f, e))?;
        Ok(ok(tag, "Rename completed."))
    }

    fn subscribe(&mut self, tag: &str, m: &Mailbox, on: bool) -> Reply {
        let name = decode_name(m).ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        self.folders
            .set_subscribed(&name, on)
            .map_err(|e| self.folder_error(tag, &name, e))?;
        Ok(ok(
            tag,
            if on {
                "Subscribe completed."
            } else {
                "Unsubscribe completed."
            },
        ))
    }

    fn list_names(&self, tag: &str) -> Result<Vec<String>, No> {
        self.folders
            .list()
            .map_err(|e| self.folder_error(tag, "", e))
    }

    fn list(&mut self, tag: &str, l: &ListCommand) -> Reply {
        let reference = String::from_utf8_lossy(&l.reference.0).into_owned();
        if l.patterns.len() == 1 && l.patterns[0].is_empty() && !l.extended {
            // The hierarchy delimiter and root (RFC 3501 6.3.8).
            self.conn.data(&Data::List(ListItem {
                attributes: vec!["\\Noselect".into()],
                delimiter: Some(SEPARATOR),
                mailbox: Vec::new(),
                extended: Vec::new(),
            }));
            return Ok(ok(tag, "List completed."));
        }
        let patterns: Vec<String> = l
            .patterns
            .iter()
            .map(|p| {
                let p =
                    mutf7::decode(p).unwrap_or_else(|_| String::from_utf8_lossy(p).into_owned());
                format!("{reference}{p}")
            })
            .collect();
        let subscribed_only = l.selection.contains(&ListSelect::Subscribed);
        let special_only = l.selection.contains(&ListSelect::SpecialUse);
        let want_subscribed = subscribed_only || l.returns.contains(&ListReturn::Subscribed);
        let status_items: Option<&Vec<StatusItem>> = l.returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items),
            _ => None,
        });
        let subs = if want_subscribed {
            self.folders
                .subscriptions()
                .map_err(|e| self.folder_error(tag, "", e))?
        } else {
            Vec::new()
        };
        let mut names = self.list_names(tag)?;
        if subscribed_only {
            for s in &subs {
                if !names.contains(s) {
                    names.push(s.clone());
                }
            }
        }
        for name in names {
            if !patterns.iter().any(|p| list::matches(p, &name, SEPARATOR)) {
                continue;
            }
            let subscribed = subs.contains(&name);
            if subscribed_only && !subscribed {
                continue;
            }
            let special = list::special_use(&name);
            if special_only && special.is_none() {
                continue;
            }
            let exists = self.folders.exists(&name);
            let mut attrs = Vec::new();
            if !exists {
                attrs.push("\\NonExistent".to_string());
            } else if self.folders.has_children(&name) {
                attrs.push("\\HasChildren".into());
            } else {
                attrs.push("\\HasNoChildren".into());
            }
            if subscribed && want_subscribed {
                attrs.push("\\Subscribed".into());
            }
            if let Some(su) = special {
                attrs.push(su.into());
            }
            self.conn.data(&Data::List(ListItem {
                attributes: attrs,
                delimiter: Some(SEPARATOR),
                mailbox: wire_name(&name),
                extended: Vec::new(),
            }));
            if let (Some(items), true) = (status_items, exists) {
                if let Ok(p) = self.folders.path(&name) {
                    if let Ok(st) = view::status(&p) {
                        self.conn.data(&status_data(&name, &st, items));
                    }
                }
            }
        }
        Ok(ok(tag, "List completed."))
    }

    fn lsub(&mut self, tag: &str, reference: &Mailbox, pattern: &[u8]) -> Reply {
        let reference = String::from_utf8_lossy(&reference.0).into_owned();
        let p = mutf7::decode(pattern)
            .unwrap_or_else(|_| String::from_utf8_lossy(pattern).into_owned());
        let pattern = format!("{reference}{p}");
        let subs = self
            .folders
            .subscriptions()
            .map_err(|e| self.folder_error(tag, "", e))?;
        for name in subs {
            if list::matches(&pattern, &name, SEPARATOR) {
                let mut attrs = Vec::new();
                if !self.folders.exists(&name) {
                    attrs.push("\\Noselect".to_string());
                }
                self.conn.data(&Data::Lsub(ListItem {
                    attributes: attrs,
                    delimiter: Some(SEPARATOR),
                    mailbox: wire_name(&name),
                    extended: Vec::new(),
                }));
            }
        }
        Ok(ok(tag, "Lsub completed."))
    }

    fn status(&mut self, tag: &str, m: &Mailbox, items: &[StatusItem]) -> Reply {
        let (name, path) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, false));
        }
        let st = view::status(&path).map_err(|e| {
            maillog::error!("imap({}): status {name}: {e}", self.user);
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        })?;
        self.conn.data(&status_data(&name, &st, items));
        Ok(ok(tag, "Status completed."))
    }

    fn append(
        &mut self,
        tag: &str,
        m: &Mailbox,
        messages: Vec<imap_proto::AppendMessage>,
    ) -> Reply {
        let (name, path) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, true));
        }
        let mut uids = Vec::new();
        let mut validity = 0;
        for msg in messages {
            if msg.data.is_empty() {
                return Err(no(tag, "Can't save a zero byte message."));
            }
            let (flags, keywords) = fetch::split_flags(&msg.flags);
            let date = msg.date.map(|d| d.to_unix());
            let (v, uid) = view::append(&path, &msg.data, flags, &keywords, date).map_err(|e| {
                maillog::error!("imap({}): append to {name}: {e}", self.user);
                no(
                    tag,
                    "Internal error occurred. Refer to server log for more information.",
                )
            })?;
            validity = v;
            uids.push(uid);
        }
        let set = SequenceSet::from_ids(&uids);
        Ok(ok(tag, "Append completed.")
            .with_code(Code::Other(format!("APPENDUID {validity} {set}"))))
    }

    /// The view indexes a command's set names (sequence numbers or UIDs);
    /// a sequence number past the end is an error.
    fn resolve(&self, tag: &str, uid: bool, set: &SequenceSet) -> Result<Vec<usize>, No> {
        let Some(open) = &self.selected else {
            return Err(no(tag, "No mailbox selected."));
        };
        let msgs = open.mb.messages();
        if uid {
            let largest = msgs.last().map_or(0, |m| m.uid);
            return Ok(msgs
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    if set.is_saved() {
                        self.saved.contains(&m.uid)
                    } else {
                        set.contains(m.uid, largest)
                    }
                })
                .map(|(i, _)| i)
                .collect());
        }
        if set.is_saved() {
            return Ok(msgs
                .iter()
                .enumerate()
                .filter(|(_, m)| self.saved.contains(&m.uid))
                .map(|(i, _)| i)
                .collect());
        }
        let largest = msgs.len() as u32;
        let mut out = Vec::new();
        for (a, b) in set.resolve(largest) {
            if a == 0 || b > largest || a > largest {
                return Err(No(StatusResponse::bad(
                    Some(tag.to_string()),
                    "Error in IMAP command: Invalid messageset",
                )));
            }
            out.extend((a..=b).map(|n| n as usize - 1));
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn expunge(&mut self, tag: &str, uids: Option<&SequenceSet>) -> Reply {
        let only: Option<Vec<u32>> = match uids {
            Some(set) => Some(
                self.resolve(tag, true, set)?
                    .into_iter()
                    .filter_map(|i| self.selected.as_ref()?.mb.messages().get(i).map(|m| m.uid))
                    .collect(),
            ),
            None => None,
        };
        let user = self.user.clone();
        let Some(open) = &mut self.selected else {
            return Err(no(tag, "No mailbox selected."));
        };
        if open.mb.read_only() {
            return Err(no(tag, "Mailbox is read-only."));
        }
        let seqs = open.mb.expunge(only.as_deref()).map_err(|e| {
            maillog::error!("imap({user}): expunge: {e}");
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        })?;
        for s in seqs {
            self.conn.data(&Data::Expunge(s));
        }
        Ok(ok(tag, "Expunge completed."))
    }

    fn search(&mut self, tag: &str, uid: bool, cmd: &SearchCommand) -> Reply {
        if let Some(cs) = &cmd.charset {
            if cs != "UTF-8" && cs != "US-ASCII" {
                return Err(No(StatusResponse::no(
                    Some(tag.to_string()),
                    "Unsupported charset",
                )
                .with_code(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]))));
            }
        }
        let Some(open) = &mut self.selected else {
            return Err(no(tag, "No mailbox selected."));
        };
        let content = search::needs_content(&cmd.criteria);
        let largest_seq = open.mb.messages().len() as u32;
        let largest_uid = open.mb.messages().last().map_or(0, |m| m.uid);
        let mut hits: Vec<(u32, u32)> = Vec::new();
        for i in 0..open.mb.messages().len() {
            let m = open.mb.messages()[i].clone();
            if m.expunged {
                continue;
            }
            let internal = open.mb.internal_date(i).unwrap_or(0);
            let size = open.mb.size(i).unwrap_or(0);
            let mb = &mut open.mb;
            let mut load = || if content { mb.read(i).ok() } else { None };
            let mut f = Facts {
                seq: i as u32 + 1,
                largest_seq,
                largest_uid,
                msg: &m,
                internal_date: internal,
                size,
                load: &mut load,
                content: None,
                saved: &self.saved,
            };
            if search::matches(&cmd.criteria, &mut f) {
                hits.push((i as u32 + 1, m.uid));
            }
        }
        let ids: Vec<u32> = hits.iter().map(|&(s, u)| if uid { u } else { s }).collect();
        match &cmd.returns {
            None => self
                .conn
                .data(&Data::search_reply(tag, uid, &ids, None, self.conn.opts)),
            Some(r) => {
                let all = r.is_empty() || r.contains(&SearchReturn::All);
                if r.contains(&SearchReturn::Save) {
                    self.saved = hits.iter().map(|&(_, u)| u).collect();
                }
                let only_save = r.len() == 1 && r[0] == SearchReturn::Save;
                if !only_save {
                    self.conn.data(&Data::ESearch(ESearch {
                        tag: Some(tag.to_string()),
                        uid,
                        min: r
                            .contains(&SearchReturn::Min)
                            .then(|| ids.first().copied())
                            .flatten(),
                        max: r
                            .contains(&SearchReturn::Max)
                            .then(|| ids.last().copied())
                            .flatten(),
                        count: r.contains(&SearchReturn::Count).then_some(ids.len() as u32),
                        all: (all && !ids.is_empty()).then(|| SequenceSet::from_ids(&ids)),
                        modseq: None,
                    }));
                }
            }
        }
        Ok(ok(tag, "Search completed."))
    }

    fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        asked: &[FetchAttr],
    ) -> Result<Reply, End> {
        let idxs = match self.resolve(tag, uid, set) {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let mut items: Vec<FetchAttr> = asked.to_vec();
        if uid && !items.contains(&FetchAttr::Uid) {
            items.insert(0, FetchAttr::Uid);
        }
        let sets_seen = items.iter().any(FetchAttr::sets_seen);
        let needs = fetch::needs_content(&items);
        let user = self.user.clone();
        for i in idxs {
            let Some(open) = &mut self.selected else {
                break;
            };
            let mut m = open.mb.messages()[i].clone();
            if m.expunged {
                continue;
            }
            let mut flags_changed = false;
            if sets_seen && !open.mb.read_only() && !m.flags.contains(mailbox::store::Flags::SEEN) {
                match open
                    .mb
                    .store(i, FlagOp::Add, mailbox::store::Flags::SEEN, &[])
                {
                    Ok((f, k)) => {
                        m.flags = f;
                        m.keywords = k;
                        flags_changed = true;
                    }
                    Err(e) => maillog::warning!("imap({user}): set \\Seen: {e}"),
                }
            }
            let content = if needs {
                match open.mb.read(i) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        maillog::warning!("imap({user}): read UID {}: {e}", m.uid);
                        continue;
                    }
                }
            } else {
                None
            };
            let meta = Meta {
                msg: &m,
                rev1: true,
                internal_date: if items.contains(&FetchAttr::InternalDate) {
                    open.mb.internal_date(i).unwrap_or(0)
                } else {
                    0
                },
                size: if items.contains(&FetchAttr::Rfc822Size) {
                    open.mb.size(i).unwrap_or(0)
                } else {
                    0
                },
            };
            let mut out = fetch::items(&items, &meta, content.as_deref());
            if flags_changed && !items.contains(&FetchAttr::Flags) {
                out.push((
                    Cow::Borrowed("FLAGS"),
                    Value::flags(&fetch::flags_of(&m, true)),
                ));
            }
            self.conn.data(&Data::Fetch {
                seq: i as u32 + 1,
                items: out,
            });
            self.conn.maybe_flush()?;
        }
        Ok(Ok(ok(tag, "Fetch completed.")))
    }

    fn store(&mut self, tag: &str, st: &StoreCommand) -> Result<Reply, End> {
        let idxs = match self.resolve(tag, st.uid, &st.set) {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let (flags, keywords) = fetch::split_flags(&st.flags);
        let op = match st.mode {
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
            StoreMode::Replace => FlagOp::Replace,
        };
        let user = self.user.clone();
        let Some(open) = &mut self.selected else {
            return Ok(Err(no(tag, "No mailbox selected.")));
        };
        if open.mb.read_only() {
            return Ok(Err(no(tag, "Mailbox is read-only.")));
        }
        for i in idxs {
            let mut m = open.mb.messages()[i].clone();
            if m.expunged {
                continue;
            }
            match open.mb.store(i, op, flags, &keywords) {
                Ok((f, k)) => {
                    m.flags = f;
                    m.keywords = k;
                    open.announce_keywords(&mut self.conn);
                }
                Err(e) => {
                    maillog::error!("imap({user}): store: {e}");
                    return Ok(Err(no(
                        tag,
                        "Internal error occurred. Refer to server log for more information.",
                    )));
                }
            }
            if !st.silent {
                let mut items = vec![(
                    Cow::Borrowed("FLAGS"),
                    Value::flags(&fetch::flags_of(&m, true)),
                )];
                if st.uid {
                    items.push((Cow::Borrowed("UID"), Value::Number(u64::from(m.uid))));
                }
                self.conn.data(&Data::Fetch {
                    seq: i as u32 + 1,
                    items,
                });
                self.conn.maybe_flush()?;
            }
        }
        Ok(Ok(ok(tag, "Store completed.")))
    }

    fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        m: &Mailbox,
        moving: bool,
    ) -> Reply {
        let idxs = self.resolve(tag, uid, set)?;
        let (name, path) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, true));
        }
        let user = self.user.clone();
        let Some(open) = &mut self.selected else {
            return Err(no(tag, "No mailbox selected."));
        };
        if moving && open.mb.read_only() {
            return Err(no(tag, "Mailbox is read-only."));
        }
        let idxs: Vec<usize> = idxs
            .into_iter()
            .filter(|&i| !open.mb.messages()[i].expunged)
            .collect();
        let internal = || {
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        };
        let (validity, pairs) = open.mb.copy_to(&idxs, &path).map_err(|e| {
            maillog::error!("imap({user}): copy to {name}: {e}");
            internal()
        })?;
        let code = (!pairs.is_empty()).then(|| {
            let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
            Code::Other(format!(
                "COPYUID {validity} {} {}",
                imap_proto::compress_ids(&src),
                imap_proto::compress_ids(&dst)
            ))
        });
        if !moving {
            let r = ok(tag, "Copy completed.");
            return Ok(match code {
                Some(c) => r.with_code(c),
                None => r,
            });
        }
        if let Some(c) = code {
            self.conn
                .status(&StatusResponse::ok(None, "Moved UIDs.").with_code(c));
        }
        let seqs = open.mb.remove(&idxs).map_err(|e| {
            maillog::error!("imap({user}): move: expunge: {e}");
            internal()
        })?;
        for s in seqs {
            self.conn.data(&Data::Expunge(s));
        }
        Ok(ok(tag, "Move completed."))
    }

    fn idle(&mut self, tag: &str) -> Result<Reply, End> {
        self.conn.raw(&continuation("idling"));
        self.conn.flush()?;
        let notify = self.s.idle_notify;
        let mut last_notice = Instant::now();
        let limit = self.s.idle;
        let mut session = self.selected.take();
        let user = self.user.clone();
        let line = self.conn.idle_line(limit, |conn| {
            if let Some(open) = &mut session {
                match open.mb.sync(true) {
                    Ok(changes) => {
                        open.announce_keywords(conn);
                        for c in changes {
                            report_one(conn, &open.mb, c);
                        }
                    }
                    Err(e) => maillog::warning!("imap({user}): idle sync: {e}"),
                }
            }
            if last_notice.elapsed() >= notify {
                conn.status(&StatusResponse::ok(None, "Still here"));
                last_notice = Instant::now();
            }
            conn.flush()
        });
        self.selected = session.take();
        match line? {
            Ok(IdleLine::Done) | Ok(IdleLine::NeedsMoreData) => Ok(Ok(ok(tag, "Idle completed."))),
            Err(_) => Ok(Err(No(StatusResponse::bad(
                Some(tag.to_string()),
                "Expected DONE.",
            )))),
        }
    }
}

fn report_one(conn: &mut Conn, mb: &Selected, c: Change) {
    match c {
        Change::Expunge { seq, .. } => conn.data(&Data::Expunge(seq)),
        Change::Exists(n) => {
            conn.data(&Data::Exists(n));
            let recent = mb.messages().iter().filter(|m| m.recent).count();
            conn.data(&Data::Recent(recent as u32));
        }
        Change::Flags { seq } => {
            if let Some(m) = mb.messages().get(seq as usize - 1) {
                conn.data(&Data::Fetch {
                    seq,
                    items: vec![
                        (
                            Cow::Borrowed("FLAGS"),
                            Value::flags(&fetch::flags_of(m, true)),
                        ),
                        (Cow::Borrowed("UID"), Value::Number(u64::from(m.uid))),
                    ],
                });
            }
        }
    }
}

fn status_data(name: &str, st: &view::MailboxStatus, items: &[StatusItem]) -> Data<'static> {
    let values = items
        .iter()
        .filter_map(|i| {
            let v = match i {
                StatusItem::Messages => u64::from(st.messages),
                StatusItem::Recent => u64::from(st.recent),
                StatusItem::UidNext => u64::from(st.uid_next),
                StatusItem::UidValidity => u64::from(st.uid_validity),
                StatusItem::Unseen => u64::from(st.unseen),
                StatusItem::Size => st.size,
                StatusItem::Deleted => u64::from(st.deleted),
                StatusItem::HighestModSeq | StatusItem::AppendLimit => return None,
            };
            Some((*i, v))
        })
        .collect();
    Data::Status {
        mailbox: wire_name(name),
        items: values,
    }
}
