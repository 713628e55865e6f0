//! `exchange-lab bench --quick`: every row appears (the C loop beside each
//! shared-memory row, stress read by boards and `follow` beside stress
//! unread, SQLite and Redis at every process count, or Redis skipped with a
//! note), each printed as soon as it is measured, the numbers are real,
//! `--plot` writes an SVG with a line per mechanism, and a venue that fails
//! is a row saying why while the table goes on. Figures are never judged
//! here: performance is measured in benchmarks, not in timed tests.
//!
//! And the bench's same-work C trade: a C trader killed holding the lock
//! leaves a market that the product, or another C trader, repairs; and
//! `trader` links none of the C.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Backend, Run, Segment, LAB, TRADER};

/// Every rival at every process count: a minute or more on a busy
/// machine, so not the usual per-process limit.
const BENCH_TIMEOUT: Duration = Duration::from_secs(600);

fn bench(args: &[&str]) -> Run {
    let mut command = Command::new(LAB);
    command.arg("bench").args(args);
    Run::within(command, b"", BENCH_TIMEOUT)
}

fn labels(report: &serde_json::Value) -> Vec<String> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["label"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_quick_run_has_every_rival_at_every_process_count_and_plots_them() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("bench.svg");
    let run = bench(&["--quick", "--json", "--plot", svg.to_str().unwrap()]);
    run.success();
    let said = format!("the plot is in {}", svg.display());
    assert!(run.stderr().contains(&said), "{}", run.stderr());
    // One JSON object a row as it is measured, then the whole table.
    let mut lines = run.json_lines();
    let report = lines.pop().unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["rows"].as_array().unwrap(), &lines, "{report}");
    let labels = labels(&report);
    let has = |text: &str| labels.iter().any(|label| label.contains(text));
    assert!(has("C loop: robust lock, 8 stores, unlock"), "{labels:?}");
    assert!(
        has("same-work C: every check, the journal, the robust lock"),
        "{labels:?}"
    );
    for procs in ["1 process", "2 processes", "4 processes", "8 processes"] {
        assert!(has(&format!("(b) stress, locked, {procs}")), "{labels:?}");
        assert!(has(&format!("    same-work C, {procs}")), "{labels:?}");
        assert!(has(&format!("    C loop, {procs}")), "{labels:?}");
        assert!(has(&format!("(e) SQLite, {procs}")), "{labels:?}");
        assert!(
            has(&format!("(e) Unix socket server, {procs}")),
            "{labels:?}"
        );
    }
    // (c): both rates, their ratio, and boards that really read.
    let row = |prefix: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["label"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no row {prefix}: {labels:?}"))
            .clone()
    };
    let read = row("(c) stress, 2 processes, 4 boards and follow reading");
    let unread = row("    stress, 2 processes, nobody reading");
    for row in [&read, &unread] {
        assert!(
            row["value"].as_str().unwrap().ends_with("M trades/s"),
            "{row}"
        );
    }
    let note = read["note"].as_str().unwrap();
    assert!(
        note.contains("x the same unread (target >= 0.95)"),
        "{note}"
    );
    let frames: u64 = note
        .split_once("boards built ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {note}"));
    assert!(frames > 0, "{note}");
    // A bot's `wait`: answered after a trade, in microseconds, and the CPU
    // a quiet wait used (figures are the bench's to judge, not the test's).
    let wait = row("    a bot's `wait` answered after a trade");
    assert!(
        wait["value"].as_str().unwrap().ends_with(" us median"),
        "{wait}"
    );
    assert!(
        wait["note"]
            .as_str()
            .unwrap()
            .contains("clock ticks of CPU"),
        "{wait}"
    );
    // Redis: a row per process count, or one row saying why it is skipped.
    let redis: Vec<&serde_json::Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["label"].as_str().unwrap().starts_with("(e) Redis"))
        .collect();
    match redis.as_slice() {
        [skipped] => assert!(
            skipped["note"].as_str().unwrap().starts_with("skipped:"),
            "{skipped}"
        ),
        rows => assert_eq!(rows.len(), 4, "{rows:?}"),
    }
    // Every rival row has a measured rate and its ratio to shared memory.
    for row in report["rows"].as_array().unwrap() {
        let label = row["label"].as_str().unwrap();
        if label.starts_with("(e)") && row["value"] != "-" {
            assert!(
                row["value"].as_str().unwrap().ends_with("trades/s"),
                "{row}"
            );
            assert!(row["note"].as_str().unwrap().contains("x faster"), "{row}");
        }
    }
    // (a) and (b) are judged against the same-work C.
    let trade = row("(a) one trade via the library");
    assert!(
        trade["note"]
            .as_str()
            .unwrap()
            .contains("x the same-work C below (target <= 1.25x)"),
        "{trade}"
    );
    let stress = row("(b) stress, locked, 2 processes");
    assert!(
        stress["note"]
            .as_str()
            .unwrap()
            .contains("x the same-work C (target >= 0.9x)"),
        "{stress}"
    );
    // The series behind the plot: shared memory, the same-work C, the C
    // loop, then rivals.
    let series = report["series"].as_array().unwrap();
    let mechanisms: Vec<&str> = series
        .iter()
        .map(|line| line["mechanism"].as_str().unwrap())
        .collect();
    assert_eq!(
        mechanisms[..4],
        [
            "shared memory (exchange-lab stress)",
            "same-work C (same segment and checks)",
            "C loop (same mutex, 8 stores)",
            "SQLite"
        ]
    );
    assert_eq!(mechanisms.last(), Some(&"Unix socket server"));
    for line in series {
        let points = line["points"].as_array().unwrap();
        assert_eq!(points.len(), 4, "{line}");
        assert!(
            points.iter().all(|point| point[1].as_f64().unwrap() > 0.0),
            "{line}"
        );
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for mechanism in mechanisms {
        assert!(svg.contains(mechanism), "{mechanism} is not in the legend");
    }
    assert!(svg.contains("trades per second"));
}

#[test]
fn a_plot_path_that_is_not_svg_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bench.png");
    let run = bench(&["--quick", "--plot", png.to_str().unwrap()]);
    run.status(2).stderr_has("give a path ending in .svg");
    assert!(!run.stderr().contains("running"), "{}", run.stderr());
    assert!(!png.exists());
}

/// A venue that fails (here a `redis-server` that exits at once) is one
/// row saying why; every other row is still measured and printed, each as
/// soon as it is ready, and the exit status says something failed.
#[test]
fn a_failing_venue_is_a_row_and_the_table_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("redis-server");
    std::fs::write(&fake, "#!/bin/sh\necho 'fake redis: no' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(LAB)
        .args(["bench", "--quick"])
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + BENCH_TIMEOUT;
    // The first row comes while the run is still going.
    let first = lines.recv_timeout(BENCH_TIMEOUT).expect("no row at all");
    assert!(first.starts_with("(a) one trade"), "{first}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first row came only at the end"
    );
    let mut rows = vec![first];
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        rows.push(line);
    }
    let status = common::wait_until(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the bench never ended: {rows:#?}")
    });
    let errors = errors.join().unwrap();
    assert_eq!(status.code(), Some(1), "{rows:#?}\n{errors}");
    assert!(errors.contains("1 measurement failed"), "{errors}");
    let failed: Vec<&String> = rows.iter().filter(|row| row.contains(" failed ")).collect();
    assert_eq!(failed.len(), 1, "{rows:#?}");
    assert!(failed[0].starts_with("(e) Redis"), "{}", failed[0]);
    assert!(failed[0].contains("redis-server"), "{}", failed[0]);
    // Every other row is there, after the failed one too.
    for label in [
        "(b) stress, locked, 8 processes",
        "(c) stress, 2 processes, 4 boards and follow reading",
        "(e) SQLite, 8 processes",
        "(e) Unix socket server, 8 processes",
        "    stress, UNLOCKED, 2 processes",
        "(d) the same, mixed",
        "    watch board woken after a trade",
        "    a bot's `wait` answered after a trade",
    ] {
        assert!(
            rows.iter().any(|row| row.starts_with(label)),
            "no row {label}: {rows:#?}"
        );
    }
}

/// Where the lock's words are in a segment (see `shm::layout`): the
/// robust futex word, and `trade_seq` on the same line.
const LOCK_WORD: u64 = 128;
const TRADE_SEQ: u64 = 128 + 48;
/// The kernel's mark on a robust futex whose owner died holding it.
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;

/// A little-endian word of a POSIX segment, read from /dev/shm.
fn word(object: &std::path::Path, offset: u64, bytes: usize) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buffer = [0; 8];
    std::fs::File::open(object)
        .unwrap()
        .read_exact_at(&mut buffer[..bytes], offset)
        .unwrap();
    u64::from_le_bytes(buffer)
}

/// Starts a same-work C trader on `segment` as stress account 0, lets it
/// trade, and SIGKILLs it; true if it died holding the lock (the kernel
/// marked the futex word), which most kills do: the loop is mostly the
/// locked trade.
fn kill_a_c_trader(segment: &Segment, object: &std::path::Path, seed: usize) -> bool {
    /// Killed and reaped when dropped, even when the test fails.
    struct Worker(std::process::Child);
    impl Drop for Worker {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut worker = Worker(
        Command::new(LAB)
            .args([
                "bench-worker",
                "--kind",
                "c-same",
                "--target",
                &segment.address,
            ])
            .args(["--account", "0", "--trades", "1000000000000"])
            .args(["--seed", &seed.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let child = &mut worker.0;
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let before = word(object, TRADE_SEQ, 8);
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").unwrap();
    common::wait_for("the C trader's trades", common::TIMEOUT, || {
        word(object, TRADE_SEQ, 8) > before + 1000
    });
    drop(worker);
    word(object, LOCK_WORD, 4) as u32 & FUTEX_OWNER_DIED != 0
}

/// Kills C traders until one dies holding the lock (bounded).
fn kill_one_holding_the_lock(segment: &Segment, object: &std::path::Path) {
    let died = (0..100).any(|seed| kill_a_c_trader(segment, object, seed));
    assert!(
        died,
        "no kill in 100 landed while the C trader held the lock"
    );
}

#[test]
fn a_c_trader_killed_holding_the_lock_leaves_a_market_the_product_repairs() {
    // Rich enough that no trade is refused however long a trader runs.
    let config = common::temp_file(
        ".toml",
        "cash = \"10000000000.00\"\nstarting_balance = \"1000000000.00\"\n",
    );
    let segment = Segment::unique(Backend::Posix);
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    let object = std::path::PathBuf::from(format!(
        "/dev/shm{}",
        segment.address.trim_start_matches("posix:")
    ));
    // The product repairs it: a trade succeeds and the audit balances.
    kill_one_holding_the_lock(&segment, &object);
    segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
    assert_eq!(word(&object, LOCK_WORD, 4), 0, "left locked");
    segment.assert_consistent();
    // So does another C trader, replaying the trade in C.
    kill_one_holding_the_lock(&segment, &object);
    let mut again = Command::new(LAB);
    again
        .args([
            "bench-worker",
            "--kind",
            "c-same",
            "--target",
            &segment.address,
        ])
        .args(["--account", "0", "--trades", "1000"]);
    let run = Run::new(again, b"go\n");
    run.success();
    assert_eq!(word(&object, LOCK_WORD, 4), 0, "left locked");
    segment.assert_consistent();
    segment.trader("alice", &["sell", "DOLLAR", "1"]).success();
}

/// The C is linked into `exchange-lab`, which calls it, and not into
/// `trader`, which may be installed with a class's privilege.
#[test]
fn only_the_lab_links_the_c_trade() {
    let symbols = |binary: &str| {
        let output = Command::new("nm").arg(binary).output().unwrap();
        assert!(output.status.success(), "nm {binary}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line.ends_with(" T shmx_c_trade"))
    };
    assert!(symbols(LAB), "exchange-lab has no shmx_c_trade");
    assert!(!symbols(TRADER), "trader links the C trade");
}
