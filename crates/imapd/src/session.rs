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
    SequenceSet, State, Status, StatusItem, StatusResponse, StoreCommand, StoreMode, Value,
};
use login::{Stream, User};
use mailbox::folders::{FolderError, Folders, MailboxPath};
use mailbox::imap::{self as view, Change, FlagOp, Selected};
use mailbox::location::{Format, Location, UserVars};
use std::borrow::Cow;
use std::time::Instant;

/// The capabilities after login.
pub fn capabilities() -> Vec<String> {
    [
        "IMAP4rev1",
        "IMAP4rev2",
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
        "CONDSTORE",
        "QRESYNC",
        "QUOTA",
        "QUOTA=RES-STORAGE",
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

/// How long a count of the user's mailboxes' bytes serves APPEND and
/// COPY before they count again.
const QUOTA_RECOUNT: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// CONDSTORE enabled (by ENABLE or a CONDSTORE-enabling command):
    /// FETCH replies with FLAGS carry MODSEQ.
    condstore: bool,
    /// ENABLE QRESYNC: expunges are sent as VANISHED.
    qresync: bool,
    /// The bytes the user's mailboxes took when last counted, and when.
    quota_used: Option<(u64, Instant)>,
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

/// The user's mailboxes from mail_location (`~/Maildir` when it is
/// empty, Dovecot's autodetection): a Maildir++ root, or an mbox
/// directory with its INBOX= file (made if missing).
fn user_folders(s: &Settings, user: &User) -> Result<Folders, String> {
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
    match loc.format {
        Format::Maildir => {
            let root = loc.inbox_path();
            mailbox::maildir::make_maildir(&root)
                .map_err(|e| format!("create {}: {e}", root.display()))?;
            Ok(Folders::new(&root))
        }
        Format::Mbox => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&loc.root)
                .map_err(|e| format!("create {}: {e}", loc.root.display()))?;
            Ok(Folders::new_mbox(
                &loc.root,
                &loc.inbox_path(),
                loc.index_dir().as_deref(),
            ))
        }
    }
}

/// Serves the logged-in client to the end: answers its login command
/// (tagged `tag`) once the user's folders are ready, as Dovecot's imap
/// process does, then every command after it.
pub fn run(stream: Stream, tag: &str, pending: Vec<u8>, s: &Settings, user: &User) {
    let mut conn = Conn::new(stream, pending, s.idle, s.parser_config());
    let folders = match user_folders(s, user) {
        Ok(f) => f,
        Err(e) => {
            maillog::error!("imap({}): {e}", user.name);
            conn.status(&StatusResponse::bye(
                "Internal error occurred. Refer to server log for more information.",
            ));
            let _ = conn.flush();
            return;
        }
    };
    auto_create(&folders, &user.name);
    conn.status(
        &StatusResponse::ok(Some(tag.to_string()), "Logged in")
            .with_code(Code::Capability(capabilities())),
    );
    let mut sess = Session {
        s,
        conn,
        folders,
        user: user.name.clone(),
        selected: None,
        saved: Vec::new(),
        bad: 0,
        condstore: false,
        qresync: false,
        quota_used: None,
    };
    let end = sess.serve();
    // A client gone in the middle of a command (a FETCH that set \Seen)
    // leaves changes the command's end would have written (on an mbox,
    // the flags themselves): write them now.
    if let Some(open) = &mut sess.selected {
        open.mb.commit();
    }
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
/// Mailbox names are UTF-8 on the wire once the client enabled
/// IMAP4rev2 (RFC 9051 §5.1), modified UTF-7 before. One session per
/// process, so a process-wide switch.
static UTF8_NAMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn utf8_names() -> bool {
    UTF8_NAMES.load(std::sync::atomic::Ordering::Relaxed)
}

fn decode_name(m: &Mailbox, sep: char) -> Option<String> {
    if m.is_inbox() {
        return Some("INBOX".into());
    }
    let n = if utf8_names() {
        m.as_str()?.to_string()
    } else {
        m.decode_mutf7().ok()?
    };
    Some(n.trim_end_matches(sep).to_string())
}

/// A LIST pattern as received, decoded as the names are.
fn decode_pattern(p: &[u8]) -> String {
    if utf8_names() {
        return String::from_utf8_lossy(p).into_owned();
    }
    mutf7::decode(p).unwrap_or_else(|_| String::from_utf8_lossy(p).into_owned())
}

fn wire_name(name: &str) -> Vec<u8> {
    if utf8_names() {
        return name.as_bytes().to_vec();
    }
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
            // Bad commands are counted in a row, a command answered BAD
            // among them (Dovecot's bad_counter and param_error).
            if reply.status == Status::Bad {
                if self.too_many_bad() {
                    return End::Closed;
                }
            } else {
                self.bad = 0;
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
        let modes = Modes {
            condstore: self.condstore,
            qresync: self.qresync,
        };
        report_changes(&mut self.conn, &open.mb, changes, modes);
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
            CommandBody::Enable(caps) => {
                // CONDSTORE and QRESYNC (which implies CONDSTORE); not
                // UTF8=ACCEPT or IMAP4rev2.
                let mut enabled = Vec::new();
                for c in caps {
                    match c.as_str() {
                        "CONDSTORE" => self.condstore = true,
                        // RFC 9051: no RECENT or \Recent, SEARCH answered
                        // with ESEARCH, mailbox names in UTF-8.
                        "IMAP4REV2" => {
                            self.conn.opts.rev2 = true;
                            self.conn.opts.utf8 = true;
                            UTF8_NAMES.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        "QRESYNC" => {
                            self.qresync = true;
                            self.condstore = true;
                        }
                        _ => continue,
                    }
                    if !enabled.contains(&c) {
                        enabled.push(c);
                    }
                }
                self.conn.data(&Data::Enabled(enabled));
                Ok(ok(tag, "Enabled."))
            }
            CommandBody::Namespace => {
                self.conn.data(&Data::Namespace {
                    personal: vec![(String::new(), Some(self.folders.separator()))],
                    other: Vec::new(),
                    shared: Vec::new(),
                });
                Ok(ok(tag, "Namespace completed."))
            }
            CommandBody::Select { mailbox, params } => self.select(tag, &mailbox, &params, false),
            CommandBody::Examine { mailbox, params } => self.select(tag, &mailbox, &params, true),
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
                uid,
                set,
                items,
                modifiers,
            } => self.fetch(tag, uid, &set, &items, modifiers)?,
            CommandBody::Store(st) => self.store(tag, &st)?,
            CommandBody::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, false),
            CommandBody::Move { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, true),
            CommandBody::Idle => self.idle(tag)?,
            CommandBody::GetQuota(root) => self.get_quota(tag, &root),
            CommandBody::GetQuotaRoot(m) => self.get_quota_root(tag, &m),
            CommandBody::SetQuota { .. } => Err(No(StatusResponse::no(
                Some(tag.to_string()),
                "Quota can't be changed over IMAP.",
            )
            .with_code(Code::NoPerm))),
            CommandBody::StartTls
            | CommandBody::Authenticate { .. }
            | CommandBody::Login { .. } => Err(No(StatusResponse::bad(
                Some(tag.to_string()),
                "Error in IMAP command: Already logged in.",
            ))),
        })
    }

    fn mailbox_path(&self, tag: &str, m: &Mailbox) -> Result<(String, MailboxPath), No> {
        let name = decode_name(m, self.folders.separator())
            .ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        match self.folders.mailbox(&name) {
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

    fn select(
        &mut self,
        tag: &str,
        m: &Mailbox,
        params: &imap_proto::SelectParams,
        read_only: bool,
    ) -> Reply {
        if params.qresync.is_some() && !self.qresync {
            return Err(No(StatusResponse::bad(
                Some(tag.to_string()),
                "Error in IMAP command: QRESYNC not enabled",
            )));
        }
        if params.condstore {
            self.condstore = true;
        }
        if self.selected.take().is_some() {
            self.conn.status(
                &StatusResponse::ok(None, "Previous mailbox closed.").with_code(Code::Closed),
            );
        }
        let (name, path) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, false));
        }
        let mb = Selected::open_at(&path, read_only).map_err(|e| {
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
        self.conn.status(
            &StatusResponse::ok(None, "Highest")
                .with_code(Code::HighestModSeq(mb.highest_modseq())),
        );
        if let Some(q) = &params.qresync {
            if q.uidvalidity == mb.uid_validity() {
                self.qresync_select(&mb, q);
            }
        }
        self.selected = Some(Open { name, mb, keywords });
        Ok(ok(tag, "Select completed.").with_code(if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        }))
    }

    /// SELECT (QRESYNC (uidvalidity modseq [known-uids])) with the
    /// mailbox's UIDVALIDITY: `* VANISHED (EARLIER)` for the known UIDs
    /// expunged since modseq, then FETCH (UID FLAGS MODSEQ) of the
    /// messages changed since (RFC 7162 3.2.5).
    fn qresync_select(&mut self, mb: &Selected, q: &imap_proto::QResync) {
        let largest = mb.uid_next().saturating_sub(1);
        let known = |u: u32| q.known_uids.as_ref().is_none_or(|k| k.contains(u, largest));
        let (gone, complete) = mb.vanished_since(q.modseq);
        let gone: Vec<u32> = if complete {
            gone.into_iter()
                .filter(|&u| known(u) && mb.seq_of_uid(u).is_none())
                .collect()
        } else {
            // Expunges that old were forgotten: every known UID this
            // mailbox lacks may have gone.
            (1..=largest)
                .filter(|&u| known(u) && mb.seq_of_uid(u).is_none())
                .collect()
        };
        if !gone.is_empty() {
            self.conn.data(&Data::Vanished {
                earlier: true,
                uids: SequenceSet::from_ids(&gone),
            });
        }
        for (i, m) in mb.messages().iter().enumerate() {
            let modseq = mb.modseq(i);
            if m.expunged || modseq <= q.modseq || !known(m.uid) {
                continue;
            }
            self.conn.data(&Data::Fetch {
                seq: i as u32 + 1,
                items: vec![
                    (Cow::Borrowed("UID"), Value::Number(u64::from(m.uid))),
                    (
                        Cow::Borrowed("FLAGS"),
                        Value::flags(&fetch::flags_of(m, !self.conn.opts.rev2)),
                    ),
                    modseq_item(modseq),
                ],
            });
        }
    }

    /// The bytes all of the user's mailboxes take (counted again when
    /// the last count is older than a few seconds).
    fn quota_used(&mut self) -> Result<u64, String> {
        if let Some((n, at)) = self.quota_used {
            if at.elapsed() < QUOTA_RECOUNT {
                return Ok(n);
            }
        }
        let mut total = 0u64;
        for name in self.folders.list().map_err(|e| e.to_string())? {
            let Ok(p) = self.folders.mailbox(&name) else {
                continue;
            };
            total += view::storage_size_at(&p).map_err(|e| e.to_string())?;
        }
        self.quota_used = Some((total, Instant::now()));
        Ok(total)
    }

    /// Whether `adding` more bytes would go past the limit: the NO
    /// [OVERQUOTA] reply when it would.
    fn check_quota(&mut self, tag: &str, adding: u64) -> Result<(), No> {
        let limit = self.s.quota_limit;
        if limit == 0 {
            return Ok(());
        }
        let used = self.quota_used().map_err(|e| {
            maillog::error!("imap({}): quota: {e}", self.user);
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        })?;
        if used.saturating_add(adding) > limit {
            return Err(No(StatusResponse::no(
                Some(tag.to_string()),
                "Quota exceeded (mailbox for user is full)",
            )
            .with_code(Code::OverQuota)));
        }
        Ok(())
    }

    /// Counts `n` more bytes as used (after an APPEND or COPY).
    fn quota_add(&mut self, n: u64) {
        if let Some((used, _)) = &mut self.quota_used {
            *used = used.saturating_add(n);
        }
    }

    /// `* QUOTA "" (STORAGE used limit)`, in KiB.
    fn send_quota(&mut self, tag: &str) -> Result<(), No> {
        self.quota_used = None;
        let used = self.quota_used().map_err(|e| {
            maillog::error!("imap({}): quota: {e}", self.user);
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        })?;
        self.conn.data(&Data::Quota {
            root: Vec::new(),
            resources: vec![("STORAGE".into(), used / 1024, self.s.quota_limit / 1024)],
        });
        Ok(())
    }

    /// GETQUOTA: the one quota root `""` (the user's mailboxes together,
    /// limited by mailbox_size_limit), as Dovecot's `quota_rule = *:storage=`.
    fn get_quota(&mut self, tag: &str, root: &[u8]) -> Reply {
        if self.s.quota_limit == 0 || !root.is_empty() {
            return Err(no(tag, "Quota root doesn't exist."));
        }
        self.send_quota(tag)?;
        Ok(ok(tag, "Getquota completed."))
    }

    /// GETQUOTAROOT: `* QUOTAROOT mailbox ""` and the quota; without a
    /// limit (mailbox_size_limit = 0) no root, as Dovecot without quota.
    fn get_quota_root(&mut self, tag: &str, m: &Mailbox) -> Reply {
        let (name, _) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, false));
        }
        let roots = if self.s.quota_limit == 0 {
            Vec::new()
        } else {
            vec![Vec::new()]
        };
        self.conn.data(&Data::QuotaRoot {
            mailbox: wire_name(&name),
            roots,
        });
        if self.s.quota_limit > 0 {
            self.send_quota(tag)?;
        }
        Ok(ok(tag, "Getquotaroot completed."))
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
            FolderError::HasChildren => no(
                tag,
                format!("Mailbox has children, delete them first: {name}"),
            ),
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
        let name = decode_name(m, self.folders.separator())
            .ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(self.folder_error(tag, &name, FolderError::Exists));
        }
        // A trailing separator: mbox makes a directory for children.
        let sep = self.folders.separator();
        let arg = if m.0.last() == Some(&(sep as u8)) {
            format!("{name}{sep}")
        } else {
            name.clone()
        };
        self.folders
            .create(&arg)
            .map_err(|e| self.folder_error(tag, &name, e))?;
        Ok(ok(tag, "Create completed."))
    }

    fn delete(&mut self, tag: &str, m: &Mailbox) -> Reply {
        let name = decode_name(m, self.folders.separator())
            .ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        if self.selected.as_ref().is_some_and(|o| o.name == name) {
            self.selected = None;
        }
        self.folders
            .delete(&name)
            .map_err(|e| self.folder_error(tag, &name, e))?;
        Ok(ok(tag, "Delete completed."))
    }

    fn rename(&mut self, tag: &str, from: &Mailbox, to: &Mailbox) -> Reply {
        let f = decode_name(from, self.folders.separator())
            .ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        let t = decode_name(to, self.folders.separator())
            .ok_or_else(|| no(tag, "Invalid mailbox name."))?;
        self.folders
            .rename(&f, &t)
            .map_err(|e| self.folder_error(tag, &f, e))?;
        Ok(ok(tag, "Rename completed."))
    }

    fn subscribe(&mut self, tag: &str, m: &Mailbox, on: bool) -> Reply {
        let name = decode_name(m, self.folders.separator())
            .ok_or_else(|| no(tag, "Invalid mailbox name."))?;
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
                delimiter: Some(self.folders.separator()),
                mailbox: Vec::new(),
                extended: Vec::new(),
            }));
            return Ok(ok(tag, "List completed."));
        }
        let patterns: Vec<String> = l
            .patterns
            .iter()
            .map(|p| {
                let p = decode_pattern(p);
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
            if !patterns
                .iter()
                .any(|p| list::matches(p, &name, self.folders.separator()))
            {
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
            if !exists && self.folders.is_noselect(&name) {
                attrs.push("\\Noselect".to_string());
                attrs.push(if self.folders.has_children(&name) {
                    "\\HasChildren".into()
                } else {
                    "\\HasNoChildren".into()
                });
            } else if !exists {
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
                delimiter: Some(self.folders.separator()),
                mailbox: wire_name(&name),
                extended: Vec::new(),
            }));
            if let (Some(items), true) = (status_items, exists) {
                if let Ok(p) = self.folders.mailbox(&name) {
                    if let Ok(st) = view::status_at(&p) {
                        self.conn.data(&status_data(&name, &st, items));
                    }
                }
            }
        }
        Ok(ok(tag, "List completed."))
    }

    fn lsub(&mut self, tag: &str, reference: &Mailbox, pattern: &[u8]) -> Reply {
        let reference = String::from_utf8_lossy(&reference.0).into_owned();
        let p = decode_pattern(pattern);
        let pattern = format!("{reference}{p}");
        let subs = self
            .folders
            .subscriptions()
            .map_err(|e| self.folder_error(tag, "", e))?;
        for name in subs {
            if list::matches(&pattern, &name, self.folders.separator()) {
                let mut attrs = Vec::new();
                if !self.folders.exists(&name) {
                    attrs.push("\\Noselect".to_string());
                }
                self.conn.data(&Data::Lsub(ListItem {
                    attributes: attrs,
                    delimiter: Some(self.folders.separator()),
                    mailbox: wire_name(&name),
                    extended: Vec::new(),
                }));
            }
        }
        Ok(ok(tag, "Lsub completed."))
    }

    fn status(&mut self, tag: &str, m: &Mailbox, items: &[StatusItem]) -> Reply {
        if items.contains(&StatusItem::HighestModSeq) {
            self.condstore = true;
        }
        let (name, path) = self.mailbox_path(tag, m)?;
        if !self.folders.exists(&name) {
            return Err(Self::missing(tag, &name, false));
        }
        let st = view::status_at(&path).map_err(|e| {
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
        let adding: u64 = messages.iter().map(|m| m.data.len() as u64).sum();
        self.check_quota(tag, adding)?;
        let mut uids = Vec::new();
        let mut validity = 0;
        for msg in messages {
            if msg.data.is_empty() {
                return Err(no(tag, "Can't save a zero byte message."));
            }
            let (flags, keywords) = fetch::split_flags(&msg.flags);
            let date = msg.date.map(|d| d.to_unix());
            let (v, uid) =
                view::append_at(&path, &msg.data, flags, &keywords, date).map_err(|e| {
                    maillog::error!("imap({}): append to {name}: {e}", self.user);
                    no(
                        tag,
                        "Internal error occurred. Refer to server log for more information.",
                    )
                })?;
            validity = v;
            uids.push(uid);
            self.quota_add(msg.data.len() as u64);
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
        let gone = open.mb.expunge_with_uids(only.as_deref()).map_err(|e| {
            maillog::error!("imap({user}): expunge: {e}");
            no(
                tag,
                "Internal error occurred. Refer to server log for more information.",
            )
        })?;
        send_expunges(&mut self.conn, self.qresync, &gone);
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
        let want_modseq = has_modseq(&cmd.criteria);
        if want_modseq {
            self.condstore = true;
        }
        let mut max_modseq = 0u64;
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
            let modseq = open.mb.modseq(i);
            let mb = &mut open.mb;
            let mut load = || if content { mb.read(i).ok() } else { None };
            let mut f = Facts {
                seq: i as u32 + 1,
                largest_seq,
                largest_uid,
                msg: &m,
                internal_date: internal,
                size,
                modseq,
                load: &mut load,
                content: None,
                saved: &self.saved,
            };
            if search::matches(&cmd.criteria, &mut f) {
                hits.push((i as u32 + 1, m.uid));
                max_modseq = max_modseq.max(modseq);
            }
        }
        // `(MODSEQ n)`: the highest of the matches, when MODSEQ was asked
        // and something matched (RFC 7162 3.1.5).
        let reply_modseq = (want_modseq && !hits.is_empty()).then_some(max_modseq);
        let ids: Vec<u32> = hits.iter().map(|&(s, u)| if uid { u } else { s }).collect();
        match &cmd.returns {
            None => self.conn.data(&Data::search_reply(
                tag,
                uid,
                &ids,
                reply_modseq,
                self.conn.opts,
            )),
            Some(r) => {
                let all = r.is_empty() || r.contains(&SearchReturn::All);
                if r.contains(&SearchReturn::Save) {
                    // RFC 5182 2.1: with MIN and/or MAX and neither ALL
                    // nor COUNT, only those are saved.
                    let only_ends = r
                        .iter()
                        .any(|x| matches!(x, SearchReturn::Min | SearchReturn::Max))
                        && !r
                            .iter()
                            .any(|x| matches!(x, SearchReturn::All | SearchReturn::Count));
                    let mut saved: Vec<u32> = hits.iter().map(|&(_, u)| u).collect();
                    if only_ends && !saved.is_empty() {
                        let (min, max) = (saved[0], saved[saved.len() - 1]);
                        saved.clear();
                        if r.contains(&SearchReturn::Min) {
                            saved.push(min);
                        }
                        if r.contains(&SearchReturn::Max) && !saved.contains(&max) {
                            saved.push(max);
                        }
                    }
                    self.saved = saved;
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
                        modseq: reply_modseq,
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
        modifiers: imap_proto::FetchModifiers,
    ) -> Result<Reply, End> {
        if modifiers.vanished && !self.qresync {
            return Ok(Err(No(StatusResponse::bad(
                Some(tag.to_string()),
                "Error in IMAP command: QRESYNC not enabled",
            ))));
        }
        let idxs = match self.resolve(tag, uid, set) {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let mut items: Vec<FetchAttr> = asked.to_vec();
        if uid && !items.contains(&FetchAttr::Uid) {
            items.insert(0, FetchAttr::Uid);
        }
        // CHANGEDSINCE implies MODSEQ; both enable CONDSTORE (RFC 7162
        // 3.1.4).
        if modifiers.changed_since.is_some() && !items.contains(&FetchAttr::ModSeq) {
            items.push(FetchAttr::ModSeq);
        }
        if items.contains(&FetchAttr::ModSeq) {
            self.condstore = true;
        }
        let condstore = self.condstore;
        let sets_seen = items.iter().any(FetchAttr::sets_seen);
        let needs = fetch::needs_content(&items);
        let user = self.user.clone();
        if let (true, Some(since), Some(open)) =
            (modifiers.vanished, modifiers.changed_since, &self.selected)
        {
            // UID FETCH (CHANGEDSINCE n VANISHED): the UIDs of the set
            // expunged since n first (RFC 7162 3.2.6).
            let largest = open.mb.uid_next().saturating_sub(1);
            let (gone, _) = open.mb.vanished_since(since);
            let gone: Vec<u32> = gone
                .into_iter()
                .filter(|&u| set.contains(u, largest) && open.mb.seq_of_uid(u).is_none())
                .collect();
            if !gone.is_empty() {
                self.conn.data(&Data::Vanished {
                    earlier: true,
                    uids: SequenceSet::from_ids(&gone),
                });
            }
        }
        let mut pending_commit = false;
        for i in idxs {
            let Some(open) = &mut self.selected else {
                break;
            };
            let mut m = open.mb.messages()[i].clone();
            if m.expunged {
                continue;
            }
            if let Some(since) = modifiers.changed_since {
                if open.mb.modseq(i) <= since {
                    continue;
                }
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
            if flags_changed {
                // The reply carries the new MODSEQ: number it now; else
                // once after the last message.
                if condstore {
                    open.mb.commit();
                } else {
                    pending_commit = true;
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
                rev1: !self.conn.opts.rev2,
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
                modseq: open.mb.modseq(i),
            };
            let mut out = fetch::items(&items, &meta, content.as_deref());
            if flags_changed && !items.contains(&FetchAttr::Flags) {
                out.push((
                    Cow::Borrowed("FLAGS"),
                    Value::flags(&fetch::flags_of(&m, !self.conn.opts.rev2)),
                ));
            }
            // With CONDSTORE on, FLAGS always comes with MODSEQ.
            let has_flags = out.iter().any(|(k, _)| k == "FLAGS");
            if condstore && has_flags && !items.contains(&FetchAttr::ModSeq) {
                out.push(modseq_item(meta.modseq));
            }
            self.conn.data(&Data::Fetch {
                seq: i as u32 + 1,
                items: out,
            });
            self.conn.maybe_flush()?;
        }
        if pending_commit {
            if let Some(open) = &mut self.selected {
                open.mb.commit();
            }
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
        if st.unchanged_since.is_some() {
            self.condstore = true;
        }
        let condstore = self.condstore;
        let user = self.user.clone();
        let Some(open) = &mut self.selected else {
            return Ok(Err(no(tag, "No mailbox selected.")));
        };
        if open.mb.read_only() {
            return Ok(Err(no(tag, "Mailbox is read-only.")));
        }
        if st.unchanged_since.is_some() {
            // The numbers as other sessions left them, for the test below.
            open.mb.commit();
        }
        let mut modified = Vec::new();
        let mut done = Vec::new();
        for i in idxs {
            let mut m = open.mb.messages()[i].clone();
            if m.expunged {
                continue;
            }
            // UNCHANGEDSINCE: a message changed after n is left alone and
            // reported in MODIFIED (RFC 7162 3.1.3).
            if st.unchanged_since.is_some_and(|n| open.mb.modseq(i) > n) {
                modified.push(if st.uid { m.uid } else { i as u32 + 1 });
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
                    open.mb.commit();
                    return Ok(Err(no(
                        tag,
                        "Internal error occurred. Refer to server log for more information.",
                    )));
                }
            }
            done.push((i, m));
        }
        // One write of the mod-sequences for the whole command.
        open.mb.commit();
        for (i, m) in done {
            let mut items = Vec::new();
            if !st.silent {
                items.push((
                    Cow::Borrowed("FLAGS"),
                    Value::flags(&fetch::flags_of(&m, !self.conn.opts.rev2)),
                ));
            }
            if st.uid {
                items.push((Cow::Borrowed("UID"), Value::Number(u64::from(m.uid))));
            }
            // With CONDSTORE, even .SILENT answers with the new MODSEQ.
            if condstore {
                items.push(modseq_item(open.mb.modseq(i)));
            } else if st.silent {
                continue;
            }
            self.conn.data(&Data::Fetch {
                seq: i as u32 + 1,
                items,
            });
            self.conn.maybe_flush()?;
        }
        if !modified.is_empty() {
            modified.sort_unstable();
            return Ok(Ok(ok(tag, "Conditional store failed")
                .with_code(Code::Modified(SequenceSet::from_ids(&modified)))));
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
        if !moving && self.s.quota_limit > 0 {
            let mut adding = 0u64;
            if let Some(open) = &mut self.selected {
                for &i in &idxs {
                    adding += open.mb.size(i).unwrap_or(0);
                }
            }
            self.check_quota(tag, adding)?;
            self.quota_add(adding);
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
        let (validity, pairs) = open.mb.copy_to_at(&idxs, &path).map_err(|e| {
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
        let gone = open.mb.remove_with_uids(&idxs).map_err(|e| {
            maillog::error!("imap({user}): move: expunge: {e}");
            internal()
        })?;
        send_expunges(&mut self.conn, self.qresync, &gone);
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
        let modes = Modes {
            condstore: self.condstore,
            qresync: self.qresync,
        };
        let line = self.conn.idle_line(limit, |conn| {
            if let Some(open) = &mut session {
                match open.mb.sync(true) {
                    Ok(changes) => {
                        open.announce_keywords(conn);
                        report_changes(conn, &open.mb, changes, modes);
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

/// What the client enabled that changes how changes are reported.
#[derive(Clone, Copy)]
struct Modes {
    /// FETCH with FLAGS carries MODSEQ.
    condstore: bool,
    /// Expunges are `* VANISHED uids`, not `* n EXPUNGE`.
    qresync: bool,
}

/// `MODSEQ (n)`.
fn modseq_item(n: u64) -> (Cow<'static, str>, Value<'static>) {
    (Cow::Borrowed("MODSEQ"), Value::List(vec![Value::Number(n)]))
}

/// Expunges as `* n EXPUNGE` (seqs in sending order) or, with QRESYNC
/// enabled, one `* VANISHED uids` (RFC 7162 3.2.10).
fn send_expunges(conn: &mut Conn, qresync: bool, gone: &[(u32, u32)]) {
    if gone.is_empty() {
        return;
    }
    if qresync {
        let mut uids: Vec<u32> = gone.iter().map(|&(_, u)| u).collect();
        uids.sort_unstable();
        conn.data(&Data::Vanished {
            earlier: false,
            uids: SequenceSet::from_ids(&uids),
        });
    } else {
        for &(seq, _) in gone {
            conn.data(&Data::Expunge(seq));
        }
    }
}

/// Sends what a sync found, in its order.
fn report_changes(conn: &mut Conn, mb: &Selected, changes: Vec<Change>, modes: Modes) {
    let mut gone = Vec::new();
    for c in changes {
        if let Change::Expunge { seq, uid } = c {
            gone.push((seq, uid));
            continue;
        }
        send_expunges(conn, modes.qresync, &std::mem::take(&mut gone));
        match c {
            Change::Expunge { .. } => {}
            Change::Exists(n) => {
                conn.data(&Data::Exists(n));
                let recent = mb.messages().iter().filter(|m| m.recent).count();
                conn.data(&Data::Recent(recent as u32));
            }
            Change::Flags { seq } => {
                let idx = seq as usize - 1;
                if let Some(m) = mb.messages().get(idx) {
                    let mut items = vec![
                        (
                            Cow::Borrowed("FLAGS"),
                            Value::flags(&fetch::flags_of(m, !conn.opts.rev2)),
                        ),
                        (Cow::Borrowed("UID"), Value::Number(u64::from(m.uid))),
                    ];
                    if modes.condstore {
                        items.push(modseq_item(mb.modseq(idx)));
                    }
                    conn.data(&Data::Fetch { seq, items });
                }
            }
        }
    }
    send_expunges(conn, modes.qresync, &gone);
}

/// Whether a search key asks for MODSEQ (the reply then says the
/// highest mod-sequence of what matched).
fn has_modseq(k: &imap_proto::SearchKey) -> bool {
    use imap_proto::SearchKey as K;
    match k {
        K::ModSeq { .. } => true,
        K::And(v) => v.iter().any(has_modseq),
        K::Or(a, b) => has_modseq(a) || has_modseq(b),
        K::Not(a) => has_modseq(a),
        _ => false,
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
                StatusItem::HighestModSeq => st.highest_modseq,
                StatusItem::AppendLimit => return None,
            };
            Some((*i, v))
        })
        .collect();
    Data::Status {
        mailbox: wire_name(name),
        items: values,
    }
}
