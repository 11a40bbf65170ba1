//! postalias and newaliases as a sysadmin runs them: a temp dir with a
//! main.cf whose alias_database and alias_maps name files in it, the real
//! binaries, and (when installed) the real Postfix postalias beside them.

// Test helpers outside #[test] functions may panic on setup failures.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const POSTALIAS: &str = env!("CARGO_BIN_EXE_postalias");
const NEWALIASES: &str = env!("CARGO_BIN_EXE_newaliases");
const REAL_POSTALIAS: &str = "/usr/sbin/postalias";

/// One directory per test with `cf/main.cf`; kept when the test fails.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, main_cf: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("postalias-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("cf")).unwrap();
        let cf = main_cf.replace("$DIR", &p.display().to_string());
        std::fs::write(p.join("cf/main.cf"), cf).unwrap();
        // Postfix waits ~2 s for a main.cf changed in the last seconds.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(p.join("cf/main.cf"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn file(&self, name: &str, text: &str) -> String {
        std::fs::write(self.0.join(name), text).unwrap();
        self.path(name)
    }

    fn cf(&self) -> PathBuf {
        self.0.join("cf")
    }

    /// Runs `program` with `args` in the directory, feeding `stdin`.
    fn exec(&self, program: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.0)
            .env_remove("MAIL_CONFIG")
            .env_remove("MAILSUITE_FAIL_POINT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// postalias -c cf ARGS.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let cf = self.cf().display().to_string();
        let mut all = vec!["-c", cf.as_str()];
        all.extend_from_slice(args);
        self.exec(POSTALIAS, &all, stdin, &[])
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `-s` output as sorted lines, without the time stamp entry.
fn dump_lines(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = text(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("YP_LAST_MODIFIED:"))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

const SOURCE: &str = "\
# /etc/aliases
postmaster: root
Dream: root
multi: a, b,c   d
cont: x,
   y
  # inner comment
  , z
\"Quoted Name\": q
pipe: \"|/usr/bin/cmd arg1 arg2\"
pipe2: |/bin/true
file: /var/log/x
inc: :include:/etc/foo
remote: user@example.com, <other@example.com>, Joe <joe@x.org>
comment: a (comment here), b
dup: first
DUP: second
bad line without colon
bad@x: y
a,b: z
empty:
esc: a\\,b, c\\ d
grp: list: a, b;
";

#[test]
fn build_query_dump_and_exit_status() {
    let d = Dir::new("build", "myhostname = mail.example\n");
    d.file("aliases", SOURCE);
    let o = d.run(&["aliases"], "");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "postalias: warning: aliases.db: duplicate entry: \"dup\"\n\
         postalias: warning: aliases, line 18: need name:value pair\n\
         postalias: warning: aliases, line 19: name must be local\n\
         postalias: warning: aliases, line 20: need name:value pair\n\
         postalias: warning: aliases, line 21: need name:value pair\n"
    );
    assert!(Path::new(&d.path("aliases.db")).exists());

    let q = |key: &str| {
        let o = d.run(&["-q", key, "aliases"], "");
        (code(&o), text(&o.stdout))
    };
    assert_eq!(q("DREAM"), (0, "root\n".into()));
    assert_eq!(q("multi"), (0, "a, b, c d\n".into()));
    assert_eq!(q("cont"), (0, "x, y, z\n".into()));
    assert_eq!(q("quoted name"), (0, "q\n".into()));
    assert_eq!(q("pipe"), (0, "\"|/usr/bin/cmd arg1 arg2\"\n".into()));
    assert_eq!(q("dup"), (0, "first\n".into()));
    assert_eq!(q("esc"), (0, "\"a,b\", \"c d\"\n".into()));
    assert_eq!(q("@"), (0, "@\n".into()));
    assert_eq!(q("nosuch"), (1, String::new()));

    let o = d.run(&["-q", "-", "aliases"], "dream\nnope\nMULTI\n");
    assert_eq!(code(&o), 0);
    assert_eq!(text(&o.stdout), "dream:\troot\nMULTI:\ta, b, c d\n");
    let o = d.run(&["-q", "-", "aliases"], "nope\n");
    assert_eq!(code(&o), 1);

    let o = d.run(&["-s", "aliases"], "");
    assert_eq!(code(&o), 0);
    let lines = dump_lines(&o);
    assert!(lines.contains(&"@:\t@".to_string()), "{lines:?}");
    assert!(lines.contains(&"YP_MASTER_NAME:\tmail.example".to_string()));
    assert!(lines.contains(&"grp:\tlist:a, b;".to_string()));
    assert!(text(&o.stdout).contains("YP_LAST_MODIFIED:\t"));
    // 14 entries from the file, and the three signature entries.
    assert_eq!(text(&o.stdout).lines().count(), 14 + 3);

    // Errors: usage 64, missing source or table 66.
    let o = d.run(&["-s", "-q", "x", "aliases"], "");
    assert_eq!(code(&o), 64);
    assert_eq!(
        text(&o.stderr),
        "postalias: fatal: specify only one of -s -q or -d\n"
    );
    let o = d.run(&["missing"], "");
    assert_eq!(code(&o), 66);
    assert_eq!(
        text(&o.stderr),
        "postalias: fatal: open missing: No such file or directory\n"
    );
    let o = d.run(&["-q", "x", "missing"], "");
    assert_eq!(code(&o), 66);
    assert_eq!(
        text(&o.stderr),
        "postalias: fatal: open database missing.db: No such file or directory\n"
    );
    // The second table is not opened when the first has the key.
    let o = d.run(&["-q", "dream", "aliases", "missing"], "");
    assert_eq!((code(&o), text(&o.stdout)), (0, "root\n".into()));
    let o = d.run(&["regexp:aliases"], "");
    assert_eq!(code(&o), 64);
    let o = d.run(&[], "");
    assert_eq!(code(&o), 64);
}

#[test]
fn incremental_delete_and_duplicates() {
    let d = Dir::new("incr", "");
    d.file("a", "ok: a\nok2: b\n");
    assert_eq!(code(&d.run(&["a"], "")), 0);
    let o = d.run(&["-i", "a"], "new: n\nOK: changed\nbad\n");
    assert_eq!(code(&o), 0);
    assert_eq!(
        text(&o.stderr),
        "postalias: warning: a.db: duplicate entry: \"ok\"\n\
         postalias: warning: stdin, line 3: need name:value pair\n"
    );
    let q = |key: &str| text(&d.run(&["-q", key, "a"], "").stdout);
    assert_eq!(q("new"), "n\n");
    assert_eq!(q("ok"), "a\n");
    // -r replaces, -w keeps, both quietly; the signature is not duplicated.
    let o = d.run(&["-i", "-r", "a"], "ok: r\n");
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    assert_eq!(q("ok"), "r\n");
    let o = d.run(&["-i", "-w", "a"], "ok: w\n");
    assert!(o.stderr.is_empty());
    assert_eq!(q("ok"), "r\n");
    let o = d.run(&["-s", "a"], "");
    assert_eq!(text(&o.stdout).matches("@:\t@").count(), 1);
    // -d removes, exit 1 when nothing was found.
    assert_eq!(code(&d.run(&["-d", "OK", "a"], "")), 0);
    assert_eq!(code(&d.run(&["-d", "ok", "a"], "")), 1);
    assert_eq!(q("ok"), "");
    assert_eq!(code(&d.run(&["-d", "-", "a"], "ok2\nnew\n")), 0);
    let o = d.run(&["-s", "a"], "");
    assert_eq!(text(&o.stdout).lines().count(), 3, "{}", text(&o.stdout));
    // -f keeps the case of names.
    d.file("b", "MiXed: x\n");
    assert_eq!(code(&d.run(&["-f", "b"], "")), 0);
    assert_eq!(code(&d.run(&["-q", "mixed", "b"], "")), 1);
    assert_eq!(text(&d.run(&["-f", "-q", "MiXed", "b"], "").stdout), "x\n");
}

#[test]
fn permissions_follow_the_source() {
    let d = Dir::new("perm", "");
    let src = d.file("a", "k: v\n");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(code(&d.run(&["a"], "")), 0);
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.path("a.db")), 0o640);
    std::fs::remove_file(d.path("a.db")).unwrap();
    assert_eq!(code(&d.run(&["-p", "a"], "")), 0);
    assert_eq!(mode(&d.path("a.db")), 0o644);
}

#[test]
fn failed_write_leaves_the_old_table() {
    let d = Dir::new("fail", "");
    d.file("a", "k: old\n");
    assert_eq!(code(&d.run(&["a"], "")), 0);
    d.file("a", "k: new\n");
    let cf = d.cf().display().to_string();
    let o = d.exec(
        POSTALIAS,
        &["-c", &cf, "a"],
        "",
        &[("MAILSUITE_FAIL_POINT", "rename")],
    );
    assert_eq!(code(&o), 74, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("the old table is unchanged"));
    assert_eq!(text(&d.run(&["-q", "k", "a"], "").stdout), "old\n");
    let leftovers: Vec<_> = std::fs::read_dir(&d.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn newaliases_builds_every_alias_database() {
    // The seeds' workflow: edit the aliases file, run newaliases, and the
    // tables in alias_maps answer with the new entries.
    let d = Dir::new(
        "newaliases",
        "alias_database = hash:$DIR/aliases, $DIR/more\n\
         alias_maps = hash:$DIR/aliases hash:$DIR/more\n",
    );
    d.file("aliases", "dream: root\npostmaster: root\n");
    d.file("more", "xxoo: root\ndream: other\n");
    let cf = d.cf().display().to_string();
    let o = d.exec(NEWALIASES, &["-C", &cf], "", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(o.stderr.is_empty() && o.stdout.is_empty());

    let ctx = maps::Ctx::new().with_warn(|_| {});
    let maps_value = format!("hash:{} hash:{}", d.path("aliases"), d.path("more"));
    let list = maps::MapList::open("alias_maps", &maps_value, &ctx).unwrap();
    assert_eq!(list.lookup("Dream").unwrap().as_deref(), Some("root"));
    assert_eq!(list.lookup("xxoo").unwrap().as_deref(), Some("root"));
    assert_eq!(list.lookup("nobody").unwrap(), None);

    // Edit, rebuild through MAIL_CONFIG: the open list sees the change.
    d.file("aliases", "dream: root, dream2\nnewuser: root\n");
    let o = d.exec(NEWALIASES, &[], "", &[("MAIL_CONFIG", &cf)]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        list.lookup("dream").unwrap().as_deref(),
        Some("root, dream2")
    );
    assert_eq!(list.lookup("newuser").unwrap().as_deref(), Some("root"));
    assert_eq!(list.lookup("postmaster").unwrap(), None);

    // -C may name main.cf itself; -oA picks other tables.
    d.file("other", "solo: x\n");
    let main_cf = d.cf().join("main.cf").display().to_string();
    let oa = format!("-oA{}", d.path("other"));
    let o = d.exec(NEWALIASES, &["-C", &main_cf, &oa], "", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(Path::new(&d.path("other.db")).exists());

    // A missing source stops with postalias's message.
    std::fs::remove_file(d.path("more")).unwrap();
    let o = d.exec(NEWALIASES, &["-C", &cf], "", &[]);
    assert_eq!(code(&o), 66);
    assert_eq!(
        text(&o.stderr),
        format!(
            "postalias: fatal: open {}: No such file or directory\n",
            d.path("more")
        )
    );
    let o = d.exec(NEWALIASES, &["-C", &cf, "someone"], "", &[]);
    assert_eq!(code(&o), 64);
    assert!(text(&o.stderr).starts_with("newaliases: fatal: "));

    // postalias invoked by the name newaliases (a symlink) is newaliases.
    d.file("more", "xxoo: root\n");
    let link = d.0.join("newaliases");
    std::os::unix::fs::symlink(POSTALIAS, &link).unwrap();
    let o = d.exec(&link.display().to_string(), &["-C", &cf], "", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}

#[test]
fn newaliases_with_nothing_to_do_or_no_config() {
    // An empty alias_database builds nothing and succeeds.
    let d = Dir::new("empty", "alias_database =\n");
    let cf = d.cf().display().to_string();
    let o = d.exec(NEWALIASES, &["-C", &cf], "", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // A configuration directory without main.cf.
    let o = d.exec(NEWALIASES, &["-C", "/nonexistent/dir"], "", &[]);
    assert_eq!(code(&o), 66, "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with("newaliases: fatal: "));
    // A bad main.cf is a configuration error.
    let d = Dir::new(
        "badcf",
        "alias_database = hash:$DIR/a\nthis is not a parameter\n",
    );
    let cf = d.cf().display().to_string();
    let o = d.exec(NEWALIASES, &["-C", &cf], "", &[]);
    assert_eq!(code(&o), 78, "{}", text(&o.stderr));
}

#[test]
fn a_reader_sees_the_rebuilt_table_on_its_next_lookup() {
    let d = Dir::new("reader", "");
    d.file("aliases", "dream: root\n");
    assert_eq!(code(&d.run(&["aliases"], "")), 0);
    let ctx = maps::Ctx::new().with_warn(|_| {});
    let reader = maps::open(&format!("hash:{}", d.path("aliases")), &ctx).unwrap();
    assert_eq!(reader.lookup("dream").unwrap().as_deref(), Some("root"));
    for round in 0..3 {
        let v = format!("user{round}");
        d.file("aliases", &format!("dream: {v}\nround{round}: x\n"));
        assert_eq!(code(&d.run(&["aliases"], "")), 0);
        assert_eq!(reader.lookup("dream").unwrap().as_deref(), Some(v.as_str()));
        assert_eq!(
            reader.lookup(&format!("round{round}")).unwrap().as_deref(),
            Some("x")
        );
    }
    assert_eq!(reader.lookup("round0").unwrap(), None);
}

#[test]
fn same_answers_as_postfix_postalias() {
    if !Path::new(REAL_POSTALIAS).exists() {
        eprintln!("skipped: {REAL_POSTALIAS} is not installed");
        return;
    }
    let cf = "myhostname = mail.example\ncompatibility_level = 3.6\n";
    let ours = Dir::new("side-ours", cf);
    let theirs = Dir::new("side-postfix", cf);
    let source = format!(
        "{SOURCE}two words: x\nname (cmt): y\nspc : z\n\"@\": at\nunbal: \"abc, d\n\
         \"unb2: x\nlit: u@[1.2.3.4]\nbs: a\\\nangle: <>\nonlycmt: (c)\nsq: a\"b\"c\n\
         dots: a.b. c\nMixed: Mixed@Example.COM\nq2: \"\\\"x\\\"\"\npct%x: y\n\
         semi: a;b\nbang: a!b\npp: \"|cmd \\\"q\\\" x\"\ncrlf: a, b\r\n8bit: jörg\n\
         \x20 lead: ws\n\\\n"
    );
    ours.file("aliases", &source);
    theirs.file("aliases", &source);
    let real = |args: &[&str], stdin: &str| {
        let cf = theirs.cf().display().to_string();
        let mut all = vec!["-c", cf.as_str()];
        all.extend_from_slice(args);
        theirs.exec(REAL_POSTALIAS, &all, stdin, &[])
    };
    let a = ours.run(&["aliases"], "");
    let b = real(&["aliases"], "");
    assert_eq!(code(&a), code(&b));
    assert_eq!(text(&a.stderr), text(&b.stderr));

    let keys = [
        "postmaster",
        "DREAM",
        "multi",
        "cont",
        "quoted name",
        "Quoted Name",
        "pipe",
        "pipe2",
        "file",
        "inc",
        "remote",
        "comment",
        "dup",
        "esc",
        "grp",
        "two words",
        "name (cmt)",
        "spc",
        "@",
        "unbal",
        "lit",
        "bs",
        "angle",
        "onlycmt",
        "sq",
        "dots",
        "mixed",
        "q2",
        "pp",
        "crlf",
        "8bit",
        "nosuch",
        "bad",
        "a,b",
        "empty",
        "YP_MASTER_NAME",
    ];
    for k in keys {
        let a = ours.run(&["-q", k, "aliases"], "");
        let b = real(&["-q", k, "aliases"], "");
        assert_eq!(
            (code(&a), text(&a.stdout)),
            (code(&b), text(&b.stdout)),
            "key {k:?}"
        );
    }
    let all = keys.join("\n");
    let a = ours.run(&["-q", "-", "aliases"], &all);
    let b = real(&["-q", "-", "aliases"], &all);
    assert_eq!(text(&a.stdout), text(&b.stdout));
    let a = ours.run(&["-s", "aliases"], "");
    let b = real(&["-s", "aliases"], "");
    assert_eq!(dump_lines(&a), dump_lines(&b));

    // Incremental updates agree too.
    let add = "Dream: changed\nfresh: new, \"|x y\"\n";
    let a = ours.run(&["-i", "aliases"], add);
    let b = real(&["-i", "aliases"], add);
    assert_eq!(text(&a.stderr), text(&b.stderr));
    let a = ours.run(&["-s", "aliases"], "");
    let b = real(&["-s", "aliases"], "");
    assert_eq!(dump_lines(&a), dump_lines(&b));
}
