//! What each of the three mechanisms promises of its own, seen from outside
//! with the real binaries and the operating system's own tools:
//!
//! 1. System V: literal keys (decimal or hex) and ftok keys, IPC_CREAT |
//!    IPC_EXCL, the size from IPC_STAT checked before anything is trusted,
//!    `ipcs -m` showing the key, bytes, perms and nattch while traders run,
//!    `--remove` doing IPC_RMID, `--status` showing nattch.
//! 2. POSIX: name validation, and the longest name that is allowed.
//! 3. File: the market outlives every process; foreign files are
//!    overwritten only by their owner's `--force`, symbolic links never.
//!    (A copy taken while a trader holds the lock mid-trade is in
//!    file_copied_mid_trade.rs: it needs the crash points.)
//! 4. Permissions: another user without access gets "permission denied"
//!    and exit status 2; with `--mode 0666` it trades.
//!
//! Trading, bad input and concurrency on each backend are in trading.rs and
//! concurrency.rs; the umask test of `--status`'s mode is in trading.rs.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use common::{field, Attached, Backend, Run, Segment, INIT, TIMEOUT, TRADER};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test in any process uses: pid, nanoseconds, counter.
fn unique_stem(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "shmx-{what}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory under the temp dir, for a [`Segment::at`] to remove.
fn unique_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_stem(what));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `BINARY --segment ADDRESS ARGS...` for an address typed the way a
/// user would, not necessarily the fixture's spelling.
fn run_at(binary: &str, address: &str, args: &[&str]) -> Run {
    let mut command = Command::new(binary);
    command
        .arg("--segment")
        .arg(address)
        .args(args)
        .env_remove("SHM_EXCHANGE_CRASH_AT");
    Run::new(command, b"")
}

/// `exchange-init --segment ADDRESS ARGS...` under `umask`.
fn init_under_umask(segment: &Segment, umask: &str, args: &[&str]) -> Run {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(INIT)
        .arg("--segment")
        .arg(&segment.address)
        .args(args);
    Run::new(command, b"")
}

/// The literal key of a `sysv:0x...` fixture address.
fn literal_key(segment: &Segment) -> u32 {
    let hex = segment
        .address
        .strip_prefix("sysv:0x")
        .unwrap_or_else(|| panic!("not a literal System V address: {}", segment.address));
    u32::from_str_radix(hex, 16).unwrap()
}

/// The size `exchange-init` makes for the default config.
fn default_size() -> u64 {
    shm_exchange::testing::segment_size(64) as u64
}

/// One row of `ipcs -m`: key shmid owner perms bytes nattch status.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IpcsRow {
    /// The key column exactly as printed (`0x%08x`).
    key_text: String,
    key: u32,
    shmid: i64,
    owner: String,
    perms: u32,
    bytes: u64,
    nattch: u64,
    status: String,
}

/// Runs `ipcs -m` (bounded) and parses every segment row.
fn ipcs() -> Vec<IpcsRow> {
    let mut command = Command::new("ipcs");
    command
        .arg("-m")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap_or_else(|error| {
        panic!("cannot run `ipcs -m` ({error}); install util-linux, which .ci/ does")
    });
    let output = common::finish(child, b"", TIMEOUT, "ipcs -m");
    assert!(output.status.success(), "ipcs -m failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let key_text = fields.first()?.to_string();
            let key = u32::from_str_radix(key_text.strip_prefix("0x")?, 16).ok()?;
            Some(IpcsRow {
                key_text,
                key,
                shmid: fields.get(1)?.parse().ok()?,
                owner: fields.get(2)?.to_string(),
                perms: u32::from_str_radix(fields.get(3)?, 8).ok()?,
                bytes: fields.get(4)?.parse().ok()?,
                nattch: fields.get(5)?.parse().ok()?,
                status: fields[6..].join(" "),
            })
        })
        .collect()
}

/// The one `ipcs -m` row with this key, if any.
#[track_caller]
fn ipcs_row(key: u32) -> Option<IpcsRow> {
    let rows: Vec<IpcsRow> = ipcs().into_iter().filter(|row| row.key == key).collect();
    assert!(rows.len() <= 1, "two segments with key {key:#x}: {rows:?}");
    rows.into_iter().next()
}

#[track_caller]
fn ipcs_shmid(shmid: i64) -> Option<IpcsRow> {
    ipcs().into_iter().find(|row| row.shmid == shmid)
}

/// How `ipcs` names the owner: the user name, or the number if it has none.
fn owner_names() -> Vec<String> {
    let uid = nix::unistd::geteuid();
    let mut names = vec![uid.to_string()];
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        names.push(user.name);
    }
    names
}

// ---------------------------------------------------------------------------
// 1. System V
// ---------------------------------------------------------------------------

/// While two traders sit attached, `ipcs -m` lists the segment under its
/// key as `0x%08x`, with the exact bytes, the requested perms (even under
/// umask 077) and nattch 2; `--status` counts the same. Once they quit the
/// segment stays (nattch 0) until `--remove`, which is IPC_RMID: with a
/// trader still attached the kernel marks it `dest` and drops the key, and
/// destroys it at the last detach.
#[test]
fn sysv_ipcs_shows_key_bytes_perms_and_nattch() {
    let segment = Segment::unique(Backend::SysV);
    let key = literal_key(&segment);
    assert_eq!(ipcs_row(key), None, "key {key:#x} is already in use");

    let created = init_under_umask(&segment, "077", &["--mode", "0640", "--json"]);
    let created = created.success().parse_json();
    assert_eq!(created["mode"], "0640");
    assert_eq!(created["size"], default_size());

    let row = ipcs_row(key).expect("ipcs -m does not list the new segment");
    assert_eq!(row.key_text, format!("0x{key:08x}"));
    assert_eq!(row.bytes, default_size(), "{row:?}");
    assert_eq!(row.perms, 0o640, "{row:?}");
    assert_eq!(
        row.nattch, 0,
        "exchange-init exited but is still attached: {row:?}"
    );
    assert!(
        owner_names().contains(&row.owner),
        "owner {:?} is not one of {:?}",
        row.owner,
        owner_names()
    );

    // `--status` attaches too; whether it counts itself is its business,
    // but each trader must add exactly one.
    let idle = segment.init(&["--status", "--json"]).success().parse_json();
    let base = idle["attached"]
        .as_u64()
        .unwrap_or_else(|| panic!("System V --status has no attached count: {idle}"));
    assert!(base <= 1, "nobody is attached, yet --status says {base}");
    assert_eq!(idle["owner_uid"], nix::unistd::geteuid().as_raw());

    let mut alice = Attached::start(&segment, "alice", &["--json"]);
    let mut bob = Attached::start(&segment, "bob", &["--json"]);
    for trader in [&mut alice, &mut bob] {
        let rates = trader.ask_json("rates");
        assert_eq!(rates["ok"], true, "{rates}");
    }
    let busy = ipcs_row(key).expect("the segment vanished while traders ran");
    assert_eq!(busy.nattch, 2, "two traders are attached: {busy:?}");
    assert_eq!(
        (busy.shmid, busy.bytes, busy.perms),
        (row.shmid, row.bytes, row.perms)
    );
    let status = segment.init(&["--status", "--json"]).success().parse_json();
    assert_eq!(status["attached"], base + 2, "{status}");
    segment
        .init(&["--status"])
        .success()
        .stdout_has(&format!(", {} attached", base + 2));

    for trader in [&mut alice, &mut bob] {
        let (exit, stderr) = trader.finish();
        assert!(exit.success(), "{}: {exit:?} {stderr}", trader.name);
    }
    let after = ipcs_row(key).expect("a System V segment outlives its processes");
    assert_eq!((after.shmid, after.nattch), (row.shmid, 0), "{after:?}");

    // IPC_RMID with a trader attached: the key goes, the id lingers as
    // `dest` until the last detach.
    let mut carol = Attached::start(&segment, "carol", &["--json"]);
    segment.init(&["--remove"]).success();
    assert_eq!(ipcs_row(key), None, "the key survived --remove");
    let doomed = ipcs_shmid(row.shmid).expect("the attached segment was destroyed early");
    assert!(doomed.status.contains("dest"), "{doomed:?}");
    assert_eq!(doomed.nattch, 1, "{doomed:?}");
    let _ = carol.finish();
    assert_eq!(
        ipcs_shmid(row.shmid),
        None,
        "the segment outlived its last detach"
    );
    segment
        .init(&["--status"])
        .status(2)
        .stderr_has("run exchange-init first");
}

/// A key above i32::MAX written in decimal, in hex and in upper-case hex is
/// one segment, shown by `ipcs` as that key.
#[test]
fn sysv_decimal_and_hex_keys_are_the_same_segment() {
    let fixture = Segment::unique(Backend::SysV);
    let key = literal_key(&fixture) | 0x8000_0000;
    let segment = Segment::at(format!("sysv:{key:#x}"), None);
    assert_eq!(ipcs_row(key), None, "key {key:#x} is already in use");

    let decimal = format!("sysv:{key}");
    let upper = format!("sysv:0X{key:X}");
    let created = run_at(INIT, &decimal, &["--json"]).success().parse_json();
    assert_eq!(created["address"], segment.address.as_str(), "{created}");
    let row = ipcs_row(key).expect("ipcs -m does not list the key");
    assert_eq!(row.key_text, format!("0x{key:08x}"));

    run_at(TRADER, &decimal, &["--name", "alice", "buy", "EURO", "3"]).success();
    let portfolio = run_at(TRADER, &upper, &["--name", "alice", "--json", "portfolio"])
        .success()
        .parse_json();
    assert_eq!(portfolio["holdings"]["EURO"], "3.00", "{portfolio}");
    assert_eq!(segment.json("alice", "portfolio"), portfolio);
    // IPC_EXCL: any spelling of the key finds it taken.
    run_at(INIT, &upper, &[]).status(1).stderr_has("--force");

    run_at(INIT, &decimal, &["--remove"]).success();
    assert_eq!(ipcs_row(key), None, "--remove left the segment");
}

/// `sysv:PATH:ID` is `ftok(PATH, ID)`: `ipcs` shows the key libc's ftok
/// computes, and `sysv:KEY` with that key is the same market. A PATH that
/// does not exist is a clear error, not "run exchange-init first".
#[test]
fn sysv_ftok_path_and_id() {
    let dir = unique_dir("ftok");
    let path = dir.join("keyfile");
    std::fs::write(&path, b"ftok anchor\n").unwrap();
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // Pick an ID whose key nothing on the machine uses yet.
    let (id, key) = (42..=80)
        .map(|id: i32| {
            // SAFETY: `c_path` is a valid NUL-terminated path.
            let key = unsafe { libc::ftok(c_path.as_ptr(), id) };
            assert_ne!(key, -1, "ftok failed: {}", std::io::Error::last_os_error());
            (id, key as u32)
        })
        .find(|&(_, key)| ipcs_row(key).is_none())
        .expect("every ftok key of the file is in use");
    let segment = Segment::at(format!("sysv:{}:{id}", path.display()), Some(dir.clone()));

    let created = segment.init(&["--json"]).success().parse_json();
    assert_eq!(created["address"], segment.address.as_str());
    let row = ipcs_row(key).expect("ipcs -m does not show ftok's key");
    assert_eq!(row.key_text, format!("0x{key:08x}"));
    assert_eq!((row.bytes, row.perms), (default_size(), 0o600), "{row:?}");

    segment.trader("alice", &["buy", "POUND", "2"]).success();
    let by_key = run_at(
        TRADER,
        &format!("sysv:{key:#x}"),
        &["--name", "alice", "--json", "portfolio"],
    )
    .success()
    .parse_json();
    assert_eq!(by_key["holdings"]["POUND"], "2.00", "{by_key}");

    segment.init(&["--remove"]).success();
    assert_eq!(ipcs_row(key), None, "--remove left the segment");

    let missing = format!("sysv:{}:{id}", dir.join("missing").display());
    for run in [
        run_at(INIT, &missing, &[]),
        run_at(TRADER, &missing, &["--name", "alice", "rates"]),
    ] {
        run.status(2).stderr_has("needs an existing PATH");
        assert!(
            !run.stderr().contains("run exchange-init first"),
            "{}",
            run.stderr()
        );
    }
}

/// Before trusting a System V segment the size comes from IPC_STAT: a
/// foreign 100-byte segment at the key is "not an exchange" (never read
/// past its end), and IPC_EXCL means exchange-init leaves it alone.
#[test]
fn sysv_foreign_segment_is_checked_by_size_and_kept() {
    let segment = Segment::unique(Backend::SysV);
    let key = literal_key(&segment);
    // SAFETY: shmget takes plain integers.
    let id = unsafe {
        libc::shmget(
            key as libc::key_t,
            100,
            libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
        )
    };
    assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());

    segment
        .trader("alice", &["rates"])
        .status(2)
        .stderr_has("is not an exchange (100 bytes, smaller than an exchange header");
    segment
        .init(&["--status"])
        .status(2)
        .stderr_has("is not an exchange (100 bytes");
    segment.init(&[]).status(1).stderr_has("--force");
    let row = ipcs_row(key).expect("the foreign segment was removed");
    assert_eq!((row.shmid, row.bytes), (i64::from(id), 100), "{row:?}");
}

// ---------------------------------------------------------------------------
// 2. POSIX
// ---------------------------------------------------------------------------

/// A POSIX name is one leading slash, no other slash, at most 255 bytes;
/// anything else is a usage error (exit 2) from both binaries, whether it
/// comes from `--segment` or `EXCHANGE_SEGMENT`.
#[test]
fn posix_names_are_validated() {
    let too_long = format!("posix:/{}", "x".repeat(255));
    for bad in [
        "posix:/a/b",
        "posix:noslash",
        "posix:/",
        "posix://a",
        "posix:",
        too_long.as_str(),
    ] {
        let runs = [
            run_at(TRADER, bad, &["--name", "alice", "rates"]),
            run_at(INIT, bad, &[]),
            run_at(INIT, bad, &["--status"]),
            {
                let mut command = Command::new(TRADER);
                command
                    .env("EXCHANGE_SEGMENT", bad)
                    .args(["--name", "alice", "rates"]);
                Run::new(command, b"")
            },
        ];
        for run in runs {
            run.status(2);
            let stderr = run.stderr();
            assert!(
                stderr.contains("bad segment address") && stderr.contains("posix:/NAME"),
                "{bad:?}: {stderr}"
            );
        }
    }
}

/// The longest valid name, 255 bytes with its slash, works end to end and
/// is the /dev/shm entry a person sees, with the exact mode and size.
#[test]
fn posix_longest_name_works() {
    let stem = unique_stem("long");
    let name = format!("/{stem}{}", "y".repeat(254 - stem.len()));
    assert_eq!(name.len(), 255);
    let segment = Segment::at(format!("posix:{name}"), None);

    let created = init_under_umask(&segment, "077", &["--mode", "0640", "--json"]);
    let created = created.success().parse_json();
    assert_eq!(created["address"], segment.address.as_str());
    assert_eq!(created["attached"], serde_json::Value::Null, "{created}");
    let entry = Path::new("/dev/shm").join(&name[1..]);
    let metadata = std::fs::metadata(&entry)
        .unwrap_or_else(|error| panic!("{} is not in /dev/shm: {error}", entry.display()));
    assert!(metadata.is_file());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o640);
    assert_eq!(metadata.len(), default_size());

    segment
        .trader("alice", &["buy", "STERLIN", "1.5"])
        .success();
    let portfolio = segment.json("alice", "portfolio");
    assert_eq!(portfolio["holdings"]["STERLIN"], "1.50", "{portfolio}");
    segment.assert_consistent();
    let status = segment.init(&["--status"]).success().stdout();
    assert!(!status.contains("attached"), "POSIX cannot count: {status}");

    segment.init(&["--remove"]).success();
    assert!(!entry.exists(), "--remove left {}", entry.display());
}

// ---------------------------------------------------------------------------
// 3. File
// ---------------------------------------------------------------------------

/// Every process exits and the market is still in the file; a copy of it
/// (the file after a restart) opens with the same balances, and the two are
/// independent markets from then on.
#[test]
fn file_market_outlives_every_process() {
    let original = Segment::create(Backend::File);
    let path = original.file_path().unwrap();
    original.trader("alice", &["buy", "DOLLAR", "10"]).success();
    original.trader("bob", &["buy", "EURO", "2"]).success();
    // No process has the market open any more.
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!(metadata.len(), default_size());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

    let copy = Segment::unique(Backend::File);
    std::fs::copy(&path, copy.file_path().unwrap()).unwrap();
    for segment in [&original, &copy] {
        let alice = segment.json("alice", "portfolio");
        assert_eq!(field(&alice, "balance"), "862.80", "{alice}");
        assert_eq!(alice["holdings"]["DOLLAR"], "10.00", "{alice}");
        let bob = segment.json("bob", "portfolio");
        assert_eq!(field(&bob, "balance"), "961.00", "{bob}");
        assert_eq!(bob["holdings"]["EURO"], "2.00", "{bob}");
        let status = segment.init(&["--status", "--json"]).success().parse_json();
        assert_eq!(
            (status["accounts"].clone(), status["trades"].clone()),
            (2.into(), 2.into())
        );
        assert_eq!(status["attached"], serde_json::Value::Null, "{status}");
        segment.assert_consistent();
    }

    copy.trader("alice", &["sell", "DOLLAR", "10"]).success();
    assert_eq!(
        copy.json("alice", "portfolio")["holdings"]["DOLLAR"],
        "0.00"
    );
    assert_eq!(
        original.json("alice", "portfolio")["holdings"]["DOLLAR"],
        "10.00"
    );
}

/// Something at a file address that is not an exchange is never
/// overwritten by a creation, nor changed by a trader or `--status`: exit
/// 2, and the file is byte for byte what it was. Its owner's `--remove`
/// and `--force` clear it, whatever it holds, and say what it was.
#[test]
fn file_refuses_to_overwrite_a_foreign_file() {
    let cases: [(Vec<u8>, &str, &str); 2] = [
        (
            b"precious data\n".to_vec(),
            "(14 bytes, smaller than an exchange header",
            "--remove",
        ),
        (
            vec![0xab; 64 * 1024],
            "(no exchange magic number",
            "--force",
        ),
    ];
    for (contents, reason, clear) in cases {
        let segment = Segment::unique(Backend::File);
        let path = segment.file_path().unwrap();
        std::fs::write(&path, &contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        for args in [&[][..], &["--mode", "0666"][..], &["--status"][..]] {
            segment
                .init(args)
                .status(2)
                .stderr_has(&format!("is not an exchange {reason}"));
        }
        segment
            .trader("alice", &["rates"])
            .status(2)
            .stderr_has("is not an exchange");
        assert_eq!(std::fs::read(&path).unwrap(), contents, "{reason}: changed");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{reason}: mode changed");
        let size = contents.len();
        let cleared = segment.init(&[clear]);
        cleared.success();
        if clear == "--remove" {
            cleared.stdout_has(&format!(
                "removed {}: not an exchange ({size} bytes)",
                segment.address
            ));
            assert!(!path.exists());
        } else {
            cleared.stdout_has(&format!(
                "replaced what was there (not an exchange ({size} bytes)) with the exchange at"
            ));
            segment.trader("alice", &["rates"]).success();
        }
    }
}

/// A symbolic link is never followed (O_NOFOLLOW), not even to a valid
/// exchange: every command refuses it with exit 2 naming the link, and
/// neither the link nor its target changes. A dangling link does not get
/// its target created.
#[test]
fn file_refuses_symbolic_links() {
    let real = Segment::create(Backend::File);
    let real_path = real.file_path().unwrap();
    real.trader("alice", &["buy", "DOLLAR", "1"]).success();
    let before = std::fs::read(&real_path).unwrap();

    let link = Segment::unique(Backend::File);
    let link_path = link.file_path().unwrap();
    std::os::unix::fs::symlink(&real_path, &link_path).unwrap();
    for args in [
        &[][..],
        &["--force"][..],
        &["--status"][..],
        &["--remove"][..],
    ] {
        link.init(args).status(2).stderr_has("symbolic link");
    }
    link.trader("alice", &["rates"])
        .status(2)
        .stderr_has("symbolic link");
    let json = link
        .trader("alice", &["--json", "rates"])
        .status(2)
        .parse_json();
    assert_eq!(json["ok"], false);
    assert!(field(&json, "error").contains("symbolic link"), "{json}");
    link.script("alice", &[], "rates\n").status(2);

    assert!(std::fs::symlink_metadata(&link_path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_link(&link_path).unwrap(), real_path);
    assert_eq!(
        std::fs::read(&real_path).unwrap(),
        before,
        "the target changed"
    );
    assert_eq!(
        real.json("alice", "portfolio")["holdings"]["DOLLAR"],
        "1.00"
    );

    let dangling = Segment::unique(Backend::File);
    let target = dangling.dir().unwrap().join("target");
    std::os::unix::fs::symlink(&target, dangling.file_path().unwrap()).unwrap();
    for args in [&[][..], &["--force"][..]] {
        dangling.init(args).status(2).stderr_has("symbolic link");
    }
    assert!(!target.exists(), "exchange-init followed a dangling link");
}

// ---------------------------------------------------------------------------
// 4. Permissions
// ---------------------------------------------------------------------------

/// The user the other-user tests run as: nobody.
const OTHER: u32 = 65534;

fn as_other_user(command: &mut Command) -> &mut Command {
    command.uid(OTHER).gid(OTHER)
}

/// Why a process of another user cannot be started here, if it cannot.
fn other_user_unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(format!(
            "not running as root (euid {}), so no process of another user can be started",
            nix::unistd::geteuid()
        ));
    }
    let mut probe = Command::new(TRADER);
    as_other_user(&mut probe)
        .arg("--version")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match probe.spawn() {
        Err(error) => Some(format!("uid {OTHER} cannot run {TRADER}: {error}")),
        Ok(child) => {
            let output = common::finish(child, b"", TIMEOUT, "trader --version");
            (!output.status.success())
                .then(|| format!("{TRADER} run as uid {OTHER} exits with {}", output.status))
        }
    }
}

/// Why uid OTHER cannot reach files in `dir`, if it cannot.
fn directory_unreachable(dir: &Path) -> Option<String> {
    dir.ancestors().find_map(|ancestor| {
        let mode = std::fs::metadata(ancestor).ok()?.permissions().mode();
        (mode & 0o001 == 0).then(|| format!("uid {OTHER} cannot search {}", ancestor.display()))
    })
}

/// A trader of another user without access to the segment gets "permission
/// denied" and exit 2, and cannot remove or replace it either; with
/// `--mode 0644` it reads but gets "read-only" and exit 2 for a trade; with
/// `--mode 0666` the same user trades.
fn other_user_needs_the_mode(backend: Backend) {
    if let Some(reason) = other_user_unavailable() {
        eprintln!("skipped other_user_needs_the_mode({backend:?}): {reason}");
        return;
    }
    let segment = Segment::unique(backend);
    if let Some(dir) = segment.dir() {
        // The denial must come from the segment's mode, not the directory.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Some(reason) = directory_unreachable(dir) {
            eprintln!("skipped other_user_needs_the_mode({backend:?}): {reason}");
            return;
        }
    }
    let other = |args: &[&str], binary: &str| {
        let mut command = Command::new(binary);
        command.arg("--segment").arg(&segment.address).args(args);
        as_other_user(&mut command);
        Run::new(command, b"")
    };

    segment.init(&["--mode", "0600"]).success();
    for mode in ["0600", "0644"] {
        segment.init(&["--force", "--mode", mode]).success();
        let context = format!("{backend:?} --mode {mode}");
        let denial = if mode == "0600" {
            other(&["--name", "nobody", "rates"], TRADER)
                .status(2)
                .stderr_has("permission denied");
            "permission denied"
        } else {
            other(&["--name", "nobody", "rates"], TRADER)
                .success()
                .stdout_has("DOLLAR");
            "read-only for you"
        };
        let json = other(&["--name", "nobody", "--json", "buy", "EURO", "1"], TRADER);
        let json = json.status(2).parse_json();
        assert_eq!(json["ok"], false, "{context}: {json}");
        assert!(field(&json, "error").contains(denial), "{context}: {json}");
        for args in [&["--status"][..], &["--remove"][..], &["--force"][..]] {
            other(args, INIT).status(2).stderr_has("permission denied");
        }
        // Still there, untouched, with the mode it was given.
        let status = segment.init(&["--status", "--json"]).success().parse_json();
        assert_eq!(status["mode"], mode, "{context}: {status}");
        assert_eq!(status["accounts"], 0, "{context}: {status}");
    }

    segment.init(&["--force", "--mode", "0666"]).success();
    other(&["--name", "nobody", "buy", "EURO", "1"], TRADER).success();
    let status = other(&["--status", "--json"], INIT).success().parse_json();
    assert_eq!(status["owner_uid"], nix::unistd::geteuid().as_raw());
    assert_eq!(
        segment.json("nobody", "portfolio")["holdings"]["EURO"],
        "1.00"
    );
    segment.assert_consistent();
}

common::each_segment!(other_user_needs_the_mode);
