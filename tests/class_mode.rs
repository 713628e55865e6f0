//! Issue 12, item 2: class mode, as DESIGN.md describes it. A setgid copy
//! of `trader` in a temporary directory on a filesystem without nosuid, a
//! group, two students and an instructor, all made for this test and
//! removed in `Drop`. Students trade through the trader, and only through
//! it: their own code cannot open the segment, they cannot trade as each
//! other, and they cannot remove or replace the exchange.
//!
//! The instructor's own commands (price, halt, reset, close) live on
//! another branch; here the owner-only controls tested are `--remove` and
//! `--force`.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::users::TestUser;
use common::{temp_file, Backend, Run, Segment, INIT, TRADER};

/// A group made for one test, deleted when dropped.
struct TestGroup {
    name: String,
    gid: u32,
}

impl TestGroup {
    fn create() -> TestGroup {
        let name = format!("sxclass{}", std::process::id() % 100_000);
        let status = Command::new("groupadd")
            .arg(&name)
            .status()
            .expect("groupadd runs");
        assert!(status.success(), "groupadd {name} failed: {status}");
        let gid = nix::unistd::Group::from_name(&name)
            .expect("getgrnam")
            .expect("the new group exists")
            .gid
            .as_raw();
        TestGroup { name, gid }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).status();
    }
}

/// Why setgid programs cannot work here, if they cannot.
fn setgid_unavailable(dir: &Path) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("creating users and groups needs root".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if status
        .lines()
        .any(|line| line.starts_with("NoNewPrivs:") && line.trim_end().ends_with('1'))
    {
        return Some("no_new_privs is set, so setgid bits are ignored".into());
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

/// The trader binary copied to `dir`, owned by root and `group`, mode 2755.
fn install_setgid_trader(dir: &Path, group: &TestGroup) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let installed = dir.join("trader");
    std::fs::copy(TRADER, &installed).unwrap();
    nix::unistd::chown(&installed, Some(0.into()), Some(group.gid.into())).unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o2755)).unwrap();
    installed
}

/// Runs `program --segment ADDRESS ARGS` as `user`, with `gid` as its
/// group if given, and `USER` set to `user_env` (default: the user's name).
fn run(
    program: &Path,
    args: &[&str],
    user: &TestUser,
    gid: Option<u32>,
    segment: &Segment,
    user_env: Option<&str>,
) -> Run {
    let mut command = segment.command(program, args);
    user.apply(&mut command);
    if let Some(gid) = gid {
        command.gid(gid);
    }
    if let Some(name) = user_env {
        command.env("USER", name);
    }
    Run::new(command, b"")
}

#[test]
fn students_trade_only_through_the_setgid_trader_and_only_as_themselves() {
    let dir = tempfile::Builder::new()
        .prefix("shmx-class-")
        .tempdir()
        .unwrap();
    if let Some(reason) = setgid_unavailable(dir.path()) {
        eprintln!("skipped: {reason}");
        return;
    }
    let group = TestGroup::create();
    let (Some(instructor), Some(ana), Some(bob)) = (
        TestUser::create("in"),
        TestUser::create("st"),
        TestUser::create("st"),
    ) else {
        return;
    };
    let trader = install_setgid_trader(dir.path(), &group);
    let segment = Segment::unique(Backend::Posix);
    let object = PathBuf::from(format!(
        "/dev/shm{}",
        segment.address.trim_start_matches("posix:")
    ));
    let as_student =
        |student: &TestUser, args: &[&str]| run(&trader, args, student, None, &segment, None);
    let init = Path::new(INIT);

    // The instructor, whose group for this is the class's, sets it up.
    let class = ["--group", group.name.as_str()];
    run(init, &class, &instructor, Some(group.gid), &segment, None).success();
    let metadata = std::fs::metadata(&object).unwrap();
    assert_eq!(metadata.mode() & 0o7777, 0o660);
    assert_eq!(
        (metadata.uid(), metadata.gid()),
        (instructor.uid, group.gid)
    );

    // A student trades through the setgid trader, as themselves (by
    // default the login, and a suffixed name too).
    as_student(&ana, &["buy", "DOLLAR", "2"]).success();
    as_student(
        &ana,
        &["--name", &format!("{}-2", ana.name), "buy", "EURO", "1"],
    )
    .success();
    as_student(&bob, &["buy", "POUND", "1"]).success();

    // ... but cannot open the segment with their own code.
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
    // Nor trade as another student, by --name or by $USER.
    as_student(&ana, &["--name", &bob.name, "sell", "POUND", "1"])
        .status(2)
        .stderr_has(&format!("the account {} is not yours", bob.name));
    let posing = run(
        &trader,
        &["buy", "DOLLAR", "1"],
        &ana,
        None,
        &segment,
        Some(&bob.name),
    );
    posing.status(2).stderr_has("is not yours");
    // Nor remove or replace the exchange.
    for args in [&["--remove"][..], &["--force"][..]] {
        run(init, args, &ana, None, &segment, None)
            .status(2)
            .stderr_has("permission denied");
    }
    // The trader gave up the group before reading the script: a file only
    // the group may read is out of the student's reach through it.
    let script = temp_file(".txt", "rates\n");
    nix::unistd::chown(script.as_os_str(), Some(0.into()), Some(group.gid.into())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o640)).unwrap();
    as_student(&ana, &["--script", script.to_str().unwrap()])
        .status(2)
        .stderr_has("cannot read the script");

    // The owner may open any account; everything balances.
    let any_account = ["--name", bob.name.as_str(), "portfolio"];
    run(
        Path::new(TRADER),
        &any_account,
        &instructor,
        Some(group.gid),
        &segment,
        None,
    )
    .success()
    .stdout_has("POUND");
    let holdings = segment.json(&ana.name, "portfolio");
    assert_eq!(holdings["holdings"]["DOLLAR"], "2.00", "{holdings}");
    let audit = segment.json("root", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
}
