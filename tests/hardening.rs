//! Issue 12, "nobody can wreck the class market": each fault the
//! adversarial run found, turned into a clear refusal or error. Owner-only
//! control as a second real user, corrupted locks and counts (also while
//! traders run), creation killed by the file size limit, bounded input
//! and configs, sums and counters that cannot overflow, and the OFD lock
//! of the first-opener protocol. The faults that need the crash points
//! (creation killed at every step, forged robust-list links) are in
//! hardening_steps.rs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::users::TestUser;
use common::{field, temp_file, Backend, Run, Segment, INIT, TRADER};
use shm_exchange::testing::Header;

fn read_at<const N: usize>(segment: &Segment, offset: usize) -> [u8; N] {
    let mut bytes = [0; N];
    std::fs::File::open(segment.backing_path().unwrap())
        .unwrap()
        .read_exact_at(&mut bytes, offset as u64)
        .unwrap();
    bytes
}

const LOCK: usize = std::mem::offset_of!(Header, lock);
/// glibc's `__kind` and `__owner`, and the robust-list links, inside the
/// mutex (x86_64 and every other 64-bit glibc).
const MUTEX_KIND: usize = LOCK + 16;
const MUTEX_OWNER: usize = LOCK + 8;

#[track_caller]
fn assert_no_signal(run: &Run, context: &str) {
    assert_eq!(
        run.output.status.signal(),
        None,
        "{context}: killed by a signal\n{}",
        run.stderr()
    );
}

/// Item 1: on a 0666 exchange that another user may trade on, that user's
/// `--remove` and `--force` are refused (exit 1, naming the owner) before
/// anything is retired, and the exchange stays fully usable for everyone.
/// On Redis, which has no mode, the owner is the uid recorded at creation.
fn another_users_remove_is_refused_and_changes_nothing(backend: Backend) {
    let Some(other) = TestUser::able("rm") else {
        return;
    };
    let segment = Segment::open_to_all(backend);
    let redis = backend == Backend::Redis;
    let mode: &[&str] = if redis { &[] } else { &["--mode", "0666"] };
    segment.init(mode).success();
    let owner = nix::unistd::geteuid().as_raw();
    other
        .run(
            TRADER,
            &segment,
            &["--name", &other.name, "buy", "EURO", "1"],
        )
        .success();
    let mut attempts = vec![&["--remove"][..], &["--force"][..]];
    if !redis {
        attempts.push(&["--force", "--mode", "0666"][..]);
    }
    let rounds = attempts.len();
    for args in attempts {
        other
            .run(INIT, &segment, args)
            .status(1)
            .stderr_has(&format!(
                "only the owner of this exchange (uid {owner}) may remove or replace it"
            ));
        segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
        other
            .run(
                TRADER,
                &segment,
                &["--name", &other.name, "buy", "EURO", "1"],
            )
            .success();
    }
    assert_eq!(
        segment.json("alice", "portfolio")["holdings"]["DOLLAR"],
        format!("{rounds}.00")
    );
    let theirs = segment.json(&other.name, "portfolio");
    assert_eq!(
        theirs["holdings"]["EURO"],
        format!("{}.00", rounds + 1),
        "{theirs}"
    );
    segment.assert_consistent();
    segment.init(&["--remove"]).success();
}

common::each_backend!(another_users_remove_is_refused_and_changes_nothing);

/// Item 4: SIGXFSZ under `ulimit -f 1` kills `exchange-init` when it sizes
/// the object (a POSIX object or a file); what it leaves is reported and
/// cleared like a SIGKILL's.
#[test]
fn creation_killed_by_the_file_size_limit_is_cleared() {
    for backend in [Backend::Posix, Backend::File] {
        let segment = Segment::unique(backend);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("ulimit -f 1; exec \"$0\" --segment \"$1\"")
            .arg(INIT)
            .arg(&segment.address);
        let run = Run::new(command, b"");
        if run.output.status.success() {
            eprintln!("skipped {backend:?}: the file size limit does not apply here");
            continue;
        }
        assert_eq!(
            run.output.status.signal(),
            Some(libc::SIGXFSZ),
            "{backend:?}"
        );
        segment
            .trader("alice", &["rates"])
            .status(2)
            .stderr_has("left half-created");
        segment.init(&["--force"]).success();
        segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
    }
}

/// Item 3: a mutex whose kind has the priority-protection bit (glibc
/// asserts in tpp.c on it) or a negative owner is refused with a clear
/// error, never handed to pthreads; `--force` replaces it and `--remove`
/// removes it.
#[test]
fn a_corrupted_mutex_never_aborts_and_is_always_replaceable() {
    for backend in [Backend::Posix, Backend::File] {
        for (what, offset, value) in [
            ("kind | 0x40", MUTEX_KIND, None),
            ("negative owner", MUTEX_OWNER, Some(-5_i32)),
        ] {
            let context = format!("{backend:?} {what}");
            let segment = Segment::create(backend);
            segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
            // Attached, so a file's next opener is not alone (a sole
            // opener re-initializes the lock, which repairs it).
            let _bystander = common::Attached::start(&segment, "bob", &[]);
            let word =
                value.unwrap_or_else(|| i32::from_ne_bytes(read_at::<4>(&segment, offset)) | 0x40);
            segment.write_at(offset, &word.to_ne_bytes());
            for run in [
                segment.trader("alice", &["buy", "DOLLAR", "1"]),
                segment.trader("alice", &["rates"]),
                segment.init(&["--status"]),
            ] {
                assert_no_signal(&run, &context);
                run.status(2).stderr_has("lock's bytes");
            }
            segment.init(&["--force"]).success();
            segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
            segment.write_at(offset, &word.to_ne_bytes());
            segment.init(&["--remove"]).success();
            segment
                .trader("alice", &["rates"])
                .status(2)
                .stderr_has("no exchange at");
        }
    }
}

/// Item 3, live: while traders trade, another process scribbles on the
/// mutex and the counts. Traders may be refused or stop with an error
/// (the lock word can be left "held" by nobody: they give up after the
/// lock timeout), but none dies of a signal: zero aborts, zero SIGSEGVs.
/// (glibc's robust-list links are left out: see below.)
fn scribbling_on_a_live_segment_kills_nobody(backend: Backend) {
    let segment = Segment::create(backend);
    let script: String = (0..400)
        .map(|i| {
            if i % 2 == 0 {
                "buy DOLLAR 1\n"
            } else {
                "sell DOLLAR 1\n"
            }
        })
        .collect();
    let traders: Vec<_> = (0..3)
        .map(|n| segment.spawn_script(&format!("t{n}"), &script))
        .collect();
    let counts = [
        std::mem::offset_of!(Header, account_count),
        std::mem::offset_of!(Header, currency_count),
        std::mem::offset_of!(Header, account_capacity),
    ];
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..300 {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let word = (random >> 32) as u32;
        let offset = if random % 4 == 0 {
            counts[(random >> 8) as usize % counts.len()]
        } else {
            // The lock, count, owner, users and kind words. glibc's
            // robust-list links (the last 16 bytes) are left alone here:
            // a writer racing the holder's own use of them is the open
            // mode's trust boundary (class mode keeps students out), and
            // the restore of forged links is tested on its own above.
            LOCK + 4 * ((random >> 16) as usize % 6)
        };
        segment.write_at(offset, &word.to_ne_bytes());
        std::thread::sleep(Duration::from_micros(200));
    }
    for (n, child) in traders.into_iter().enumerate() {
        let output = common::finish(child, b"", common::TIMEOUT, "trader");
        assert_eq!(
            output.status.signal(),
            None,
            "{backend:?}: trader {n} died of a signal: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    segment.init(&["--force"]).success();
    segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
}

mod live {
    #[test]
    fn posix() {
        super::scribbling_on_a_live_segment_kills_nobody(super::Backend::Posix)
    }

    #[test]
    fn file() {
        super::scribbling_on_a_live_segment_kills_nobody(super::Backend::File)
    }
}

/// Item 6: a 100 MB line without a newline is refused with one clear error
/// and skipped, the next command runs, and the trader's peak memory stays
/// under 50 MB.
#[test]
fn a_hundred_megabyte_line_keeps_memory_bounded() {
    let segment = Segment::create(Backend::Posix);
    let mut command = segment.trader_command("alice");
    // JSON, so the refusal and the next answer come in order on stdout.
    command
        .arg("--json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            stdin.write_all(&chunk).unwrap();
        }
        stdin.write_all(b"\nportfolio\n").unwrap();
        stdin
    });
    let (sender, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    let first = lines.recv_timeout(common::TIMEOUT).expect("a reply");
    assert!(first.contains("longer than 4096 bytes"), "{first}");
    let second = lines.recv_timeout(common::TIMEOUT).expect("a reply");
    assert!(second.contains("alice"), "{second}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    drop(writer.join().unwrap());
    let status = common::wait_until(&mut child, common::TIMEOUT).expect("the trader ends");
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert!(peak_kb < 50 * 1024, "peak RSS {peak_kb} kB");
}

/// Item 6: a config must be a regular file of at most 1 MiB holding one
/// document; a FIFO is refused at once (not waited on), and nothing is
/// created. `--mode` must leave the owner read and write.
#[test]
fn configs_and_modes_are_bounded() {
    let segment = Segment::unique(Backend::Posix);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("market.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let started = Instant::now();
    segment
        .init(&["--config", fifo.to_str().unwrap()])
        .status(2)
        .stderr_has("not a regular file");
    assert!(started.elapsed() < Duration::from_secs(5));
    segment
        .init(&["--config", dir.path().to_str().unwrap()])
        .status(2)
        .stderr_has("not a regular file");
    let big = temp_file(".toml", &format!("# {}\n", "x".repeat(1 << 20)));
    segment
        .init(&["--config", big.to_str().unwrap()])
        .status(2)
        .stderr_has("larger than 1048576 bytes");
    let trailing = temp_file(".json", "{\"accounts\": 8} {\"accounts\": 9}");
    segment
        .init(&["--config", trailing.to_str().unwrap()])
        .status(2)
        .stderr_has("only one JSON object");
    segment
        .trader("alice", &["rates"])
        .status(2)
        .stderr_has("no exchange at");
    for mode in ["0000", "0400", "0200", "0466"] {
        let run = segment.init(&["--mode", mode]);
        run.status(2);
        assert!(
            run.stderr().contains("lock the owner out"),
            "{mode}: {}",
            run.stderr()
        );
    }
    segment.init(&["--mode", "0600"]).success();
}

/// Item 7: starting balances that add up past i64 are audited, with the
/// wide sums in the report; a trade counter at its maximum does not stop
/// trading.
#[test]
fn audits_and_counters_do_not_overflow() {
    let segment = Segment::unique(Backend::Posix);
    let config = temp_file(
        ".toml",
        "cash = \"90000000000000000.00\"\nstarting_balance = \"90000000000000000.00\"\n",
    );
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    segment.trader("a", &["portfolio"]).success();
    segment.trader("b", &["portfolio"]).success();
    let audit = segment.json("a", "audit");
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(audit["consistent"], true, "{audit}");
    assert_eq!(field(&audit["money"], "balances"), "180000000000000000.00");

    let trade_seq = std::mem::offset_of!(Header, lock)
        + std::mem::offset_of!(shm_exchange::testing::LockSlot, trade_seq);
    segment.write_at(trade_seq, &u64::MAX.to_ne_bytes());
    segment.trader("a", &["buy", "DOLLAR", "1"]).success();
    assert_eq!(u64::from_ne_bytes(read_at::<8>(&segment, trade_seq)), 1);
    segment.trader("a", &["buy", "DOLLAR", "1"]).success();
    segment.assert_consistent();
}

/// Item 8: every handle of a POSIX or file segment holds an OFD lock (not
/// a flock), whose exclusive-to-shared downgrade is atomic.
#[test]
fn attached_handles_hold_ofd_locks() {
    use std::os::unix::fs::MetadataExt;
    for backend in [Backend::Posix, Backend::File] {
        let segment = Segment::create(backend);
        let inode = std::fs::metadata(segment.backing_path().unwrap())
            .unwrap()
            .ino();
        let mut trader = common::Attached::start(&segment, "alice", &[]);
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        let ours: Vec<&str> = locks
            .lines()
            .filter(|line| line.contains(&format!(":{inode} ")))
            .collect();
        assert!(
            !ours.is_empty(),
            "{backend:?}: no lock in /proc/locks\n{locks}"
        );
        assert!(
            ours.iter()
                .all(|line| line.contains("OFDLCK") && line.contains("READ")),
            "{backend:?}: {ours:?}"
        );
        trader.finish();
    }
}
