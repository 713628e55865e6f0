//! The completion scripts in a real shell: bash sources
//! `trader completions bash` and its `_trader` function is called as bash
//! calls it on Tab (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT set), and
//! what it leaves in COMPREPLY is what Tab would offer.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Backend, Run, Segment, TRADER};

/// What Tab offers after `line` (the cursor at its end), in a bash that
/// sourced the script, with `trader` on its PATH.
fn offered(line: &str) -> Vec<String> {
    let directory = Path::new(TRADER).parent().unwrap();
    let path = format!(
        "{}:{}",
        directory.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let program = r#"
        source <(trader completions bash) || exit 3
        [[ $(complete -p trader) == *_trader* ]] || exit 4
        COMP_LINE=$1
        COMP_POINT=${#COMP_LINE}
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _trader
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let mut command = Command::new("bash");
    command
        .args(["--norc", "--noprofile", "-c", program, "bash", line])
        .env("PATH", path)
        .env_remove("EXCHANGE_SEGMENT");
    let run = Run::new(command, b"");
    run.success();
    run.stdout()
        .lines()
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn assert_offers(line: &str, expected: &[&str]) {
    let mut offered = offered(line);
    offered.sort();
    let mut expected: Vec<String> = expected.iter().map(|word| word.to_string()).collect();
    expected.sort();
    assert_eq!(offered, expected, "Tab after {line:?}");
}

#[test]
fn the_first_word_is_a_command_or_an_instrument_never_an_internal_one() {
    let offered = offered("trader ");
    for word in [
        "buy",
        "sell",
        "rates",
        "quote",
        "portfolio",
        "traders",
        "history",
        "tape",
        "audit",
        "help",
        "price",
        "halt",
        "resume",
        "reset",
        "close",
        "watch",
        "follow",
        "ticker",
        "round",
        "hello",
        "wait",
        "completions",
        "man",
    ] {
        assert!(
            offered.iter().any(|w| w == word),
            "{word} not in {offered:?}"
        );
    }
    for hidden in ["serve", "stress-worker", "bench-worker", "mp-client"] {
        assert!(
            !offered.iter().any(|w| w == hidden),
            "{hidden} in {offered:?}"
        );
    }
    assert_offers("trader r", &["rates", "reset", "resume", "round"]);
    assert_offers("trader quote ", &["buy", "sell"]);
    assert_offers("trader --json h", &["halt", "hello", "help", "history"]);
    assert_offers("trader completions ", &["bash", "zsh", "fish"]);
}

#[test]
fn currencies_come_from_the_exchange_named_on_the_line() {
    let segment = Segment::unique(Backend::Posix);
    let config = common::temp_file(
        ".toml",
        "[[currency]]\nname = \"YEN\"\nsell = \"0.07\"\nbuy = \"0.06\"\nstock = \"100000.00\"\n\n\
         [[currency]]\nname = \"YUAN\"\nsell = \"1.10\"\nbuy = \"1.00\"\nstock = \"1000.00\"\n",
    );
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    let line = format!("trader --segment {} buy ", segment.address);
    assert_offers(&line, &["YEN", "YUAN"]);
    let line = format!("trader --segment {} quote sell Y", segment.address);
    assert_offers(&line, &["YEN", "YUAN"]);
    // The amount is not completed.
    let line = format!("trader --segment {} sell YEN ", segment.address);
    assert_offers(&line, &[]);
    // No exchange there: the default market's currencies.
    let missing = Segment::unique(Backend::Posix);
    let line = format!("trader --segment {} buy ", missing.address);
    assert_offers(&line, &["DOLLAR", "EURO", "STERLIN", "POUND"]);
}

/// The README's bash install lines, run as written in a fresh account
/// (an empty HOME), leave a script that a new bash can source.
#[test]
fn the_readmes_install_lines_work_on_a_fresh_account() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|line| {
            line.starts_with("mkdir -p ~/.local/share/bash-completion")
                || line.starts_with("trader completions bash >")
        })
        .collect();
    assert_eq!(lines.len(), 2, "the README's install lines: {lines:?}");
    let home = tempfile::tempdir().unwrap();
    let directory = Path::new(TRADER).parent().unwrap();
    let path = format!(
        "{}:{}",
        directory.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let program = format!(
        "set -e\n{}\nsource ~/.local/share/bash-completion/completions/trader\ncomplete -p trader\n",
        lines.join("\n")
    );
    let mut command = Command::new("bash");
    command
        .args(["--norc", "--noprofile", "-c", &program])
        .env("HOME", home.path())
        .env("PATH", path);
    Run::new(command, b"").success().stdout_has("-F _trader");
}
