//! Mailbox stores shared by `local`, `virtual`, pop3d and imapd: the
//! formats Dovecot and Postfix use, so mail can move between them.
//!
//! This first part is the delivery side:
//!
//! * [`maildir`]: [`maildir::deliver`] writes `tmp/` → `new/` under
//!   Dovecot-style unique names with `,S=` and `,W=`; Maildir++ folders.
//! * [`mbox`]: [`mbox::deliver`] appends with a `From ` line, `>From `
//!   quoting and an empty line after the message, under dotlock + fcntl
//!   locks, and truncates back on failure.
//! * [`lock`]: the dotlock and kernel locks, `mailbox_delivery_lock`.
//! * [`source`]: the message as text pieces ([`MessageSource`]) from a
//!   queue file or from memory, with the headers local(8) prepends.
//! * [`error`]: [`DeliveryError`], temporary or permanent, with the
//!   enhanced status code and Postfix's text.
//!
//! The reading side, for pop3d and imapd:
//!
//! * [`location`]: `mail_location` (`maildir:~/Maildir`,
//!   `mbox:~/mail:INBOX=/var/mail/%u`) with `%u %n %d %h ~`.
//! * [`maildir_store`]: [`maildir_store::Maildir`] lists `new/` + `cur/`
//!   (moving new → cur as Dovecot), UIDs from [`uidlist`] (Dovecot's
//!   `dovecot-uidlist`, read and written), flags by rename, expunge,
//!   Maildir++ folder listing.
//! * [`mbox_store`]: [`mbox_store::Mbox`] splits at `From ` lines, undoes
//!   `>From `, keeps an index of offsets and UIDs, expunges by rewrite
//!   under the delivery locks. Undoing the quoting is a choice that
//!   differs from Dovecot 2.3 (checked side by side): Dovecot shows a line
//!   local(8) quoted as `>From ` as stored, and on APPEND writes a
//!   `Content-Length:` header instead of quoting. Here local and APPEND
//!   quote (mboxo, as Postfix's local does) and the readers undo it, so a
//!   client reads the message as it was sent and APPEND round-trips; a
//!   line that was `>From ` before delivery reads back as `From `.
//! * [`wire`]: CRLF streaming with TOP ([`wire::WireReader`]), wire
//!   sizes, Dovecot's default POP3 UIDL.
//! * [`pop3`]: one POP3 session's view of a mailbox (either format):
//!   the numbered list, sizes, UIDLs, deletions applied at QUIT.
//! * [`folders`]: one user's IMAP mailboxes under a Maildir++ root
//!   (list, create, delete, rename, Dovecot's `subscriptions` file).
//! * [`imap`]: one IMAP session's view of a Maildir ([`imap::Selected`]):
//!   sequence numbers, \Recent, keywords through `dovecot-keywords`,
//!   changes by others reported in RFC 3501 order; APPEND, COPY, STATUS.
//! * [`modseq`]: mod-sequences (CONDSTORE/QRESYNC) per message and
//!   HIGHESTMODSEQ, in `mailsuite-modseq` beside `dovecot-uidlist`.
//! * [`store`]: [`store::StoreError`] and [`store::Flags`].
//! * [`agent`]: what local and virtual share around one recipient: the
//!   verdict, marking it done, the log line, Delivered-To loop data.
//! * [`as_user`]: a delivery's switch to the recipient's effective uid,
//!   gid and groups and back (local and virtual as root).
//!
//! # Security
//!
//! The caller switches to the recipient's uid and gid (effective ids)
//! before calling; everything here runs with whatever rights it is given.
//! No file is created through a symlink (O_EXCL, O_NOFOLLOW); an existing
//! mbox must be a regular file with one hard link that is still the one
//! the path names once locked; a symlinked mbox is refused unless root
//! owns the link. Message content is treated as opaque bytes.
//!
//! A process that sets RLIMIT_FSIZE (as Postfix does for
//! `mailbox_size_limit`) must ignore SIGXFSZ, or going past the limit
//! kills it instead of failing the write with EFBIG.

pub mod agent;
pub mod as_user;
mod copy;
pub mod error;
pub mod folders;
pub mod imap;
pub mod location;
pub mod lock;
pub mod maildir;
pub mod maildir_store;
pub mod mbox;
pub mod mbox_store;
pub mod modseq;
pub mod pop3;
pub mod source;
pub mod store;
pub mod uidlist;
pub mod wire;

pub use copy::Fault;
pub use error::{DeliveryError, ErrorKind, SourceError};
pub use lock::{LockMethods, LockPolicy};
pub use maildir::{DeliveredPath, MaildirOptions};
pub use mbox::{MboxDelivered, MboxOptions};
pub use source::{BytesSource, MessageSource, Piece, Prepended, QueueSource};
