//! Every store renders the same bytes for the same history. One set of
//! scripts (trades, refusals, the owner's commands, a closed account whose
//! slot another takes) runs through `trader --script` on a POSIX, System V,
//! file and Redis market; each step's stdout, stderr and exit status must
//! be identical on all four, as text and as JSON.

mod common;

use std::fmt::Write as _;

use common::{temp_file, Backend, Run, Segment, TRADER};

/// Two currencies and room for one account, so a closed account's slot is
/// taken by the next one.
const CONFIG: &str = r#"cash = "1000.00"
starting_balance = "100.00"
accounts = 1

[[currency]]
name = "C"
sell = "1.25"
buy = "1"
stock = "10"

[[currency]]
name = "D"
sell = "3.0005"
buy = "2.5"
stock = "4.5"
"#;

/// Who runs each script, and its lines. `t` runs the owner's commands
/// (every test process is the market's owner; the name is for the tape).
const STEPS: &[(&str, &str)] = &[
    (
        "alice",
        "rates\nbuy C 2\nbuy D 0.01\nbuy C 1000\nbuy D 5\nbuy X 1\nbuy C -1\nbuy C 0.001\n\
         sell C 3\nsell D 0.003\nquote buy D 1.5\nquote sell C 2\nportfolio\nhistory\n",
    ),
    ("bob", "portfolio\nbuy C 1\n"),
    ("t", "price C 2 1.5\nprice D 1 2\nprice D 0 0\nhalt\nhalt\n"),
    ("alice", "buy C 1\nsell C 1\nrates\n"),
    ("t", "resume\nclose nobody\nclose alice\nclose alice\n"),
    ("reader", "tape 256\ntraders\naudit\n"),
    (
        "bob",
        "buy C 1.5\nsell C 0.5\nbuy D 1\nportfolio\nhistory\n",
    ),
    ("reader", "tape 256\ntape 2\ntraders\naudit\nrates\n"),
    ("alice", "portfolio\n"),
    ("t", "close bob\nreset\ntape 256\ntraders\naudit\n"),
    ("carol", "sell C 1\nbuy C 1\nportfolio\nhelp\nfoo\n"),
    ("reader", "tape 256\nhistory\n"),
];

/// What every step printed and how it ended, on one store.
fn transcript(backend: Backend, extra: &[&str]) -> String {
    let segment = Segment::unique(backend);
    let config = temp_file(".toml", CONFIG);
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    let mut transcript = String::new();
    for (step, (name, lines)) in STEPS.iter().enumerate() {
        let script = temp_file(".txt", lines);
        let mut args = vec!["--name", name];
        args.extend(extra);
        args.extend(["--script", script.to_str().unwrap()]);
        let run = Run::new(segment.command(TRADER, &args), b"");
        write!(
            transcript,
            "=== step {step}: {name}\n{}--- stderr\n{}--- status {:?}\n",
            run.stdout(),
            run.stderr(),
            run.code()
        )
        .unwrap();
    }
    transcript
}

/// The first line where two transcripts differ, with its neighbours.
fn first_difference(a: &str, b: &str) -> String {
    let (a, b): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |lines: &[&str]| lines[at.saturating_sub(3)..(at + 3).min(lines.len())].join("\n");
    format!(
        "line {}:\n{}\n--- versus ---\n{}",
        at + 1,
        show(&a),
        show(&b)
    )
}

fn every_store_prints_the_same(extra: &[&str]) {
    let posix = transcript(Backend::Posix, extra);
    // The scripts reach every path they are for.
    for expected in [
        "(closed)",
        "bought 2.00 C",
        "trading is halted",
        "no open account named \"nobody\"",
        "closed alice",
        "--- status Some(1)",
        "--- status Some(0)",
    ] {
        assert!(
            posix.contains(expected) || extra.contains(&"--json"),
            "the scripts never show {expected:?}:\n{posix}"
        );
    }
    for backend in [Backend::SysV, Backend::File, Backend::Redis] {
        let other = transcript(backend, extra);
        assert!(
            posix == other,
            "{backend:?} differs from POSIX at {}",
            first_difference(&posix, &other)
        );
    }
}

#[test]
fn every_store_prints_the_same_text() {
    every_store_prints_the_same(&[]);
}

#[test]
fn every_store_prints_the_same_json() {
    every_store_prints_the_same(&["--json"]);
}
