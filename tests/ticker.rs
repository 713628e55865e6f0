//! `trader ticker`: the owner's live prices move by a seeded walk, sell
//! above buy; the same seed replays the same prices; anyone else is
//! refused before anything changes.

mod common;

use common::streaming::Streaming;
use common::users::TestUser;
use common::{Backend, Segment};
use nix::sys::signal::Signal;

fn ticker(segment: &Segment, args: &[&str]) -> Streaming {
    let mut command = segment.trader_command("teacher");
    command.arg("ticker").args(args);
    Streaming::start(command)
}

/// Each currency's (sell, buy) as `rates --json` gives them.
fn quotes(segment: &Segment) -> Vec<(String, f64, f64)> {
    let rates = segment.json("viewer", "rates");
    rates["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|currency| {
            let number = |key| common::field(currency, key).parse::<f64>().unwrap();
            (
                common::field(currency, "name").to_owned(),
                number("sell"),
                number("buy"),
            )
        })
        .collect()
}

#[test]
fn the_ticker_moves_prices_keeping_sell_above_buy() {
    let segment = Segment::create(Backend::Posix);
    let before = quotes(&segment);
    let mut running = ticker(&segment, &["--every", "0.01", "--step", "5", "--seed", "3"]);
    assert!(running.error_line().contains("seed 3"));
    for tick in 1..=20 {
        assert!(running.line().starts_with(&format!("tick {tick} ")));
    }
    let after = quotes(&segment);
    assert_ne!(after, before, "twenty ticks moved nothing");
    for (name, sell, buy) in &after {
        assert!(*sell > *buy && *buy > 0.0, "{name}: sell {sell} buy {buy}");
    }
    running.signal(Signal::SIGTERM);
    assert_eq!(running.exit().0, Some(0));
    segment.trader("ann", &["buy", "DOLLAR", "1"]).success();
}

#[test]
fn the_same_seed_replays_the_same_prices() {
    let ticks = |seed: &str| {
        let segment = Segment::create(Backend::SysV);
        let mut running = ticker(&segment, &["--every", "0.01", "--seed", seed]);
        let lines: Vec<String> = (0..5).map(|_| running.line()).collect();
        running.signal(Signal::SIGINT);
        assert_eq!(running.exit().0, Some(0));
        lines
    };
    assert_eq!(ticks("42"), ticks("42"));
    assert_ne!(ticks("42"), ticks("43"));
}

#[test]
fn bad_options_are_usage_errors() {
    let segment = Segment::create(Backend::Posix);
    for args in [
        &["--step", "0"][..],
        &["--step", "70"],
        &["--every", "0"],
        &["--every", "x"],
    ] {
        let mut command = vec!["ticker"];
        command.extend(args);
        segment.trader("teacher", &command).status(2);
    }
}

#[test]
fn only_the_owner_runs_the_ticker() {
    let Some(student) = TestUser::create("tick") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    segment.init(&["--mode", "0666"]).success();
    let before = quotes(&segment);
    let mut command = segment.trader_command(&student.name);
    command.args(["ticker", "--every", "0.01"]);
    student.apply(&mut command);
    let run = common::Run::new(command, b"");
    run.status(1).stderr_has("only the owner of this exchange");
    assert_eq!(quotes(&segment), before);
}

/// A tick's line, `tick N  NAME SELL/BUY  ...`, as (name, sell, buy).
fn tick_quotes(line: &str) -> Vec<(String, String, String)> {
    let words: Vec<&str> = line.split_whitespace().skip(2).collect();
    words
        .chunks(2)
        .map(|pair| {
            let (sell, buy) = pair[1]
                .split_once('/')
                .unwrap_or_else(|| panic!("no SELL/BUY in {line:?}"));
            (pair[0].to_owned(), sell.to_owned(), buy.to_owned())
        })
        .collect()
}

/// A tick moves every quote and leaves ONE entry on the tape (`tick`, with
/// how many quotes it moved), which `follow` streams in order, so the
/// students' trades stay in view; the live quotes that `rates` reads are
/// the last tick's.
#[test]
fn each_tick_is_one_entry_in_follow_and_the_tape_and_moves_the_live_rates() {
    ticks_reach_follow_and_the_rates(Backend::Posix);
}

/// The same on Redis: the ticker's prices are compare-and-set commits, and
/// `follow` wakes on pub/sub.
#[test]
fn the_tickers_moves_reach_follow_on_redis() {
    ticks_reach_follow_and_the_rates(Backend::Redis);
}

fn ticks_reach_follow_and_the_rates(backend: Backend) {
    let segment = Segment::create(backend);
    let mut command = segment.trader_command("viewer");
    command.args(["follow", "--json"]);
    let mut following = Streaming::start(command);
    let notice = following.error_line();
    assert!(notice.starts_with("following "), "{notice}");
    let mut running = ticker(&segment, &["--every", "0.05", "--seed", "11"]);
    let mut ticks: Vec<String> = (0..3).map(|_| running.line()).collect();
    running.signal(Signal::SIGTERM);
    assert_eq!(running.exit().0, Some(0));
    // The tick it was in when stopped, if any, still printed its line.
    ticks.extend(running.stdout.iter());

    let moves: Vec<(String, String, String)> =
        ticks.iter().flat_map(|line| tick_quotes(line)).collect();
    let currencies = tick_quotes(&ticks[0]).len();
    assert_eq!(currencies, 4, "{ticks:?}");
    assert_eq!(moves.len(), currencies * ticks.len(), "{ticks:?}");
    // One tape entry a tick, however many quotes it moved.
    for seq in 1..=ticks.len() {
        let entry = following.json();
        assert_eq!(
            entry,
            serde_json::json!({"seq": seq, "kind": "tick", "moves": currencies}),
            "{ticks:?}"
        );
    }
    following.signal(Signal::SIGTERM);
    let (code, _) = following.exit();
    assert_eq!(code, Some(0));
    assert!(following.stdout.try_recv().is_err(), "no more entries");

    let last_tick = &moves[moves.len() - currencies..];
    let rates = segment.json("viewer", "rates");
    for ((name, sell, buy), rate) in last_tick
        .iter()
        .zip(rates["currencies"].as_array().unwrap())
    {
        assert_eq!(common::field(rate, "name"), name);
        assert_eq!(common::field(rate, "sell"), sell, "{rates}");
        assert_eq!(common::field(rate, "buy"), buy, "{rates}");
    }
    let tape = segment.json("viewer", "tape");
    let kinds: Vec<&str> = tape["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| common::field(row, "kind"))
        .collect();
    assert_eq!(kinds.len(), ticks.len(), "{tape}");
    assert!(kinds.iter().all(|kind| *kind == "tick"), "{tape}");
}

/// Each tick starts from the live quotes: a `price` the instructor sets
/// between two ticks is where the walk goes on from, spread included.
#[test]
fn an_owners_price_between_ticks_is_where_the_walk_goes_on() {
    let segment = Segment::create(Backend::File);
    let running = ticker(&segment, &["--every", "1", "--step", "1", "--seed", "5"]);
    running.line();
    // Frozen between two ticks, so the price lands before the next one.
    running.signal(Signal::SIGSTOP);
    common::wait_for("the ticker to stop", common::TIMEOUT, || {
        running.is_stopped()
    });
    segment
        .trader("teacher", &["price", "DOLLAR", "100", "99"])
        .success();
    running.signal(Signal::SIGCONT);
    let next = tick_quotes(&running.line());
    let (_, sell, buy) = next
        .iter()
        .find(|(name, ..)| name == "DOLLAR")
        .unwrap_or_else(|| panic!("no DOLLAR in {next:?}"));
    let (sell, buy): (f64, f64) = (sell.parse().unwrap(), buy.parse().unwrap());
    assert!(
        (98.01..=99.99).contains(&buy),
        "buy {buy} is not within 1% of the owner's 99"
    );
    assert!(
        ((sell - buy) - 1.0).abs() < 1e-9,
        "the owner's spread of 1.00 was not kept: {sell}/{buy}"
    );
}

/// `ticker --json`: one JSON object a tick, with every quote it set.
#[test]
fn with_json_the_ticker_prints_one_object_a_tick() {
    let segment = Segment::create(Backend::Posix);
    let mut running = ticker(&segment, &["--json", "--every", "0.01", "--seed", "4"]);
    for tick in 1..=3 {
        let line = running.line();
        let object: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("not one JSON object: {line:?}: {error}"));
        assert_eq!(object["ok"], true, "{line}");
        assert_eq!(object["command"], "ticker", "{line}");
        assert_eq!(object["tick"], tick, "{line}");
        let quotes = object["currencies"].as_array().unwrap();
        assert_eq!(quotes.len(), 4, "{line}");
        assert_eq!(common::field(&quotes[0], "name"), "DOLLAR", "{line}");
        common::field(&quotes[0], "sell");
    }
    running.signal(Signal::SIGTERM);
    assert_eq!(running.exit().0, Some(0));
}

/// In an 80-column terminal (tmux) a tick's line breaks between
/// currencies, never inside a quote, and the banner between its phrases.
#[test]
fn at_80_columns_ticks_break_between_currencies() {
    let segment = Segment::create(Backend::Posix);
    let mut command = segment.trader_command("teacher");
    command.args(["ticker", "--every", "0.05", "--seed", "9"]);
    let line = format!("exec {}", common::tmux::shell_line(&command));
    let tmux = common::tmux::Tmux::start(80, 24, &line);
    let screen = tmux.wait_for("tick 3", std::time::Duration::from_secs(30));
    let lines: Vec<&str> = screen.lines().filter(|line| !line.is_empty()).collect();
    assert!(lines[0].starts_with("ticker on posix:/"), "{screen}");
    assert!(lines[1].ends_with("Ctrl-C stops"), "{screen}");
    let mut quotes = 0;
    for line in &lines[2..] {
        assert!(
            line.starts_with("tick ") || line.starts_with("        "),
            "a line that is neither a tick nor its continuation: {line:?}\n{screen}"
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        let pairs = if line.starts_with("tick ") {
            &words[2..]
        } else {
            &words[..]
        };
        assert_eq!(pairs.len() % 2, 0, "a quote split: {line:?}\n{screen}");
        for pair in pairs.chunks(2) {
            assert!(
                pair[0].chars().all(|c| c.is_ascii_uppercase()) && pair[1].contains('/'),
                "a quote split: {line:?}\n{screen}"
            );
            quotes += 1;
        }
    }
    assert!(quotes >= 8, "{screen}");
}
