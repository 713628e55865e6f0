//! The real binaries on a Redis market (`--segment redis://...`), for what
//! only Redis has: a server that is not there, a password, foreign keys,
//! `--mode`, stress, and a server restarted under running traders. The
//! suites every store shares (trading, bad input, concurrency, the SIGKILL
//! chaos and its audit) run on Redis through `each_backend!` in their own
//! files.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use common::redis::{free_port, RedisServer};
use common::{field, wait_for, wait_until, Backend, Run, Segment, INIT, TIMEOUT, TRADER};

/// Runs `binary --segment ADDRESS ARGS...`.
fn run_at(binary: &str, address: &str, args: &[&str]) -> Run {
    let mut command = Command::new(binary);
    command
        .arg("--segment")
        .arg(address)
        .args(args)
        .env_remove("SHM_EXCHANGE_CRASH_AT");
    Run::new(command, b"")
}

/// The trades counted by `exchange-init --status --json`.
fn trades(segment: &Segment) -> u64 {
    segment.init(&["--status", "--json"]).success().parse_json()["trades"]
        .as_u64()
        .expect("a trade count")
}

#[test]
fn no_server_is_one_clear_line_and_exit_2() {
    let port = free_port();
    let address = format!("redis://127.0.0.1:{port}/class");
    let expected = format!(
        "cannot reach redis at 127.0.0.1:{port} (connection refused); start redis-server or check the address"
    );
    run_at(TRADER, &address, &["--name", "ana", "rates"])
        .status(2)
        .stderr_has(&format!("trader: {expected}"));
    let json = run_at(TRADER, &address, &["--name", "ana", "--json", "rates"])
        .status(2)
        .parse_json();
    assert_eq!(json["ok"], false);
    assert_eq!(field(&json, "error"), expected);
    for args in [&[][..], &["--status"], &["--remove"], &["--force"]] {
        run_at(INIT, &address, args)
            .status(2)
            .stderr_has(&format!("exchange-init: {expected}"));
    }
}

#[test]
fn the_password_logs_in_and_is_never_shown() {
    let Some(server) = RedisServer::with_password("s3cret-pw") else {
        panic!("redis-server is not installed; .ci/run installs it");
    };
    let address = server.unique_address();
    let created = run_at(INIT, &address, &[]);
    created.success().stdout_has("redis://:***@127.0.0.1:");
    let status = run_at(INIT, &address, &["--status", "--json"]);
    status.success();
    let traded = run_at(TRADER, &address, &["--name", "ana", "buy", "DOLLAR", "1"]);
    traded.success();
    for run in [&created, &status, &traded] {
        assert!(!run.stdout().contains("s3cret"), "{}", run.stdout());
    }
    let name = address.rsplit('/').next().unwrap();
    for wrong in [
        format!("redis://:wrong-pw@127.0.0.1:{}/{name}", server.port),
        format!("redis://127.0.0.1:{}/{name}", server.port),
    ] {
        let run = run_at(TRADER, &wrong, &["--name", "ana", "rates"]);
        run.status(2).stderr_has("check the user and password");
        assert!(!run.stderr().contains("wrong-pw"), "{}", run.stderr());
        let run = run_at(INIT, &wrong, &["--remove"]);
        run.status(2).stderr_has("refused the login");
    }
    // The market is untouched by the refused logins.
    let portfolio = run_at(TRADER, &address, &["--name", "ana", "--json", "portfolio"]);
    assert_eq!(
        portfolio.success().parse_json()["holdings"]["DOLLAR"],
        "1.00"
    );
}

#[test]
fn keys_that_are_not_an_exchange_are_refused_and_kept() {
    let segment = Segment::unique(Backend::Redis);
    let mut client = segment.server().unwrap().client();
    let name = segment.address.rsplit('/').next().unwrap().to_owned();
    let meta = format!("exchange:{{{name}}}:meta");
    let _: () = redis::cmd("SET")
        .arg(&meta)
        .arg("hello")
        .query(&mut client)
        .unwrap();
    segment
        .trader("ana", &["rates"])
        .status(2)
        .stderr_has("is not an exchange");
    for args in [&[][..], &["--force"], &["--remove"], &["--status"]] {
        segment
            .init(args)
            .status(2)
            .stderr_has("is not an exchange");
    }
    let kept: String = redis::cmd("GET").arg(&meta).query(&mut client).unwrap();
    assert_eq!(kept, "hello");

    // Another layout version is refused like an incompatible segment, and
    // `--force` replaces it.
    let _: () = redis::cmd("DEL").arg(&meta).query(&mut client).unwrap();
    segment.init(&[]).success();
    let _: () = redis::cmd("HSET")
        .arg(&meta)
        .arg("layout")
        .arg("99")
        .query(&mut client)
        .unwrap();
    segment
        .trader("ana", &["rates"])
        .status(2)
        .stderr_has("incompatible build (layout version 99");
    segment.init(&["--force"]).success();
    segment.trader("ana", &["rates"]).success();
}

#[test]
fn exchange_init_on_redis() {
    let segment = Segment::unique(Backend::Redis);
    // No file mode on Redis: refused, and nothing is created.
    segment
        .init(&["--mode", "0644"])
        .status(2)
        .stderr_has("--mode is not available on redis://");
    segment
        .init(&["--status"])
        .status(2)
        .stderr_has("run exchange-init first");

    let config = common::temp_file(
        ".toml",
        "cash = \"500\"\naccounts = 3\n[[currency]]\nname = \"YEN\"\nsell = \"0.1\"\nbuy = \"0.09\"\nstock = \"100\"\n",
    );
    let created = segment
        .init(&["--config", config.to_str().unwrap(), "--json"])
        .success()
        .parse_json();
    assert_eq!(created["ok"], true, "{created}");
    assert_eq!(created["command"], "create");
    assert_eq!(created["address"], segment.address);
    assert_eq!(created["account_capacity"], 3);
    assert_eq!(created["currencies"][0]["name"], "YEN");
    segment.trader("ana", &["buy", "yen", "10"]).success();
    let status = segment.init(&["--status", "--json"]).success().parse_json();
    assert_eq!(status["trades"], 1);
    assert_eq!(status["accounts"], 1);
    assert_eq!(status["cash"], "501.00");
    segment
        .init(&["--status"])
        .success()
        .stdout_has("1 of 3 accounts open, cash 501.00, 1 trades");
    segment
        .init(&["--config", config.to_str().unwrap()])
        .status(1)
        .stderr_has("--force");
    segment.init(&["--force"]).success();
    segment
        .trader("ana", &["buy", "yen", "1"])
        .status(1)
        .stderr_has("unknown currency \"yen\"");
    segment.init(&["--remove"]).success();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut segment.server().unwrap().client())
        .unwrap();
    assert_eq!(keys, Vec::<String>::new(), "--remove left keys behind");
}

#[test]
fn stress_runs_on_redis_and_the_unlocked_race_is_refused() {
    let segment = Segment::create(Backend::Redis);
    let run = segment.lab(&["stress", "--procs", "2", "--trades", "300", "--json"]);
    let report = run.success().parse_json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["audit"]["consistent"], true, "{report}");
    let done = report["trades"].as_u64().unwrap() + report["refused"].as_u64().unwrap();
    assert_eq!(done, 600, "{report}");
    assert_eq!(trades(&segment), report["trades"].as_u64().unwrap());

    let fresh = Segment::create(Backend::Redis);
    fresh
        .lab(&["stress", "--procs", "2", "--unlocked"])
        .status(2)
        .stderr_has("no lock to skip");
    // Refused before any stress account was opened.
    let traders = fresh.json("boss", "traders");
    assert_eq!(traders["traders"], serde_json::json!([]), "{traders}");
}

/// A `trader --json` fed round trips until its stdin breaks; keeps the
/// last line it printed.
struct Looper {
    child: Child,
    writer: Option<JoinHandle<()>>,
    last_line: Option<JoinHandle<String>>,
}

impl Looper {
    fn start(segment: &Segment, name: &str) -> Looper {
        let mut child = segment
            .trader_command(name)
            .arg("--json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("a trader starts");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let batch = "buy DOLLAR 1\nsell DOLLAR 1\n".repeat(64);
            while stdin.write_all(batch.as_bytes()).is_ok() {}
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let last_line = std::thread::spawn(move || {
            stdout
                .lines()
                .map_while(Result::ok)
                .last()
                .unwrap_or_default()
        });
        Looper {
            child,
            writer: Some(writer),
            last_line: Some(last_line),
        }
    }

    /// Waits for the trader to stop by itself; its status and last line.
    fn wait(&mut self) -> (Option<i32>, String) {
        let status = wait_until(&mut self.child, TIMEOUT).expect("the trader stops");
        let _ = self.writer.take().unwrap().join();
        (
            status.code(),
            self.last_line.take().unwrap().join().unwrap(),
        )
    }
}

impl Drop for Looper {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn a_server_restart_stops_traders_with_exit_2_and_keeps_the_market() {
    let mut segment = Segment::create(Backend::Redis);
    let mut traders: Vec<Looper> = (0..2)
        .map(|index| Looper::start(&segment, &format!("steady-{index}")))
        .collect();
    wait_for("trades before the restart", TIMEOUT, || {
        trades(&segment) > 50
    });
    let server = segment.server_mut().unwrap();
    let port = server.port;
    server.kill();
    for trader in &mut traders {
        let (status, last) = trader.wait();
        assert_eq!(status, Some(2), "{last}");
        let reply: serde_json::Value = serde_json::from_str(&last).unwrap();
        assert_eq!(reply["ok"], false, "{last}");
        let error = field(&reply, "error");
        assert!(
            error.contains(&format!("redis at 127.0.0.1:{port}"))
                && error.contains("start the trader again"),
            "{error}"
        );
    }
    segment.server_mut().unwrap().restart();
    // AOF on: every acknowledged trade is back, and the market balances.
    let audit = segment.json("auditor", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    assert!(trades(&segment) > 50);
    for index in 0..2 {
        let portfolio = segment.json(&format!("steady-{index}"), "portfolio");
        assert_eq!(portfolio["ok"], true, "{portfolio}");
    }
    segment.trader("after", &["buy", "DOLLAR", "1"]).success();
}

/// A server that dies under `follow` and the board: they end with exit 2
/// and say to start them again, not to check a portfolio (they changed
/// nothing).
#[test]
fn a_dead_server_ends_follow_and_the_board_with_their_way_out() {
    let mut segment = Segment::create(Backend::Redis);
    let mut command = segment.trader_command("viewer");
    command.arg("follow");
    let mut following = common::streaming::Streaming::start(command);
    assert!(following.error_line().starts_with("following "));
    let mut command = segment.trader_command("viewer");
    command.arg("watch").env("TERM", "xterm");
    let mut board = rexpect::session::spawn_with_options(
        command,
        rexpect::reader::Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the board in a pty");
    board.exp_string("LATEST ON THE TAPE").expect("no board");
    segment.server_mut().unwrap().kill();

    let (code, errors) = following.exit();
    assert_eq!(code, Some(2), "{errors}");
    assert!(
        errors.contains("start `trader follow` again") && !errors.contains("portfolio"),
        "{errors}"
    );
    // The board says it once the terminal is restored.
    let said = board.exp_eof().expect("the board did not end");
    assert!(
        said.contains("start `trader watch` again") || said.contains("start redis-server"),
        "{said}"
    );
    assert!(!said.contains("portfolio"), "{said}");
}
