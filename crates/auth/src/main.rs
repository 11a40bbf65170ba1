//! NAME
//!   auth - mailsuite's authentication service
//!
//! SYNOPSIS
//!   auth [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   auth answers authentication requests on `private/auth` in the Dovecot
//!   auth protocol (version 1.2), so that smtpd with `smtpd_sasl_type =
//!   dovecot` and `smtpd_sasl_path = private/auth` uses it, and so that a
//!   real Dovecot's auth socket could stand in for it. master.cf:
//!
//!       auth      unix  -       -       n       -       -       auth
//!
//!   One process serves many clients (the multi-client skeleton). On
//!   connect it sends VERSION, one MECH line per mechanism in
//!   auth_mechanisms (PLAIN and LOGIN, flagged plaintext; CRAM-MD5 and
//!   SCRAM-SHA-256, answered only for users whose stored password is
//!   {PLAIN}: a hash cannot key their HMACs; SCRAM's server-final
//!   message goes out as a last CONT before the OK), SPID, CUID,
//!   COOKIE and DONE; clients send VERSION and CPID, then AUTH requests
//!   (`service=`, `rip=`, `lip=`, `secured`, `resp=` base64) and CONT
//!   continuations, and get CONT, OK (`user=`) or FAIL.
//!
//!   Passwords are checked against the databases in `passdb`, in order:
//!   `shadow` (the system's accounts: the shadow hash, verified with the
//!   system's crypt_r, so yescrypt as Debian 12 writes it works) and
//!   `passwd-file:/path` (Dovecot's `user:{SCHEME}hash:uid:gid::home::`,
//!   schemes PLAIN, CRYPT, SHA512-CRYPT, SHA256-CRYPT, MD5-CRYPT,
//!   BLF-CRYPT, ARGON2ID), re-read when it changes, or any lookup table
//!   (`sqlite:`, `mysql:`, `pgsql:` with Postfix's .cf files, `texthash:`
//!   …) whose answer for the user name is the stored password
//!   (`{SCHEME}value`, or a crypt string): seed 002's users table. The OK
//!   line carries a passwd-file line's uid, gid and home as `userdb_uid`,
//!   `userdb_gid`, `userdb_home`, and marks a shadow user with
//!   `userdb_system_groups_user` (only such a user becomes a system
//!   account in pop3d and imapd). User names are lower-cased when
//!   auth_username_format starts with %L.
//!
//!   With disable_plaintext_auth = yes, plaintext mechanisms are refused
//!   unless the client's connection is secured (TLS), from a loopback
//!   address, or from login_trusted_networks; as with Postfix and
//!   Dovecot, this binds POP3 and IMAP logins, not `service=smtp`, where
//!   smtpd_tls_auth_only decides. Every failure is answered
//!   after auth_failure_delay, doubled for each further failure from the
//!   same client address up to 15 s (the brute-force throttle). A success
//!   from such an address waits as long (so timing does not tell a guesser
//!   which it was), then clears the address.
//!
//!   Failures are logged as `user=<alice>, method=PLAIN, rip=192.0.2.1,
//!   service=smtp: authentication failed (password mismatch)`; with
//!   auth_verbose successes too. Passwords never reach the log.
//!
//! SECURITY
//!   Started as root, auth reads the shadow database (and passwd-files)
//!   before the privilege drop, then runs as mail_owner (master.cf unpriv
//!   column `-`; it refuses to start as root otherwise), not chrooted
//!   (the passwd lookups need /etc): it parses client input only
//!   unprivileged. The snapshot
//!   of the shadow database is as old as the process (at most max_idle
//!   after the last client). Every protocol line is checked: at most 16 KiB,
//!   UTF-8, known commands, numeric ids, base64 data, user names without
//!   control characters (255 bytes at most), passwords of at most 1024
//!   bytes; a malformed line ends the connection.
//!
//! CONFIGURATION PARAMETERS
//!   passdb, auth_mechanisms, disable_plaintext_auth, login_trusted_networks,
//!   auth_failure_delay, auth_username_format, auth_verbose, max_idle,
//!   max_use, mail_owner.
//!
//! FILES
//!   $queue_directory/private/auth, /etc/shadow, /etc/passwd, passwd-files.

fn main() {
    server::multi_server("auth", auth::service::AuthService::default())
}
