//! Class mode as DESIGN.md promises it, played by students as real uids
//! through the installed privileged trader (issue 19): a copy of `trader`
//! setuid and setgid to an exchange user and group, mode 6755, in a
//! temporary directory every test user can enter, on a filesystem without
//! nosuid; an instructor and students, all made for the test and removed
//! in `Drop`, even on a panic.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::users::TestUser;
use common::{temp_file, Attached, Backend, Run, Segment, INIT, TIMEOUT, TRADER};

/// A class: the exchange user (whose own group is the class group), the
/// instructor, and the privileged trader installed for them.
struct Class {
    exchange: TestUser,
    instructor: TestUser,
    trader: PathBuf,
    /// Holds the installed trader; removed after the users.
    _dir: tempfile::TempDir,
}

impl Class {
    /// Sets a class up, or says why it cannot be done here (`None`).
    fn install() -> Option<Class> {
        let dir = tempfile::Builder::new()
            .prefix("shmx-class-")
            .tempdir()
            .unwrap();
        if let Some(reason) = setuid_unavailable(dir.path()) {
            eprintln!("skipped: {reason}");
            return None;
        }
        let exchange = TestUser::create("ex")?;
        let instructor = TestUser::create("in")?;
        // The README's install line: owner and group the exchange's, 6755,
        // in a folder the students can enter.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let trader = dir.path().join("trader");
        std::fs::copy(TRADER, &trader).unwrap();
        nix::unistd::chown(
            &trader,
            Some(exchange.uid.into()),
            Some(exchange.gid.into()),
        )
        .unwrap();
        std::fs::set_permissions(&trader, std::fs::Permissions::from_mode(0o6755)).unwrap();
        Some(Class {
            exchange,
            instructor,
            trader,
            _dir: dir,
        })
    }

    /// The class group's name (the exchange user's own group).
    fn group(&self) -> &str {
        &self.exchange.name
    }

    /// The instructor creates a class market at `segment`, in a shell
    /// where the class group is active.
    fn open_market(&self, segment: &Segment) -> Run {
        let run = self.init_as_instructor(segment, &["--group", self.group()]);
        run.success();
        run
    }

    /// `exchange-init --segment ADDRESS ARGS` as the instructor, with the
    /// class group as their group (as after `newgrp`).
    fn init_as_instructor(&self, segment: &Segment, args: &[&str]) -> Run {
        let mut command = segment.command(INIT, args);
        self.instructor.apply(&mut command).gid(self.exchange.gid);
        Run::new(command, b"")
    }

    /// The installed trader, as `user`, on `segment`, not yet run.
    fn trader_as(&self, user: &TestUser, segment: &Segment, args: &[&str]) -> Command {
        let mut command = segment.command(&self.trader, args);
        user.apply(&mut command);
        command
    }

    /// Runs the installed trader as `user`.
    fn run_as(&self, user: &TestUser, segment: &Segment, args: &[&str]) -> Run {
        Run::new(self.trader_as(user, segment, args), b"")
    }
}

/// Why setuid programs cannot work here, if they cannot.
fn setuid_unavailable(dir: &Path) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("creating users needs root".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if status
        .lines()
        .any(|line| line.starts_with("NoNewPrivs:") && line.trim_end().ends_with('1'))
    {
        return Some("no_new_privs is set, so setuid bits are ignored".into());
    }
    let options = Command::new("findmnt")
        .args(["-no", "OPTIONS", "--target"])
        .arg(dir)
        .output()
        .ok()?;
    let options = String::from_utf8_lossy(&options.stdout);
    options
        .split(',')
        .any(|option| option.trim() == "nosuid")
        .then(|| format!("{} is mounted nosuid", dir.display()))
}

/// The object of a POSIX segment in /dev/shm.
fn object_of(segment: &Segment) -> PathBuf {
    PathBuf::from(format!(
        "/dev/shm{}",
        segment.address.trim_start_matches("posix:")
    ))
}

/// The four ids (real, effective, saved, filesystem) of `field` (`Uid` or
/// `Gid`) in /proc/PID/status.
fn ids(pid: u32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect()
}

/// The blocked-signal mask of /proc/PID/status.
fn blocked_signals(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigBlk:"))
        .unwrap();
    u64::from_str_radix(mask.trim(), 16).unwrap()
}

fn signal_bit(signal: nix::sys::signal::Signal) -> u64 {
    1 << (signal as u64 - 1)
}

#[test]
fn students_trade_only_through_the_class_trader_and_only_as_themselves() {
    let Some(class) = Class::install() else {
        return;
    };
    let (Some(ana), Some(bob)) = (TestUser::create("st"), TestUser::create("st")) else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    let object = object_of(&segment);

    // An instructor just added to the group, in the same shell, is told why
    // and what to do; nothing is left behind.
    let mut stale = segment.command(INIT, &["--group", class.group()]);
    class.instructor.apply(&mut stale);
    Run::new(stale, b"").status(2).stderr_has(&format!(
        "you are not in group {} in this shell: log in again or run `newgrp {}`",
        class.group(),
        class.group()
    ));
    assert!(!object.exists(), "a refused creation left {object:?}");

    // Created 0660 in the class group, and the banner says so.
    class
        .open_market(&segment)
        .stdout_has(&format!("class mode: group {}", class.group()));
    let metadata = std::fs::metadata(&object).unwrap();
    assert_eq!(metadata.mode() & 0o7777, 0o660);
    assert_eq!(
        (metadata.uid(), metadata.gid()),
        (class.instructor.uid, class.exchange.gid)
    );

    // Students trade through the installed trader, as their login or
    // LOGIN:LABEL.
    class
        .run_as(&ana, &segment, &["buy", "DOLLAR", "2"])
        .success();
    let bot = format!("{}:bot", ana.name);
    class
        .run_as(&ana, &segment, &["--name", &bot, "buy", "EURO", "1"])
        .success();
    class
        .run_as(&bob, &segment, &["buy", "POUND", "1"])
        .success();

    // ... but their own code cannot open the segment.
    for probe in [
        vec![
            "dd".to_owned(),
            format!("if={}", object.display()),
            "of=/dev/null".into(),
            "count=1".into(),
        ],
        vec![
            "dd".to_owned(),
            "if=/dev/zero".into(),
            format!("of={}", object.display()),
            "conv=notrunc".into(),
            "count=1".into(),
        ],
    ] {
        let mut command = Command::new(&probe[0]);
        command.args(&probe[1..]);
        ana.apply(&mut command);
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{probe:?} worked");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Permission denied"), "{probe:?}: {stderr}");
    }
    // Nor trade as another student, by --name, by a label or by $USER.
    for name in [bob.name.clone(), format!("{}:bot", bob.name)] {
        class
            .run_as(&ana, &segment, &["--name", &name, "sell", "POUND", "1"])
            .status(2)
            .stderr_has(&format!("the account {name} is not yours"));
    }
    let mut posing = class.trader_as(&ana, &segment, &["buy", "DOLLAR", "1"]);
    posing.env("USER", &bob.name);
    Run::new(posing, b"").status(2).stderr_has("is not yours");
    // Nor remove or replace the exchange.
    for args in [&["--remove"][..], &["--force"][..]] {
        let mut command = segment.command(INIT, args);
        ana.apply(&mut command);
        Run::new(command, b"")
            .status(2)
            .stderr_has("permission denied");
    }
    // The trader reads a script with the student's own rights: a file
    // only the class group may read is out of reach through it.
    let script = temp_file(".txt", "rates\n");
    nix::unistd::chown(
        script.as_os_str(),
        Some(0.into()),
        Some(class.exchange.gid.into()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o640)).unwrap();
    class
        .run_as(&ana, &segment, &["--script", script.to_str().unwrap()])
        .status(2)
        .stderr_has("cannot read the script");

    // The owner may open any account, through the class trader too.
    let any_account = ["--name", bob.name.as_str(), "portfolio"];
    let mut command = class.trader_as(&class.instructor, &segment, &any_account);
    command.gid(class.exchange.gid);
    Run::new(command, b"").success().stdout_has("POUND");
    let holdings = segment.json(&bot, "portfolio");
    assert_eq!(holdings["holdings"]["EURO"], "1.00", "{holdings}");
    let audit = segment.json("root", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
}

#[test]
fn a_students_trader_holds_only_the_exchange_user_and_cannot_be_stopped() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);

    let mut command = class.trader_as(&ana, &segment, &["--name", &ana.name]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut trader = Attached::spawn(command, &ana.name);
    let reply = trader.ask("portfolio");
    assert!(reply.contains("balance 1000.00"), "{reply}");
    let pid = trader.pid();
    // Attached: every uid the exchange user's, every gid the student's.
    assert_eq!(ids(pid, "Uid"), vec![class.exchange.uid; 4]);
    assert_eq!(ids(pid, "Gid"), vec![ana.gid; 4]);
    // The terminal's stop signals are blocked for the whole process.
    use nix::sys::signal::Signal::{SIGTSTP, SIGTTIN, SIGTTOU};
    let stops = signal_bit(SIGTSTP) | signal_bit(SIGTTIN) | signal_bit(SIGTTOU);
    assert_eq!(blocked_signals(pid) & stops, stops);

    // The student can neither stop, kill nor trace their own trader.
    for signal in ["-STOP", "-KILL"] {
        let mut kill = Command::new("kill");
        kill.args([signal, &pid.to_string()]);
        ana.apply(&mut kill);
        let output = kill.output().unwrap();
        assert!(!output.status.success(), "kill {signal} worked");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Operation not permitted"),
            "{output:?}"
        );
    }
    let mut peek = Command::new("cat");
    peek.arg(format!("/proc/{pid}/environ"));
    ana.apply(&mut peek);
    assert!(!peek.output().unwrap().status.success());
    // ... and it still trades.
    assert!(trader.ask("buy DOLLAR 1").starts_with("bought"));
    let (status, stderr) = trader.finish();
    assert!(status.success(), "{status}: {stderr}");

    // A path that opens no segment gives everything up before its work.
    let (uid, gid) = (class.exchange.uid, ana.gid);
    let run = class.run_as(&ana, &segment, &["--trace", "completions", "bash"]);
    run.success().stdout_has("complete");
    assert!(
        run.stderr().starts_with(&format!(
            "trace: privileges dropped for good: uids {uid}/{uid}/{uid}, gids {gid}/{gid}/{gid}"
        )),
        "{}",
        run.stderr()
    );
}

/// Before the attach, while it reads the student's own files, the trader
/// runs with the student's rights (effective uid and gid) and yet cannot
/// be stopped: its real and saved uids are already the exchange user's.
#[test]
fn before_the_attach_the_trader_has_the_students_rights_and_cannot_be_stopped() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);
    // A FIFO as the script: the trader waits in its open, before the attach.
    let dir = tempfile::Builder::new()
        .prefix("shmx-fifo-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = dir.path().join("orders");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut command = class.trader_as(&ana, &segment, &["--script", fifo.to_str().unwrap()]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = child.id();
    let (ex, st) = (class.exchange.uid, ana.uid);
    common::wait_for("the trader to set its privileges aside", TIMEOUT, || {
        ids(pid, "Uid") == [ex, st, ex, st]
    });
    assert_eq!(
        ids(pid, "Gid"),
        [ana.gid, ana.gid, class.exchange.gid, ana.gid]
    );
    let mut kill = Command::new("kill");
    kill.args(["-STOP", &pid.to_string()]);
    ana.apply(&mut kill);
    assert!(
        !kill.output().unwrap().status.success(),
        "kill -STOP worked"
    );
    std::fs::write(&fifo, "rates\n").unwrap();
    let output = common::finish(child, b"", TIMEOUT, "trader");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("DOLLAR"));
}

#[test]
fn ctrl_z_stops_neither_a_students_repl_nor_their_script_and_history_is_kept() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);
    // A home of the student's own, which the process cannot reach once it
    // is the exchange user: the history goes through the kept descriptor.
    let home = tempfile::Builder::new()
        .prefix("shmx-home-")
        .tempdir()
        .unwrap();
    nix::unistd::chown(home.path(), Some(ana.uid.into()), Some(ana.gid.into())).unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();

    // Under a shell with job control, as a student's terminal has it: the
    // trader in a process group of its own that a stop would stop (the
    // kernel ignores stops in an orphaned group, such as a lone process
    // in a fresh pty's session).
    let mut command = Command::new("bash");
    command.args([
        "-m",
        "-c",
        &format!(
            "{trader} --segment {segment}; echo trader-exited; \
             {trader} --segment {segment} --script -; echo script-exited",
            trader = class.trader.display(),
            segment = segment.address
        ),
    ]);
    ana.apply(&mut command);
    command
        .env("HOME", home.path())
        .env_remove("XDG_STATE_HOME")
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut repl = rexpect::session::spawn_with_options(
        command,
        rexpect::reader::Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the trader in a pty");
    repl.exp_string("trading as").unwrap();
    repl.send_control('z').unwrap();
    repl.send_line("portfolio").unwrap();
    // A stopped trader would show as the shell's `Stopped` job, and the
    // shell would go on to its echo.
    let before = repl.exp_string("portfolio of").unwrap();
    assert!(
        !before.contains("Stopped") && !before.contains("trader-exited"),
        "{before:?}"
    );
    repl.send_line("buy DOLLAR 1").unwrap();
    repl.exp_string("bought 1.00 DOLLAR").unwrap();
    repl.send_line("quit").unwrap();
    repl.exp_string("trader-exited").unwrap();
    // A scripted trader reading the terminal in its cooked mode, where
    // Ctrl-Z is the terminal driver's SIGTSTP, not the line editor's.
    repl.send_control('z').unwrap();
    repl.send_line("rates").unwrap();
    let before = repl.exp_string("POUND").unwrap();
    assert!(
        !before.contains("Stopped") && !before.contains("script-exited"),
        "{before:?}"
    );
    repl.send_control('d').unwrap();
    repl.exp_string("script-exited").unwrap();
    let history = home.path().join(".local/state/shm-exchange/history");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("buy DOLLAR 1"), "{saved:?}");
    assert_eq!(std::fs::metadata(&history).unwrap().uid(), ana.uid);
}

#[test]
fn a_login_with_a_dot_keeps_its_account_from_the_login_it_begins_with() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let Some(ana_x) = TestUser::named(&format!("{}.x", ana.name)) else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);

    // ana tries to squat ana.x's account first: refused, nothing opened.
    class
        .run_as(
            &ana,
            &segment,
            &["--name", &ana_x.name, "buy", "DOLLAR", "1"],
        )
        .status(2)
        .stderr_has(&format!(
            "the account {} is not yours; use --name {}",
            ana_x.name, ana.name
        ));
    let traders = segment.json("root", "traders");
    assert!(!traders.to_string().contains(&ana_x.name), "{traders}");
    // The real ana.x trades under their login, and it is theirs.
    class
        .run_as(&ana_x, &segment, &["buy", "DOLLAR", "1"])
        .success();
    class
        .run_as(
            &ana,
            &segment,
            &["--name", &ana_x.name, "sell", "DOLLAR", "1"],
        )
        .status(2);
    let holdings = segment.json(&ana_x.name, "portfolio");
    assert_eq!(holdings["holdings"]["DOLLAR"], "1.00", "{holdings}");
}

#[test]
fn the_class_group_never_allocates_or_reports_a_file_that_is_not_the_exchange() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    // A sparse, group-writable 200 MB file of the class group, in a folder
    // the student can enter.
    let dir = tempfile::Builder::new()
        .prefix("shmx-sparse-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sparse = dir.path().join("sparse");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    nix::unistd::chown(
        &sparse,
        Some(class.instructor.uid.into()),
        Some(class.exchange.gid.into()),
    )
    .unwrap();
    std::fs::set_permissions(&sparse, std::fs::Permissions::from_mode(0o660)).unwrap();
    let segment = Segment::at(format!("file:{}", sparse.display()), None);
    let run = class.run_as(&ana, &segment, &["rates"]);
    run.status(2).stderr_has("permission denied");
    assert!(!run.stderr().contains("bytes"), "{}", run.stderr());
    assert_eq!(std::fs::metadata(&sparse).unwrap().blocks(), 0);

    // Inside a folder only the group may enter, a file that is there and
    // one that is not get the same answer: the group never traverses.
    let hidden = dir.path().join("group-only");
    std::fs::create_dir(&hidden).unwrap();
    nix::unistd::chown(&hidden, Some(0.into()), Some(class.exchange.gid.into())).unwrap();
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o770)).unwrap();
    let market = Segment::at(format!("file:{}", hidden.join("market").display()), None);
    class.open_market(&market);
    let answer = |path: &Path| {
        let segment = Segment::at(format!("file:{}", path.display()), None);
        let run = class.run_as(&ana, &segment, &["rates"]);
        run.status(2);
        let text = run.stderr().replace(&path.display().to_string(), "PATH");
        std::mem::forget(segment);
        text
    };
    assert_eq!(
        answer(&hidden.join("market")),
        answer(&hidden.join("nothing"))
    );
}

#[test]
fn the_instructor_clears_a_scribbled_truncated_or_empty_object_of_theirs() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    for (damage, found) in [
        ("scribble", "not an exchange ("),
        ("truncate", "not an exchange (12 bytes)"),
        ("empty", "a half-created exchange (0 bytes)"),
    ] {
        for action in ["--remove", "--force"] {
            let segment = Segment::unique(Backend::Posix);
            class.open_market(&segment);
            let object = object_of(&segment);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&object)
                .unwrap();
            match damage {
                "scribble" => {
                    use std::os::unix::fs::FileExt;
                    file.write_all_at(b"NOTMAGIC", 0).unwrap();
                }
                "truncate" => file.set_len(12).unwrap(),
                _ => file.set_len(0).unwrap(),
            }
            // Not a student's to clear.
            let mut command = segment.command(INIT, &[action]);
            ana.apply(&mut command);
            Run::new(command, b"").status(2);
            assert!(object.exists());
            // The instructor's, whatever is in it; the answer says what.
            let args = match action {
                "--remove" => vec![action],
                _ => vec![action, "--group", class.group()],
            };
            let run = class.init_as_instructor(&segment, &args);
            run.success().stdout_has(found);
            if action == "--remove" {
                assert!(!object.exists(), "{damage}: still there");
                run.stdout_has(&format!("removed {}: ", segment.address));
            } else {
                class
                    .run_as(&ana, &segment, &["buy", "DOLLAR", "1"])
                    .success();
            }
        }
    }
}

#[test]
fn on_redis_the_class_trader_gives_up_everything_at_once() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let segment = Segment::unique(Backend::Redis);
    // Redis has no class mode, and the refusal offers only what has one.
    let refused = segment.init(&["--group", class.group()]);
    refused.status(2).stderr_has("posix:/NAME or file:PATH");
    assert!(!refused.stderr().contains("sysv"), "{}", refused.stderr());
    segment.init(&[]).success();
    let run = class.run_as(&ana, &segment, &["--trace", "rates"]);
    run.success();
    // The first step, before the first word to the server.
    let (uid, gid) = (class.exchange.uid, ana.gid);
    let first = run.stderr().lines().next().unwrap_or_default().to_owned();
    assert!(
        first.contains(&format!(
            "privileges dropped for good: uids {uid}/{uid}/{uid}, gids {gid}/{gid}/{gid}"
        )),
        "{}",
        run.stderr()
    );
}

/// The installed trader on an open-mode market the student may only read:
/// the group is tried and refused (the market is not the class's), the
/// read-only open goes ahead with the student's own rights.
#[test]
fn the_class_trader_reads_a_market_the_student_may_only_read() {
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class
        .init_as_instructor(&segment, &["--mode", "0644"])
        .success();
    class
        .run_as(&ana, &segment, &["rates"])
        .success()
        .stdout_has("DOLLAR");
}

/// Issue 22 in class mode: a student's bot, through the Python client and
/// the installed trader, trades as `LOGIN:bot`, and is refused as another
/// student's bot; the market is unchanged by the refusal.
#[test]
fn a_students_bot_trades_as_login_colon_bot_and_not_as_anothers() {
    let Some(class) = Class::install() else {
        return;
    };
    let (Some(ana), Some(ben)) = (TestUser::create("st"), TestUser::create("st")) else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);
    // The client, where every test user can read it.
    let client = class._dir.path().join("client");
    std::fs::create_dir_all(client.join("shmx_client")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python/shmx_client/__init__.py"),
        client.join("shmx_client/__init__.py"),
    )
    .unwrap();
    for folder in [client.clone(), client.join("shmx_client")] {
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let script = r#"
import sys
from shmx_client import Trader, ExchangeError
segment, me, other, trader = sys.argv[1:5]
with Trader(segment, me + ":bot", trader) as bot:
    hello = bot.hello()
    assert hello["may_trade"] is True, hello
    bot.buy("DOLLAR", "2")
    bot.sell("DOLLAR", "1")
with Trader(segment, other + ":bot", trader) as bot:
    try:
        bot.buy("DOLLAR", 1)
        raise SystemExit("traded as another student's bot")
    except ExchangeError as error:
        assert error.code == "class_mode", error.code
        assert "is not yours" in str(error), str(error)
print("bot ok")
"#;
    let mut python = Command::new("python3");
    ana.apply(&mut python)
        .args(["-c", script, &segment.address, &ana.name, &ben.name])
        .arg(&class.trader)
        .env("PYTHONPATH", &client)
        .env_remove("SHM_EXCHANGE_CRASH_AT");
    Run::new(python, b"").success().stdout_has("bot ok");

    let bot = segment.json(&format!("{}:bot", ana.name), "portfolio");
    assert_eq!(bot["holdings"]["DOLLAR"], "1.00", "{bot}");
    let traders = segment.json("root", "traders");
    let names: Vec<&str> = traders["traders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["name"].as_str())
        .collect();
    assert!(
        !names.iter().any(|name| name.starts_with(&ben.name)),
        "a refused bot opened an account: {names:?}"
    );
    let audit = segment.json("root", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
}

/// What a student could change: the quotes and stock, every account, the
/// tape, the audit, the halt and the round, read as root.
fn market_state(segment: &Segment) -> Vec<serde_json::Value> {
    ["rates", "traders", "tape 256", "audit", "hello"]
        .iter()
        .map(|command| {
            let mut reply = segment.json("root", command);
            // `hello`'s change counter moves with nothing but reads.
            if let Some(object) = reply.as_object_mut() {
                object.remove("seq");
            }
            reply
        })
        .collect()
}

/// Issue 19: a student tries every subcommand of the installed trader,
/// listed or not, the lab's old ones and the owner's, with their options,
/// on a halted class market: nothing changes and the audit balances.
#[test]
fn no_subcommand_of_the_class_trader_changes_a_halted_market_for_a_student() {
    let Some(class) = Class::install() else {
        return;
    };
    let (Some(ana), Some(bob)) = (TestUser::create("st"), TestUser::create("st")) else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);
    class
        .run_as(&ana, &segment, &["buy", "DOLLAR", "2"])
        .success();
    class
        .run_as(&bob, &segment, &["buy", "EURO", "1"])
        .success();
    let mut halt = class.trader_as(&class.instructor, &segment, &["halt"]);
    halt.gid(class.exchange.gid);
    Run::new(halt, b"").success();
    let before = market_state(&segment);

    let bot = format!("{}:bot", ana.name);
    let bobs_bot = format!("{}:bot", bob.name);
    let attempts: Vec<Vec<&str>> = vec![
        vec!["buy", "DOLLAR", "1"],
        vec!["sell", "DOLLAR", "1"],
        vec!["--name", &bot, "buy", "EURO", "1"],
        vec!["--name", &bob.name, "sell", "EURO", "1"],
        vec!["--name", &bobs_bot, "buy", "EURO", "1"],
        vec!["--trace", "buy", "DOLLAR", "1"],
        vec!["--json", "sell", "DOLLAR", "2"],
        vec!["price", "DOLLAR", "30", "29"],
        vec!["resume"],
        vec!["halt"],
        vec!["reset"],
        vec!["close", &bob.name],
        vec!["ticker", "--every", "0.1", "--step", "50"],
        vec!["ticker", "--json", "--seed", "1"],
        vec!["round", "--for", "5s"],
        vec!["round", "--finish"],
        vec!["stress", "--procs", "2", "--trades", "100", "--unlocked"],
        vec![
            "stress-worker",
            "--trades",
            "1000",
            "--seed",
            "1",
            "--unlocked",
        ],
        vec![
            "--name",
            &ana.name,
            "stress-worker",
            "--trades",
            "1000",
            "--unlocked",
        ],
        vec!["bench", "--quick"],
        vec!["bench-worker", "--kind", "c-loop", "--trades", "10"],
        vec!["serve", "--socket", "/tmp/shmx-student.sock"],
        vec![
            "mp-client",
            "--socket",
            "/tmp/shmx-student.sock",
            "--trades",
            "10",
        ],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["rates"],
        vec!["hello"],
        vec!["wait", "10"],
        vec!["portfolio"],
        vec!["history"],
        vec!["audit"],
    ];
    for args in &attempts {
        let run = Run::within(
            class.trader_as(&ana, &segment, args),
            b"",
            std::time::Duration::from_secs(30),
        );
        if matches!(
            args[0],
            "buy" | "sell" | "price" | "resume" | "halt" | "reset"
        ) || matches!(args[0], "close" | "ticker" | "round" | "stress" | "bench")
            || args.contains(&"buy")
            || args.contains(&"sell")
            || args[0].ends_with("worker")
            || matches!(args[0], "serve" | "mp-client")
        {
            assert!(
                !run.output.status.success(),
                "{args:?} succeeded for a student: {}",
                run.stdout()
            );
        }
        assert_eq!(
            market_state(&segment),
            before,
            "{args:?} changed the market"
        );
    }
    // A script of the same, one command a line, changes nothing either.
    let script = "buy DOLLAR 1\nsell DOLLAR 1\nresume\nprice EURO 40 39\nreset\nclose x\n";
    let run = Run::within(
        class.trader_as(&ana, &segment, &["--script", "-"]),
        script.as_bytes(),
        std::time::Duration::from_secs(30),
    );
    assert!(!run.output.status.success(), "{}", run.stdout());
    let after = market_state(&segment);
    assert_eq!(after, before, "a script changed the market");
    assert_eq!(after[3]["consistent"], true, "{}", after[3]);
    assert_eq!(after[4]["halted"], true, "{}", after[4]);
}

/// Issue 19: `kill -STOP` of one's own trader, at 30 moments while it
/// trades from a script, never stops it (the student's uid is none of its
/// uids), so the instructor's trades never wait more than 2 s.
#[test]
fn thirty_stops_of_a_students_own_trader_hold_nobody_up() {
    use std::io::Write;
    let Some(class) = Class::install() else {
        return;
    };
    let Some(ana) = TestUser::create("st") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    class.open_market(&segment);
    let mut command = class.trader_as(&ana, &segment, &["--script", "-"]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut student = command.spawn().unwrap();
    let mut stdin = student.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..1_000_000 {
            if stdin
                .write_all(b"buy DOLLAR 0.01\nsell DOLLAR 0.01\n")
                .is_err()
            {
                break;
            }
        }
    });
    let pid = student.id().to_string();
    let mut pacing = 0x2545_f491_4f6c_dd1d_u64;
    for attempt in 0..30 {
        // A seeded pause of up to 5 ms puts each stop at another moment of
        // the student's stream of trades.
        pacing ^= pacing << 13;
        pacing ^= pacing >> 7;
        pacing ^= pacing << 17;
        std::thread::sleep(std::time::Duration::from_micros(pacing % 5000));
        let mut stop = Command::new("kill");
        stop.args(["-STOP", &pid]);
        ana.apply(&mut stop);
        let output = stop.output().unwrap();
        assert!(
            !output.status.success(),
            "attempt {attempt}: kill -STOP worked"
        );
        assert!(
            matches!(student.try_wait(), Ok(None)),
            "attempt {attempt}: the student's trader ended"
        );
        // The instructor's own trade goes through within 2 s.
        let started = std::time::Instant::now();
        let mut own = class.trader_as(&class.instructor, &segment, &["buy", "EURO", "0.01"]);
        own.gid(class.exchange.gid);
        Run::within(own, b"", std::time::Duration::from_secs(10)).success();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "attempt {attempt}: the instructor waited {:?}",
            started.elapsed()
        );
    }
    // Root may end it, mid-trade or not; the next trader repairs.
    student.kill().unwrap();
    student.wait().unwrap();
    writer.join().unwrap();
    let audit = segment.json("root", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    let bought = segment.json(&ana.name, "portfolio");
    assert_eq!(bought["ok"], true, "{bought}");
}
