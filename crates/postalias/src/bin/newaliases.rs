//! NAME
//!   newaliases - rebuild the mailsuite alias databases
//!
//! SYNOPSIS
//!   newaliases [-v] [-C config_file|config_dir] [-oA alias_database]
//!
//! DESCRIPTION
//!   newaliases builds every table named in the alias_database parameter
//!   (default hash:/etc/aliases) from its aliases(5) source file, as
//!   Postfix's newaliases ("sendmail -bi") does: edit /etc/aliases, run
//!   newaliases, and local(8) uses the new aliases on its next look-up.
//!   It is postalias(1) run on each table; see postalias's manual page
//!   (crates/postalias/src/main.rs) for the format, the messages, the
//!   exit status and the differences from Postfix.
//!
//!   -C config_file|config_dir
//!          Read main.cf (or the main.cf in the directory) instead of
//!          $MAIL_CONFIG/main.cf or /etc/mailsuite/main.cf. -c is a
//!          synonym.
//!   -oA alias_database
//!          Build these tables instead of $alias_database.
//!   -v, -bi, -I, other -o options
//!          Accepted and ignored.
//!
//! SECURITY
//!   As postalias: runs with its caller's rights, writes each table
//!   atomically (temp file, fsync, rename), executes nothing.
//!
//! CONFIGURATION PARAMETERS
//!   alias_database, default_database_type, myhostname.
//!
//! FILES
//!   /etc/aliases, /etc/aliases.db

fn main() {
    postalias::main_for(postalias::Mode::Newaliases)
}
