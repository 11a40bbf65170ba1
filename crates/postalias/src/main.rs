//! NAME
//!   postalias - mailsuite alias database maintenance
//!
//! SYNOPSIS
//!   postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key]
//!             [file_type:]file_name ...
//!   newaliases [-v] [-C config_file|config_dir] [-oA alias_database]
//!
//! DESCRIPTION
//!   postalias builds, queries and lists alias databases, as Postfix's
//!   postalias(1) does, with the same flags, input format, messages and
//!   stored values. Invoked as newaliases (argv[0], or the newaliases
//!   binary of this package) it builds every table named in
//!   alias_database, as "sendmail -bi" and "sendmail -I" do (see
//!   newaliases(1)).
//!
//!   Without -q, -d or -s it builds the indexed file file_name.db from the
//!   aliases(5) text file file_name, for each argument. The type is
//!   file_type, or default_database_type from main.cf (hash); hash and
//!   btree tables can be built.
//!
//!   The input format is aliases(5): "name: value1, value2, ..." on a
//!   logical line; blank lines and lines whose first non-blank character
//!   is '#' are skipped; a line that starts with white space continues the
//!   one before. The line is read as RFC 822 tokens: a name with special
//!   characters is written in double quotes ("Quoted Name": ...) and is
//!   stored unquoted and folded to lower case (unless -f); the value is
//!   stored as Postfix stores it, tokens joined again (a comma followed by
//!   one space, quoted strings kept quoted), and local(8) parses it again
//!   at delivery: addresses, /file/name, |command ("|command with args" in
//!   quotes), :include:/file/name. A line that is not "name: value", or
//!   whose name has a comma, is skipped with "postalias: warning: FILE,
//!   line N: need name:value pair"; a name with '@' or '%' with "FILE,
//!   line N: name must be local". A name that is seen again keeps its
//!   first value: "postalias: warning: FILE.db: duplicate entry: "name"".
//!   After the entries, postalias stores "@" -> "@" (Sendmail's mark of a
//!   complete database) and YP_LAST_MODIFIED (the time) and
//!   YP_MASTER_NAME ($myhostname), as Debian's Postfix (built with NIS)
//!   does.
//!
//!   -c config_dir
//!          Read main.cf in config_dir instead of $MAIL_CONFIG or
//!          /etc/mailsuite.
//!   -d key
//!          Remove key from each table ("-": keys from standard input).
//!          Exit status 0 when a key was found.
//!   -f     Do not fold names to lower case when building or querying.
//!   -i     Incremental: add the entries on standard input to the existing
//!          table instead of building it anew from file_name. The "@" and
//!          YP_ entries are replaced quietly.
//!   -N, -n Accepted and ignored: keys are stored without a terminating
//!          null character, and found either way.
//!   -o     Do not give the new file to the owner of the source file when
//!          run as root.
//!   -p     Create new files with mode 0644, instead of the source file's
//!          group and other read permissions.
//!   -q key
//!          Write the value of key from the first table that has it. With
//!          "-q -", read keys from standard input and write "key:<TAB>value"
//!          for each one found. Exit status 0 when a key was found, 1 when
//!          none was. A single look-up of the key as given: no address
//!          extension is stripped, as local(8) would.
//!   -r     When a name is stored twice, keep the later value, quietly.
//!   -s     Write every entry as "key:<TAB>value", in the order stored.
//!   -u, -v Accepted and ignored.
//!   -w     When a name is stored twice, keep the first value, quietly.
//!
//!   newaliases reads main.cf from the directory given with -C (a main.cf
//!   file or its directory; -c is accepted too), $MAIL_CONFIG or
//!   /etc/mailsuite, and builds each table in alias_database (or in the
//!   -oA value) in turn, stopping at the first that fails. Its messages
//!   about tables are postalias's, as in Postfix. Other Sendmail flags
//!   (-bi, -I, -oi, ...) are accepted and ignored.
//!
//! DIFFERENCES FROM POSTFIX
//!   Exit status: Postfix exits 1 on every error. Here 0 is success (or
//!   found), 1 a key not found with -q or -d, and otherwise a sysexits.h
//!   code: 64 bad usage or table type, 66 a missing source file or table,
//!   74 a table that cannot be written, 75 a failed look-up, 78 a bad
//!   main.cf. The indexed file is a cdb file, not Berkeley DB (see the
//!   maps crate): a .db file made by Postfix must be rebuilt. -s lists
//!   every named table (Postfix: only the first) in the order stored.
//!   Warnings go to standard error only, not to the maillog. Keys and
//!   values are not checked for valid UTF-8 (-u has no effect).
//!
//! SECURITY
//!   postalias runs with the rights of its caller and executes nothing: it
//!   reads the source file and standard input as untrusted text. It writes
//!   the indexed file through a temporary file in the same directory that
//!   is fsync'd and renamed over the old one, so that local(8) sees the
//!   old table or the new one, never a half-built file, and a crash or
//!   full disk leaves the old table in place. While it builds, it holds an
//!   exclusive flock(2) on the source file, so that two runs on one table
//!   do not interleave. Run as root, it gives a new table to the source
//!   file's owner (unless -o): commands and files named in aliases are run
//!   and written by local(8) with the rights of the table's owner.
//!
//! CONFIGURATION PARAMETERS
//!   alias_database (hash:/etc/aliases)
//!          The tables newaliases builds.
//!   config_directory
//!          Where main.cf is (set with -c, -C or MAIL_CONFIG).
//!   default_database_type (hash)
//!          The table type used when file_type is not given.
//!   myhostname
//!          The value of the YP_MASTER_NAME entry.
//!
//! ENVIRONMENT
//!   MAIL_CONFIG        The configuration directory, when -c is not given.
//!   MAILSUITE_FAIL_POINT
//!          For tests: make the atomic write fail at write, fsync or rename.
//!
//! FILES
//!   /etc/aliases       the alias source file (aliases(5))
//!   /etc/aliases.db    the indexed table (a cdb file) built from it

fn main() {
    postalias::main_for(postalias::Mode::Postalias)
}
