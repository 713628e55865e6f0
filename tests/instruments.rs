//! The lab's `stress` locked and unlocked (`exchange-lab`), the rights of
//! the race checked by the library, and the trade tape behind `history`
//! and `tape`.

mod common;

use common::{field, Backend, Segment};

fn stress(segment: &Segment, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["stress", "--json"];
    all.extend_from_slice(args);
    segment.lab(&all).success().parse_json()
}

#[test]
fn locked_stress_always_audits_clean() {
    for backend in common::BACKENDS {
        let segment = Segment::create(backend);
        let report = stress(
            &segment,
            &["--procs", "3", "--trades", "3000", "--seed", "7"],
        );
        assert_eq!(report["ok"], true);
        assert_eq!(report["unlocked"], false);
        assert_eq!(report["audit"]["consistent"], true, "{report}");
        let done = report["trades"].as_u64().unwrap() + report["refused"].as_u64().unwrap();
        assert_eq!(done, 9000, "{report}");
        assert!(report["trades"].as_u64().unwrap() > 0);
        // The workers traded on their own accounts, stress-0 onwards; the
        // teacher who ran it, and read the ranking, opened none.
        let traders = segment.json("teacher", "traders");
        let mut names: Vec<&str> = traders["traders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|trader| trader["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["stress-0", "stress-1", "stress-2"]);
        // The tape saw them.
        let status = segment.init(&["--status", "--json"]).parse_json();
        assert_eq!(status["trades"], report["trades"]);
    }
}

#[test]
fn the_same_seed_makes_the_same_trades() {
    let run = || {
        let segment = Segment::create(Backend::Posix);
        let report = stress(
            &segment,
            &["--procs", "1", "--trades", "500", "--seed", "42"],
        );
        (
            report["trades"].clone(),
            segment.json("stress-0", "portfolio"),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn unlocked_stress_shows_the_race() {
    let segment = Segment::create(Backend::Posix);
    let report = stress(
        &segment,
        &["--procs", "2", "--trades", "50000", "--unlocked"],
    );
    assert_eq!(report["unlocked"], true);
    assert_eq!(
        report["audit"]["consistent"], false,
        "the race did not show: {report}"
    );
    // The text report names what was lost or created.
    let segment = Segment::create(Backend::Posix);
    let run = segment.lab(&["stress", "--procs", "2", "--trades", "50000", "--unlocked"]);
    run.success()
        .stdout_has("UNLOCKED")
        .stdout_has("audit: INCONSISTENT");
}

#[test]
fn stress_refuses_bad_options() {
    let segment = Segment::create(Backend::Posix);
    for args in [
        &["stress", "--procs", "0"][..],
        &["stress", "--trades", "x"],
        &["stress", "--bogus"],
    ] {
        let run = segment.lab(args);
        run.status(2);
    }
    let missing = Segment::unique(Backend::Posix);
    missing
        .lab(&["stress", "--procs", "1"])
        .status(2)
        .stderr_has("run exchange-init first");
}

#[test]
fn history_is_yours_and_tape_is_everyones() {
    let segment = Segment::create(Backend::Posix);
    segment
        .script("ann", &[], "buy DOLLAR 1\nbuy EURO 2\n")
        .success();
    segment
        .script("bob", &[], "buy POUND 0.5\nsell POUND 0.25\n")
        .success();

    let tape = segment.json("ann", "tape 3");
    let trades = tape["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 3);
    let seqs: Vec<u64> = trades
        .iter()
        .map(|trade| trade["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(trades[0]["account"], "ann");
    assert_eq!(trades[0]["currency"], "EURO");
    assert_eq!(field(&trades[0], "total"), "39.00");
    assert_eq!(trades[2]["account"], "bob");
    assert_eq!(trades[2]["side"], "sell");
    assert_eq!(field(&trades[2], "price"), "33.24");

    let history = segment.json("ann", "history");
    let mine = history["trades"].as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|trade| trade["account"] == "ann"));

    // Text forms.
    segment
        .trader("bob", &["history"])
        .success()
        .stdout_has("POUND");
    segment
        .trader("carol", &["history"])
        .success()
        .stdout_has("no trades yet");
    for bad in [&["tape", "0"][..], &["tape", "257"], &["history", "x"]] {
        segment.trader("ann", bad).status(1).stderr_has("usage:");
    }
    // Too many arguments: a malformed one-shot command, a usage error.
    segment
        .trader("ann", &["tape", "1", "2"])
        .status(2)
        .stderr_has("usage:");
}

#[test]
fn the_tape_keeps_the_last_256_trades() {
    let segment = Segment::create(Backend::Posix);
    segment
        .script(
            "ann",
            &[],
            &"buy DOLLAR 0.01\nsell DOLLAR 0.01\n".repeat(150),
        )
        .success();
    let tape = segment.json("ann", "tape 256");
    let trades = tape["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 256);
    assert_eq!(trades[0]["seq"], 45);
    assert_eq!(trades[255]["seq"], 300);
    assert!(trades
        .windows(2)
        .all(|pair| pair[1]["seq"].as_u64() == pair[0]["seq"].as_u64().map(|seq| seq + 1)));
}

#[test]
fn stress_opens_all_its_accounts_or_none() {
    let segment = Segment::unique(Backend::Posix);
    let config = common::temp_file(".json", r#"{"accounts": 4}"#);
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    segment.trader("alice", &["portfolio"]).success();
    segment
        .lab(&["stress", "--procs", "8", "--trades", "10"])
        .status(2)
        .stderr_has("the account table is full");
    let traders = segment.json("alice", "traders");
    assert_eq!(traders["traders"].as_array().unwrap().len(), 1, "{traders}");
    // Room is left for the class.
    segment.trader("bob", &["portfolio"]).success();
}

/// A locked run's report: committed and refused trades, apart.
fn committed_and_refused(report: &serde_json::Value) -> (u64, u64) {
    (
        report["trades"].as_u64().unwrap(),
        report["refused"].as_u64().unwrap(),
    )
}

#[test]
fn on_the_default_market_refusals_stay_under_one_percent_run_after_run() {
    let segment = Segment::create(Backend::Posix);
    for run in 0..2 {
        let report = stress(&segment, &["--procs", "4", "--trades", "5000"]);
        let (trades, refused) = committed_and_refused(&report);
        assert_eq!(trades + refused, 20_000, "{report}");
        assert!(refused * 100 < trades + refused, "run {run}: {report}");
        assert_eq!(report["audit"]["consistent"], true, "run {run}: {report}");
        // The rate is committed trades over the wall time, not more.
        let seconds: f64 = field(&report, "seconds").parse().unwrap();
        let rate = report["trades_per_second"].as_u64().unwrap() as f64;
        assert!(
            rate * seconds <= trades as f64 * 1.01 + 1000.0,
            "the rate counts more than the committed trades: {report}"
        );
    }
    // The funding came from the exchange's cash: the audit balances, and
    // the exchange's cash is lower by what the accounts hold above their
    // starting balances.
    let audit = segment.json("stress-0", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert!(
        field(&status, "cash").parse::<f64>().unwrap() < 1_000_000.0,
        "{status}"
    );
}

#[test]
fn a_run_that_commits_nothing_fails() {
    // Nothing to buy: every trade is refused.
    let segment = Segment::unique(Backend::Posix);
    let config = common::temp_file(
        ".toml",
        "[[currency]]\nname = \"DOLLAR\"\nsell = \"13.72\"\nbuy = \"13.40\"\nstock = \"0\"\n",
    );
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    let run = segment.lab(&["stress", "--procs", "1", "--trades", "100"]);
    run.status(1).stdout_has("0 trades committed");
    assert!(
        run.stdout().contains("100 refused (100.00%)"),
        "{}",
        run.stdout()
    );
}

#[test]
fn unlocked_refuses_a_market_with_other_accounts() {
    let segment = Segment::create(Backend::Posix);
    segment.trader("ana", &["buy", "EURO", "1"]).success();
    let run = segment.lab(&["stress", "--procs", "2", "--trades", "1000", "--unlocked"]);
    run.status(1)
        .stderr_has("for a market of its own stress accounts only, not for ana")
        .stderr_has("make a market of its own: exchange-init --segment posix:/race");
    let error = segment
        .lab(&["--json", "stress", "--procs", "2", "--unlocked"])
        .status(1)
        .parse_json();
    assert_eq!(error["code"], "market_in_use", "{error}");
    // Nothing was touched: no stress accounts, no unlocked trades.
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert_eq!(status["accounts"], 1, "{status}");
    assert_eq!(status["unlocked_trades"], 0, "{status}");
    assert_eq!(segment.json("ana", "audit")["consistent"], true);
}

#[test]
fn unlocked_is_for_the_owner_only() {
    use std::os::unix::process::CommandExt;
    let segment = Segment::unique(Backend::Posix);
    segment.init(&["--mode", "0666"]).success();
    let mut command = segment.lab_command();
    command
        .args(["stress", "--procs", "1", "--trades", "10", "--unlocked"])
        .uid(65534)
        .gid(65534);
    common::Run::new(command, b"")
        .status(1)
        .stderr_has("only the owner of this exchange");
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert_eq!(status["unlocked_trades"], 0, "{status}");
}

#[test]
fn unlocked_trades_show_in_status_and_on_the_board() {
    let segment = Segment::create(Backend::Posix);
    let report = stress(
        &segment,
        &["--procs", "2", "--trades", "2000", "--unlocked"],
    );
    let (trades, _) = committed_and_refused(&report);
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert_eq!(status["unlocked_trades"], trades, "{status}");
    assert_eq!(status["trades"], 0, "{status}");
    segment
        .init(&["--status"])
        .success()
        .stdout_has(&format!("{trades} UNLOCKED"));
}

#[test]
fn the_progress_bar_moves_on_a_long_run() {
    use rexpect::reader::Options;
    let segment = Segment::create(Backend::Posix);
    let mut command = segment.lab_command();
    command.args(["stress", "--procs", "2", "--trades", "1500000"]);
    let mut session = rexpect::session::spawn_with_options(
        command,
        Options {
            timeout_ms: Some(common::TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .unwrap();
    // A position strictly between the start and the end: the bar moved
    // while the workers traded.
    session
        .exp_regex(r"\b(?:[1-9]\d{0,5}|[1-2]\d{6})/3000000 trades")
        .unwrap_or_else(|error| panic!("the bar never moved: {error}"));
    session.exp_string("trades committed").unwrap();
    session.exp_eof().unwrap();
}

/// A stress worker started by hand, as the library sees it: the race's
/// rights are checked where it writes, not in the `stress` front end.
fn unlocked_worker(segment: &Segment, name: &str) -> std::process::Command {
    let mut command = segment.lab_command();
    command.args([
        "stress-worker",
        "--name",
        name,
        "--trades",
        "1000",
        "--seed",
        "1",
        "--unlocked",
    ]);
    command
}

/// What a refused race must leave as it was: the accounts, the trades of
/// both kinds, the cash and the stock; and no unlocked trade at all.
fn market_state(segment: &Segment) -> serde_json::Value {
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert_eq!(status["unlocked_trades"], 0, "{status}");
    let audit = segment.json("stress-0", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    serde_json::json!([
        status["accounts"],
        status["trades"],
        status["cash"],
        status["currencies"]
    ])
}

#[test]
fn the_library_refuses_an_unlocked_worker_on_a_market_with_another_account() {
    let segment = Segment::create(Backend::Posix);
    segment.trader("ana", &["portfolio"]).success();
    let before = market_state(&segment);
    common::Run::new(unlocked_worker(&segment, "stress-0"), b"go\n")
        .status(1)
        .stderr_has("for a market of its own stress accounts only, not for ana");
    assert_eq!(market_state(&segment), before);
    // A worker may not bring another account in either.
    let clean = Segment::create(Backend::Posix);
    let before = market_state(&clean);
    common::Run::new(unlocked_worker(&clean, "ana"), b"go\n")
        .status(1)
        .stderr_has("not for ana");
    assert_eq!(market_state(&clean), before);
}

#[test]
fn the_library_refuses_an_unlocked_worker_on_a_halted_market() {
    let segment = Segment::create(Backend::Posix);
    segment.trader("stress-0", &["portfolio"]).success();
    segment.trader("stress-0", &["halt"]).success();
    let before = market_state(&segment);
    common::Run::new(unlocked_worker(&segment, "stress-0"), b"go\n")
        .status(1)
        .stderr_has("trading is halted");
    let error = segment
        .lab(&[
            "--json",
            "stress",
            "--procs",
            "1",
            "--trades",
            "10",
            "--unlocked",
        ])
        .status(1)
        .parse_json();
    assert_eq!(error["code"], "halted", "{error}");
    assert_eq!(market_state(&segment), before);
}

#[test]
fn the_library_refuses_an_unlocked_worker_run_by_another_user() {
    use std::os::unix::process::CommandExt;
    let Some(student) = common::users::TestUser::create("race") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    segment.init(&["--mode", "0666"]).success();
    // The owner's own stress account, and the student's.
    segment.trader("stress-0", &["portfolio"]).success();
    let before = market_state(&segment);
    for name in ["stress-0", "stress-1"] {
        let mut command = unlocked_worker(&segment, name);
        command.uid(student.uid).gid(student.gid);
        common::Run::new(command, b"go\n")
            .status(1)
            .stderr_has("only the owner of this exchange");
    }
    assert_eq!(market_state(&segment), before);
    // A stress account the student opened is not the owner's run's own.
    let mut command = segment.trader_command("stress-5");
    student.apply(&mut command).arg("portfolio");
    common::Run::new(command, b"").success();
    let before = market_state(&segment);
    segment
        .lab(&["stress", "--procs", "1", "--trades", "10", "--unlocked"])
        .status(1)
        .stderr_has("not for stress-5");
    assert_eq!(market_state(&segment), before);
}
