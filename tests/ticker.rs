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
