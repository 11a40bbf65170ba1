//! `smtpd_milters` as the SMTP session happens, as Postfix's smtpd does
//! with its milter8 client: each milter is connected when the client is,
//! told of HELO, MAIL, each RCPT and DATA as they come, and may refuse
//! each; at DATA the conversations that are still going are handed to
//! cleanup with the message (their sockets travel with it), which shows
//! the milters the message as it will be queued and applies their edits.
//!
//! Postfix's (Sendmail's) rules: a refusal of the connection or of HELO
//! does not refuse those; it stands, and refuses each MAIL FROM (a 421
//! ends the session at once). A milter that accepts is left out of the
//! rest of the session (at CONNECT or HELO) or of the transaction. DISCARD
//! throws the message away once it is accepted, and no milter hears of it
//! again. A milter that cannot be reached or breaks the protocol gets
//! `milter_default_action` (its own `default_action=`): accept leaves it
//! out; tempfail, reject and quarantine answer for it, every time it would
//! have been asked, for the rest of the session (Postfix's
//! MILTER8_STAT_ERROR), so that no command gets past a broken milter.

use milter::{Answer, DefaultAction, Message, Session, Spec, Verdict};
use std::os::fd::{AsRawFd, RawFd};

/// One milter and where it stands.
struct Live {
    state: State,
    /// It accepted the transaction: no more of it goes to the milter.
    skip_transaction: bool,
    /// It was told of MAIL and the transaction is not over for it.
    in_transaction: bool,
}

enum State {
    Talking(Box<Session>),
    /// The conversation broke; its default action answers for it.
    Failed(Said),
}

/// What the milters said of an event that is not simply "go on".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Refused: the reply text (`550 5.7.1 Command rejected`, a milter's
    /// own `4XX`/`5XX` reply; a 421 ends the session).
    Refuse(String),
    /// The message is to be thrown away once accepted.
    Discard,
    /// The message is to be held (`default_action = quarantine`).
    Hold,
}

/// The session's milters.
#[derive(Default)]
pub struct Milters {
    live: Vec<Live>,
    /// A refusal of the connection or of HELO: every MAIL FROM gets it.
    standing: Option<String>,
    /// DISCARD was said: no milter hears of this transaction again.
    discarding: bool,
}

/// Which events a round is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// CONNECT, HELO: every milter, whatever the transaction.
    Session,
    /// MAIL: the transaction starts for each milter told of it.
    Mail,
    /// RCPT, DATA: the milters still in the transaction.
    Transaction,
}

/// Postfix's replies for a milter that could not be asked (milter8.c).
const TEMPFAIL: &str = "451 4.7.1 Service unavailable - try again later";
const REJECT: &str = "550 5.5.0 Service unavailable";

/// The most milters handed to cleanup with a message (sockets passed at
/// once); the rest of a longer smtpd_milters list is left out, with a
/// warning.
pub const MOST: usize = ipc::cleanup::MAX_PASSED_MILTERS;

impl Milters {
    /// Connects each milter and tells it of the client, in order. An
    /// answer that ends the session (421), or that says what becomes of
    /// the next message (DISCARD, HOLD), comes back.
    pub fn connect(specs: &[Spec], msg: &mut Message) -> (Milters, Option<Said>) {
        let mut m = Milters::default();
        for spec in specs.iter().take(MOST) {
            let state = match Session::open(spec) {
                Ok(session) => State::Talking(Box::new(session)),
                Err(e) => {
                    maillog::warning!("milter {}: {e}", spec.name);
                    match default_action(spec.default_action) {
                        Some(said) => State::Failed(said),
                        None => continue,
                    }
                }
            };
            m.live.push(Live {
                state,
                skip_transaction: false,
                in_transaction: false,
            });
        }
        let said = m.round(msg, Round::Session, |s, msg| s.connect(msg));
        let said = m.stand(said);
        (m, said)
    }

    /// Whether any milter still listens, or its refusal stands.
    pub fn active(&self) -> bool {
        !self.live.is_empty() || self.standing.is_some()
    }

    /// HELO or EHLO: a new HELO ends a transaction the milters were told
    /// of. A 421 comes back; other refusals stand for MAIL FROM.
    pub fn helo(&mut self, msg: &mut Message, name: &str) -> Option<Said> {
        self.abort();
        let said = self.round(msg, Round::Session, |s, msg| s.helo(msg, name));
        self.stand(said)
    }

    /// MAIL FROM (`msg.sender`): the first refusal, or the one standing.
    pub fn mail(&mut self, msg: &mut Message) -> Option<Said> {
        if let Some(r) = &self.standing {
            return Some(Said::Refuse(r.clone()));
        }
        self.round(msg, Round::Mail, |s, msg| s.mail(msg))
    }

    /// RCPT TO: the first refusal (the recipient is not taken).
    pub fn rcpt(&mut self, msg: &mut Message, rcpt: &str) -> Option<Said> {
        self.round(msg, Round::Transaction, |s, msg| s.rcpt(msg, rcpt))
    }

    /// DATA: the first refusal (the caller ends the transaction).
    pub fn data(&mut self, msg: &mut Message) -> Option<Said> {
        self.round(msg, Round::Transaction, |s, msg| s.data(msg))
    }

    /// Tells each milter, in order, of an event; the first answer that is
    /// not "go on" ends the round, as in Postfix. A failed milter answers
    /// with its default action.
    fn round(
        &mut self,
        msg: &mut Message,
        round: Round,
        mut send: impl FnMut(&mut Session, &mut Message) -> Result<Answer, milter::MilterError>,
    ) -> Option<Said> {
        if self.discarding && round != Round::Session {
            return None;
        }
        let mut i = 0;
        while i < self.live.len() {
            let l = &mut self.live[i];
            if round != Round::Session && l.skip_transaction {
                i += 1;
                continue;
            }
            if round == Round::Mail {
                l.in_transaction = true;
            }
            let answer = match &mut l.state {
                State::Failed(said) => return Some(said.clone()),
                State::Talking(session) => send(session, msg),
            };
            let before = self.live.len();
            let said = self.answered(i, answer, round == Round::Session);
            if said == Some(Said::Discard) {
                self.discarding = true;
            }
            if said.is_some() {
                return said;
            }
            if self.live.len() == before {
                i += 1;
            }
        }
        None
    }

    /// What milter `i`'s answer means. `session`: the event was CONNECT
    /// or HELO (an accept then leaves the milter out of the session).
    fn answered(
        &mut self,
        i: usize,
        answer: Result<Answer, milter::MilterError>,
        session: bool,
    ) -> Option<Said> {
        match answer {
            Ok(Answer::Continue) => None,
            Ok(Answer::Accept) if session => {
                if let State::Talking(s) = self.live.remove(i).state {
                    s.quit();
                }
                None
            }
            Ok(Answer::Accept) => {
                self.live[i].skip_transaction = true;
                None
            }
            Ok(Answer::Verdict(v)) => match v {
                Verdict::Continue => None,
                Verdict::Reject(t) | Verdict::TempFail(t) => Some(Said::Refuse(t)),
                Verdict::Discard => Some(Said::Discard),
                Verdict::Hold(_) => Some(Said::Hold),
            },
            Err(e) => self.fail(i, &e.to_string()),
        }
    }

    /// Milter `i` broke: its socket is shut down (for cleanup too) and its
    /// default action answers for it from now on (accept: it is left
    /// out). What it says now comes back.
    fn fail(&mut self, i: usize, why: &str) -> Option<Said> {
        let State::Talking(session) = &self.live[i].state else {
            return None;
        };
        maillog::warning!("milter {}: {why}", session.spec().name);
        let _ = session.socket().shutdown();
        match default_action(session.spec().default_action) {
            Some(said) => {
                self.live[i].state = State::Failed(said.clone());
                Some(said)
            }
            None => {
                self.live.remove(i);
                None
            }
        }
    }

    /// At CONNECT and HELO: a refusal other than 421 stands (for MAIL
    /// FROM) and is not said now; a 421 is, as are DISCARD and HOLD.
    fn stand(&mut self, said: Option<Said>) -> Option<Said> {
        match said {
            Some(Said::Refuse(r)) if !r.starts_with("421") => {
                self.standing.get_or_insert(r);
                None
            }
            other => other,
        }
    }

    /// The conversations to hand to cleanup with the message: those still
    /// in the transaction (none once DISCARD was said).
    pub fn handoff(&self) -> (Vec<ipc::cleanup::PassedMilter>, Vec<RawFd>) {
        let mut list = Vec::new();
        let mut fds = Vec::new();
        if self.discarding {
            return (list, fds);
        }
        for l in self
            .live
            .iter()
            .filter(|l| l.in_transaction && !l.skip_transaction)
        {
            let State::Talking(session) = &l.state else {
                continue;
            };
            let h = session.handoff();
            let spec = session.spec();
            list.push(ipc::cleanup::PassedMilter {
                entry: spec.entry.clone(),
                protocol: h.protocol,
                macros: h.macro_lists.map(|m| m.join(" ")),
                command_timeout: spec.command_timeout.as_secs(),
                content_timeout: spec.content_timeout.as_secs(),
                default_action: spec.default_action.name().to_string(),
            });
            fds.push(session.socket().as_raw_fd());
        }
        (list, fds)
    }

    /// The message's conversations can no longer be trusted (cleanup did
    /// not answer in time, or the connection to it broke): they are shut
    /// down and their default actions answer for them.
    pub fn poison(&mut self) {
        for i in (0..self.live.len()).rev() {
            if self.live[i].in_transaction && !self.live[i].skip_transaction {
                self.fail(i, "conversation abandoned with the message");
            }
        }
    }

    /// The transaction ends, with its message or unfinished (RSET, a
    /// refusal, a new HELO): the milters told of it forget it (SMFIC_ABORT,
    /// as Postfix's smtpd sends after every transaction). One that cannot
    /// be told (cleanup shut it down when it broke during the message)
    /// fails.
    pub fn abort(&mut self) {
        for i in (0..self.live.len()).rev() {
            let l = &mut self.live[i];
            let told = !l.in_transaction
                || match &mut l.state {
                    State::Talking(s) => s.abort().is_ok(),
                    State::Failed(_) => true,
                };
            l.in_transaction = false;
            l.skip_transaction = false;
            if !told {
                self.fail(i, "the conversation broke during the message");
            }
        }
        self.discarding = false;
    }

    /// The session ends.
    pub fn quit(&mut self) {
        for l in self.live.drain(..) {
            if let State::Talking(s) = l.state {
                s.quit();
            }
        }
    }
}

/// What a milter's default action answers for it; None: accept.
fn default_action(action: DefaultAction) -> Option<Said> {
    match action {
        DefaultAction::Accept => None,
        DefaultAction::TempFail => Some(Said::Refuse(TEMPFAIL.into())),
        DefaultAction::Reject => Some(Said::Refuse(REJECT.into())),
        DefaultAction::Quarantine => Some(Said::Hold),
    }
}
