//! `trader round` end to end, on a segment and on Redis: a short round
//! with both Python example bots and a scripted trader; the ranking is
//! the final portfolios, the audit balances, the recorded tape replays to
//! the final state, the picture is XML, and a trade after the end is
//! refused, also when the round's process was killed mid-round.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{field, wait_until, Attached, Backend, Segment, TIMEOUT, TRADER};
use serde_json::Value;

const BOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bots");
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/python");

/// Hundredths (or ten-thousandths) from an exact decimal string.
fn scaled(text: &str, places: u32) -> i64 {
    let negative = text.starts_with('-');
    let text = text.trim_start_matches('-');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut value: i64 = whole.parse::<i64>().unwrap() * 10_i64.pow(places);
    let fraction = format!("{fraction:0<width$}", width = places as usize);
    value += fraction[..places as usize].parse::<i64>().unwrap();
    if negative {
        -value
    } else {
        value
    }
}

fn start_round(segment: &Segment, out: &Path, length: &str) -> Child {
    segment
        .command(
            TRADER,
            &[
                "round", "--for", length, "--every", "0.5", "--step", "2", "--seed", "7",
            ],
        )
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits, with the protocol's own `wait`, until the market has a round.
fn until_the_round_starts(segment: &Segment) -> u64 {
    let mut watcher = Attached::start(segment, "watcher", &["--json"]);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let hello = watcher.ask_json("hello");
        if let Some(end) = hello["round_end_ms"].as_u64() {
            return end;
        }
        assert!(Instant::now() < deadline, "no round started: {hello}");
        watcher.ask_json("wait 1000");
    }
}

fn python_bot(segment: &Segment, bot: &str, name: &str, length: &str) -> Child {
    Command::new("python3")
        .arg(format!("{BOTS}/{bot}"))
        .args([
            "--segment",
            &segment.address,
            "--name",
            name,
            "--for",
            length,
            "--trader",
            TRADER,
        ])
        .env("PYTHONPATH", CLIENT)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[track_caller]
fn finished(child: Child, what: &str) -> String {
    let output = common::finish(child, b"", TIMEOUT, what);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed: {text}");
    text
}

fn round_with_bots(backend: Backend) {
    let segment = Segment::create(backend);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("round");
    // The issue's 20 s round; the bots stop by themselves just before it ends.
    let round = start_round(&segment, &dir, "20s");
    until_the_round_starts(&segment);
    let mean = python_bot(&segment, "mean_reversion.py", "mr", "18s");
    let momentum = python_bot(&segment, "momentum.py", "mo", "18s");
    segment
        .script(
            "cy",
            &[],
            "buy DOLLAR 5\nbuy EURO 3\nsell DOLLAR 2\nbuy POUND 1\nsell EURO 1\n",
        )
        .success();
    let said = finished(round, "the round");
    finished(mean, "the mean-reversion bot");
    finished(momentum, "the momentum bot");
    assert!(said.contains("none missed"), "{said}");

    // The ranking is the final portfolios, richest first.
    let traders = segment.json("cy", "traders");
    let traders = traders["traders"].as_array().unwrap();
    let ranking: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ranking.json")).unwrap()).unwrap();
    let ranking = ranking["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), traders.len());
    for (standing, trader) in ranking.iter().zip(traders) {
        assert_eq!(standing["name"], trader["name"]);
        assert_eq!(standing["net_worth"], trader["net_worth"]);
        assert_eq!(standing["balance"], trader["balance"]);
    }
    let worths: Vec<i64> = ranking
        .iter()
        .map(|standing| scaled(field(standing, "net_worth"), 2))
        .collect();
    assert!(
        worths.windows(2).all(|pair| pair[0] >= pair[1]),
        "{worths:?}"
    );
    let csv = std::fs::read_to_string(dir.join("ranking.csv")).unwrap();
    assert_eq!(csv.lines().count(), traders.len() + 1, "{csv}");
    for name in ["cy", "mr", "mo"] {
        assert!(
            traders.iter().any(|trader| trader["name"] == name),
            "{name} did not trade"
        );
    }

    // The audit balances.
    assert_eq!(segment.json("cy", "audit")["consistent"], true);

    // The record replays to the final state.
    let record = std::fs::read_to_string(dir.join("tape.jsonl")).unwrap();
    let entries: Vec<Value> = record
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries[0]["kind"], "reset", "{record}");
    assert!(
        entries.iter().all(|entry| entry.get("gap").is_none()),
        "{record}"
    );
    let seqs: Vec<u64> = entries
        .iter()
        .map(|entry| entry["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "a gap in {seqs:?}"
    );
    assert_eq!(entries.last().unwrap()["kind"], "halt");
    let start = scaled(field(&traders[0], "starting_balance"), 2);
    let mut balances: BTreeMap<String, i64> = BTreeMap::new();
    let mut holdings: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut prices: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut trades = 0;
    for entry in &entries {
        match entry["kind"].as_str().unwrap() {
            "trade" => {
                trades += 1;
                let account = field(entry, "account").to_owned();
                let currency = field(entry, "currency").to_owned();
                let (amount, total) = (
                    scaled(field(entry, "amount"), 2),
                    scaled(field(entry, "total"), 2),
                );
                let sign = if entry["side"] == "buy" { 1 } else { -1 };
                *balances.entry(account.clone()).or_insert(start) -= sign * total;
                *holdings.entry((account, currency)).or_insert(0) += sign * amount;
            }
            "price" => {
                prices.insert(
                    field(entry, "currency").to_owned(),
                    (
                        field(entry, "sell").to_owned(),
                        field(entry, "buy").to_owned(),
                    ),
                );
            }
            _ => {}
        }
    }
    assert!(trades >= 5, "only {trades} trades recorded: {record}");
    for trader in traders {
        let name = field(trader, "name");
        assert_eq!(
            balances.get(name).copied().unwrap_or(start),
            scaled(field(trader, "balance"), 2),
            "{name}'s balance does not replay"
        );
        for (currency, amount) in trader["holdings"].as_object().unwrap() {
            assert_eq!(
                holdings
                    .get(&(name.to_owned(), currency.clone()))
                    .copied()
                    .unwrap_or(0),
                scaled(amount.as_str().unwrap(), 2),
                "{name}'s {currency} does not replay"
            );
        }
    }
    assert!(!prices.is_empty(), "the ticker moved no price");
    for rate in segment.json("cy", "rates")["currencies"]
        .as_array()
        .unwrap()
    {
        if let Some((sell, buy)) = prices.get(field(rate, "name")) {
            assert_eq!(
                (field(rate, "sell"), field(rate, "buy")),
                (sell.as_str(), buy.as_str())
            );
        }
    }

    // The picture is XML.
    let svg = dir.join("round.svg");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])",
        ])
        .arg(&svg)
        .status()
        .unwrap();
    assert!(parsed.success(), "{} does not parse", svg.display());

    // After the end, no trade.
    let after = segment.trader("cy", &["--json", "buy", "DOLLAR", "1"]);
    after.status(1);
    assert_eq!(after.parse_json()["code"], "halted");
}

#[test]
fn a_round_with_bots_on_a_segment() {
    round_with_bots(Backend::Posix);
}

#[test]
fn a_round_with_bots_on_redis() {
    round_with_bots(Backend::Redis);
}

fn killed_round(backend: Backend) {
    let segment = Segment::create(backend);
    let out = tempfile::tempdir().unwrap();
    let mut round = start_round(&segment, &out.path().join("round"), "4s");
    let end = until_the_round_starts(&segment);
    round.kill().unwrap();
    wait_until(&mut round, TIMEOUT).unwrap();

    // Within the round, trading goes on without the round's process...
    if shm_exchange::round::now_ms() + 1_000 < end {
        segment.trader("ana", &["buy", "DOLLAR", "1"]).success();
    }
    // ...and after its end, the market refuses, naming the end.
    let mut bot = Attached::start(&segment, "ana", &["--json"]);
    let deadline = Instant::now() + TIMEOUT;
    while shm_exchange::round::now_ms() < end {
        assert!(Instant::now() < deadline);
        bot.ask_json("wait 500");
    }
    let refused = bot.ask_json("buy DOLLAR 1");
    assert_eq!(refused["code"], "round_over", "{refused}");
    assert!(
        field(&refused, "error").starts_with("the round ended at "),
        "{refused}"
    );
    assert_eq!(bot.ask_json("hello")["round_over"], true);

    // --finish tidies up: halted, no round.
    let finish = segment.command(TRADER, &["round", "--finish"]);
    let run = common::Run::new(finish, b"");
    run.success().stdout_has("round finished");
    let hello = segment.json("ana", "hello");
    assert_eq!(hello["round_end_ms"], Value::Null);
    assert_eq!(hello["halted"], true);
}

#[test]
fn a_killed_round_still_ends_on_a_segment() {
    killed_round(Backend::Posix);
}

#[test]
fn a_killed_round_still_ends_on_redis() {
    killed_round(Backend::Redis);
}

#[test]
fn round_arguments_are_checked_before_anything_changes() {
    let segment = Segment::create(Backend::Posix);
    for args in [
        &["round"][..],
        &["round", "--for", "20"],
        &["round", "--for", "0s"],
        &["round", "--for", "5m", "--finish"],
        &["round", "--for", "5m", "--every", "0"],
    ] {
        let run = common::Run::new(segment.command(TRADER, args), b"");
        run.status(2);
    }
    let hello = segment.json("ana", "hello");
    assert_eq!(hello["round_end_ms"], Value::Null);
    assert_eq!(hello["halted"], false);
}

#[test]
fn the_c_and_shell_bots_trade_and_stop_by_themselves() {
    let segment = Segment::create(Backend::Posix);
    let built = tempfile::tempdir().unwrap();
    let binary = built.path().join("bot");
    let status = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&binary)
        .arg(format!("{BOTS}/bot.c"))
        .status()
        .expect("cc is needed to build examples/bots/bot.c");
    assert!(status.success());
    let c_bot = Command::new(&binary)
        .args([
            "--segment",
            &segment.address,
            "--name",
            "cbot",
            "--for",
            "5s",
            "--trader",
            TRADER,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shell_bot = Command::new("sh")
        .arg(format!("{BOTS}/bot.sh"))
        .args([
            "--segment",
            &segment.address,
            "--name",
            "shbot",
            "--for",
            "5s",
        ])
        .env("TRADER", TRADER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Prices move until both bots have traded (or tried to), so they have
    // something to react to.
    let mut owner = Attached::start(&segment, "owner", &["--json"]);
    let deadline = Instant::now() + TIMEOUT;
    for step in 0.. {
        let traders = owner.ask_json("traders");
        let names: Vec<&str> = traders["traders"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|trader| trader["name"].as_str())
            .collect();
        if names.contains(&"cbot") && names.contains(&"shbot") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bots never traded: {traders}"
        );
        let (sell, buy) = if step % 2 == 0 {
            ("14", "13.5")
        } else {
            ("13", "12.5")
        };
        owner.ask_json(&format!("price DOLLAR {sell} {buy}"));
        owner.ask_json("wait 300");
    }
    let said = finished(c_bot, "the C bot");
    assert!(said.contains("done: "), "{said}");
    finished(shell_bot, "the shell bot");
}

/// A student (another uid) runs a bot through the trader: it trades for
/// its own account, is refused on an account another user opened, and may
/// neither start nor finish a round. The client's errors are typed.
#[test]
fn a_students_bot_has_a_students_rights() {
    let Some(student) = common::users::TestUser::create("bot") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    segment.init(&["--mode", "0666"]).success();
    segment.trader("ana", &["buy", "EURO", "1"]).success();
    let script = r#"
import sys
from shmx_client import Trader, RightsError, RefusedError, UsageError
segment, me, trader = sys.argv[1:4]
with Trader(segment, me, trader) as bot:
    assert bot.hello()["may_trade"] is True
    assert bot.buy("DOLLAR", "1.5")["balance"] < 1000
    try:
        bot.sell("POUND", 1)
        raise SystemExit("sold what it does not hold")
    except RefusedError as error:
        assert error.code == "insufficient_holding", error.code
    try:
        bot.buy("YEN", 1)
        raise SystemExit("bought a currency that does not exist")
    except UsageError as error:
        assert error.code == "unknown_currency", error.code
with Trader(segment, "ana", trader) as bot:
    try:
        bot.buy("DOLLAR", 1)
        raise SystemExit("traded on ana's account")
    except RightsError as error:
        assert error.code == "not_your_account", error.code
print("rights ok")
"#;
    let mut python = Command::new("python3");
    student
        .apply(&mut python)
        .args(["-c", script, &segment.address, &student.name, TRADER])
        .env("PYTHONPATH", CLIENT)
        .env_remove("SHM_EXCHANGE_CRASH_AT");
    common::Run::new(python, b"")
        .success()
        .stdout_has("rights ok");

    for args in [&["round", "--for", "5s"][..], &["round", "--finish"]] {
        let mut round = segment.command(TRADER, args);
        student.apply(&mut round);
        common::Run::new(round, b"")
            .status(1)
            .stderr_has("only the owner of this exchange");
    }
    let hello = segment.json("ana", "hello");
    assert_eq!(hello["round_end_ms"], Value::Null);
    assert_eq!(hello["halted"], false);
}

/// `--finish` while a round runs ends it early: the round's process sees
/// its end cleared, stops, and still writes its files.
#[test]
fn finish_ends_a_running_round_early() {
    let segment = Segment::create(Backend::Posix);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("round");
    let round = start_round(&segment, &dir, "10m");
    until_the_round_starts(&segment);
    let again = common::Run::new(segment.command(TRADER, &["round", "--for", "5s"]), b"");
    again.status(1).stderr_has("a round is running until");
    common::Run::new(segment.command(TRADER, &["round", "--finish"]), b"")
        .success()
        .stdout_has("round finished");
    let said = finished(round, "the round");
    assert!(
        said.contains("ended early by `trader round --finish`"),
        "{said}"
    );
    for file in ["tape.jsonl", "ranking.json", "ranking.csv", "round.svg"] {
        assert!(dir.join(file).is_file(), "no {file}: {said}");
    }
    let hello = segment.json("ana", "hello");
    assert_eq!(hello["halted"], true);
    assert_eq!(hello["round_end_ms"], Value::Null);
}
