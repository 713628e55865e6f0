//! The command line people trust (issue 11): options anywhere, clap's
//! usage errors, DESIGN.md's exit-status table row by row, errors that
//! name the cause and the way out (as one JSON object with `--json`),
//! output without escape sequences off a terminal, completions, manual
//! pages and the config round trip.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{field, Attached, Backend, Run, Segment, INIT, LAB, TRADER};

/// `trader ARGS...` with no `--segment` or `--name` added.
fn trader(args: &[&str]) -> Run {
    let mut command = Command::new(TRADER);
    command.args(args).env_remove("SHM_EXCHANGE_CRASH_AT");
    Run::new(command, b"")
}

/// `exchange-lab ARGS...` with no `--segment` added.
fn lab(args: &[&str]) -> Run {
    let mut command = Command::new(LAB);
    command.args(args).env_remove("SHM_EXCHANGE_CRASH_AT");
    Run::new(command, b"")
}

/// `exchange-init ARGS...` with no `--segment` added.
fn init(args: &[&str]) -> Run {
    let mut command = Command::new(INIT);
    command.args(args);
    Run::new(command, b"")
}

#[test]
fn options_go_before_or_after_the_command_words() {
    let segment = Segment::create(Backend::Posix);
    let seg = segment.address.as_str();
    for args in [
        &["--json", "--segment", seg, "--name", "ann", "rates"][..],
        &["rates", "--json", "--segment", seg, "--name", "ann"],
        &["--segment", seg, "rates", "--name", "ann", "--json"],
    ] {
        let reply = trader(args).success().parse_json();
        assert_eq!(reply["command"], "rates", "{args:?}");
    }
    // A trade's words and its options, mixed; a negative amount is a word.
    let bought = trader(&[
        "buy",
        "--segment",
        seg,
        "DOLLAR",
        "--name",
        "ann",
        "2",
        "--json",
    ])
    .success()
    .parse_json();
    assert_eq!(field(&bought, "total"), "27.44");
    let traders = trader(&["traders", "--json", "--segment", seg, "--name", "ann"])
        .success()
        .parse_json();
    assert_eq!(traders["traders"][0]["name"], "ann");
    trader(&["--segment", seg, "--name", "ann", "buy", "DOLLAR", "-1"])
        .status(1)
        .stderr_has("bad amount \"-1\"");
}

#[test]
fn instrument_and_global_options_go_in_either_order() {
    let segment = Segment::create(Backend::Posix);
    let seg = segment.address.as_str();
    for args in [
        &[
            "stress",
            "--segment",
            seg,
            "--procs",
            "2",
            "--trades",
            "50",
            "--json",
        ][..],
        &[
            "--segment",
            seg,
            "stress",
            "--json",
            "--procs",
            "2",
            "--trades",
            "50",
        ],
        &[
            "stress",
            "--procs",
            "2",
            "--json",
            "--trades",
            "50",
            "--segment",
            seg,
        ],
    ] {
        let report = lab(args).success().parse_json();
        assert_eq!(report["command"], "stress", "{args:?}");
        assert_eq!(report["procs"], 2, "{args:?}");
    }
    trader(&[
        "watch",
        "--segment",
        "posix:/shmx-no-such-exchange",
        "--trades",
        "5",
    ])
    .status(2)
    .stderr_has("no exchange at posix:/shmx-no-such-exchange");
}

#[test]
fn an_unknown_option_is_a_usage_error_with_clap_s_message() {
    let segment = Segment::create(Backend::Posix);
    for args in [&["--jsn", "rates"][..], &["--bogus"], &["rates", "--bogus"]] {
        let run = segment.trader("ann", args);
        run.status(2);
        assert!(
            run.stderr().contains("unexpected argument '--"),
            "{}",
            run.stderr()
        );
        assert!(run.stdout().is_empty(), "{}", run.stdout());
    }
    let run = segment.trader("ann", &["--jsn", "rates"]);
    assert!(
        run.stderr().contains("a similar argument exists: '--json'"),
        "{}",
        run.stderr()
    );
    // Inside an instrument, --segment is a known option, not a typo.
    let run = trader(&["watch", "--segment"]);
    run.status(2);
    assert!(!run.stderr().contains("--trades"), "{}", run.stderr());
    let run = lab(&["stress", "--segment"]);
    run.status(2);
    assert!(!run.stderr().contains("--seed"), "{}", run.stderr());
    for args in [&["--bogus"][..], &["--mode"], &["--remove", "--force"]] {
        init(args).status(2);
    }
}

#[test]
fn a_usage_error_under_json_is_one_json_object() {
    let segment = Segment::create(Backend::Posix);
    let error = segment
        .trader("ann", &["--json", "--bogus"])
        .status(2)
        .parse_json();
    assert_eq!(error["ok"], false);
    assert_eq!(error["command"], "trader");
    assert_eq!(error["code"], "usage");
    assert!(field(&error, "error").contains("'--bogus'"), "{error}");
    let error = segment
        .init(&["--json", "--mode", "999"])
        .status(2)
        .parse_json();
    assert_eq!(error["code"], "usage");
    assert!(field(&error, "error").contains("octal"), "{error}");
}

#[test]
fn script_dash_reads_stdin_and_a_directory_is_named() {
    let segment = Segment::create(Backend::Posix);
    let run = segment.script("ann", &["--script", "-"], "buy EURO 1\nportfolio\n");
    run.success().stdout_has("bought 1.00 EURO");
    assert_eq!(run.stdout().lines().count(), 2, "{}", run.stdout());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    segment
        .trader("ann", &["--script", path])
        .status(2)
        .stderr_has("is a directory; give a file of commands");
    let error = segment
        .trader("ann", &["--json", "--script", path])
        .status(2)
        .parse_json();
    assert_eq!(error["code"], "bad_script");
}

/// Row 0: every command succeeded.
#[test]
fn exit_status_0_when_every_command_succeeded() {
    let segment = Segment::unique(Backend::Posix);
    segment.init(&[]).success();
    segment.init(&["--status"]).success();
    segment.trader("ann", &["buy", "DOLLAR", "1"]).success();
    segment.trader("ann", &["audit"]).success();
    segment
        .script("ann", &[], "rates\nsell DOLLAR 1\naudit\n")
        .success();
    trader(&["--help"]).success();
    trader(&["--version"]).success();
    segment.init(&["--remove"]).success();
}

/// Row 1: a command was refused: a market rule, an instructor-only command
/// run by someone else, an inconsistent audit, a halted market (an existing
/// exchange for exchange-init).
#[test]
fn exit_status_1_when_a_command_was_refused() {
    let segment = Segment::create(Backend::Posix);
    segment
        .trader("ann", &["buy", "POUND", "100"])
        .status(1)
        .stderr_has("insufficient balance");
    let error = segment
        .trader("ann", &["--json", "buy", "POUND", "100"])
        .status(1)
        .parse_json();
    assert_eq!(error["command"], "buy");
    assert_eq!(error["code"], "insufficient_balance");
    // One refusal in a script: the script goes on, the status is 1, the
    // error goes to stderr and the answers to stdout.
    let run = segment.script("ann", &[], "sell EURO 1\nbuy EURO 1\n");
    run.status(1).stderr_has("you hold only 0.00 EURO");
    assert_eq!(run.stdout().lines().count(), 1, "{}", run.stdout());
    assert!(run.stdout().starts_with("bought"), "{}", run.stdout());
    segment.init(&[]).status(1).stderr_has("--force");

    // The owner's commands, run by another user; then a halted market.
    let class = Segment::unique(Backend::Posix);
    class.init(&["--mode", "0666"]).success();
    if let Some(student) = common::users::TestUser::create("cli") {
        let mut command = class.trader_command(&student.name);
        student.apply(&mut command).arg("halt");
        common::Run::new(command, b"")
            .status(1)
            .stderr_has("only the owner of this exchange");
    }
    class.trader("teacher", &["halt"]).success();
    class
        .trader("ann", &["buy", "DOLLAR", "1"])
        .status(1)
        .stderr_has("trading is halted");

    // An inconsistent audit is a failed command.
    let race = Segment::create(Backend::Posix);
    race.lab(&["stress", "--procs", "2", "--trades", "50000", "--unlocked"])
        .success();
    race.trader("stress-0", &["audit"])
        .status(1)
        .stdout_has("audit: INCONSISTENT");
    let audit = race
        .trader("stress-0", &["--json", "audit"])
        .status(1)
        .parse_json();
    assert_eq!(audit["ok"], false, "{audit}");
    assert_eq!(audit["consistent"], false, "{audit}");
    assert_eq!(audit["code"], "inconsistent_audit", "{audit}");
    assert!(audit["currencies"].is_array(), "{audit}");
}

/// Row 2: a usage error, or the exchange cannot be used. Truncated and
/// corrupted exchanges have their own tests in tests/corruption.rs.
#[test]
fn exit_status_2_for_usage_errors_and_unusable_exchanges() {
    let segment = Segment::create(Backend::File);
    segment.trader("ann", &["--bogus"]).status(2);
    segment.lab(&["stress", "--procs", "0"]).status(2);
    // A one-shot command that is unknown or misses its arguments.
    segment
        .trader("ann", &["biy", "EURO", "1"])
        .status(2)
        .stderr_has("did you mean");
    segment
        .trader("ann", &["buy"])
        .status(2)
        .stderr_has("buy CUR");
    // None there.
    Segment::unique(Backend::Posix)
        .trader("ann", &["rates"])
        .status(2)
        .stderr_has("run exchange-init first");
    // Not an exchange.
    let path = segment.dir().unwrap().join("not-an-exchange");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    let foreign = format!("file:{}", path.display());
    trader(&["--segment", &foreign, "--name", "ann", "rates"])
        .status(2)
        .stderr_has("is not an exchange");
    // Permission denied: another user, on a 0600 exchange.
    let mut command = segment.trader_command("nobody");
    command.arg("rates").uid(65534).gid(65534);
    Run::new(command, b"")
        .status(2)
        .stderr_has("permission denied");
    // Replaced while attached.
    let mut attached = Attached::start(&segment, "ann", &[]);
    segment
        .init(&["--force"])
        .success()
        .stdout_has("replaced the exchange");
    let reply = attached.ask("rates");
    assert!(reply.contains("was removed or replaced"), "{reply}");
    let (status, stderr) = attached.wait_exit();
    assert_eq!(status.code(), Some(2), "{stderr}");
}

#[test]
fn exchange_init_says_what_it_did() {
    let segment = Segment::unique(Backend::Posix);
    // --force on nothing creates, and says so.
    segment
        .init(&["--force"])
        .success()
        .stdout_has("created the exchange");
    segment
        .init(&["--force"])
        .success()
        .stdout_has("replaced the exchange");
    let replaced = segment.init(&["--force", "--json"]).success().parse_json();
    assert_eq!(replaced["command"], "replace");
    segment.init(&["--remove"]).success();
    segment
        .init(&["--remove"])
        .status(2)
        .stderr_has("there is nothing to remove");
    let error = segment.init(&["--remove", "--json"]).status(2).parse_json();
    assert_eq!(error["command"], "remove");
    assert_eq!(error["code"], "no_exchange");
}

#[test]
fn errors_name_the_cause_and_the_way_out() {
    let segment = Segment::create(Backend::Posix);
    segment
        .trader("ann", &["tape", "300"])
        .status(1)
        .stderr_has("bad count \"300\": give a whole number from 1 to 256");
    let cases = [
        (
            "-price.toml",
            "[[currency]]\nname = \"EURO\"\nsell = \"1.23456\"\nbuy = \"1\"\nstock = \"1\"\n",
            "currency[0].sell: \"1.23456\" has 5 digits after the point; use at most 4",
        ),
        (
            "-syntax.json",
            "{\n  \"cash\": \"1\",\n  oops\n}\n",
            "line 3, column 3: ",
        ),
        (
            "-trailing.json",
            "{\"cash\": \"1\"} {}",
            "line 1, column 15: trailing characters",
        ),
    ];
    for (suffix, text, message) in cases {
        let fresh = Segment::unique(Backend::Posix);
        let path = common::temp_file(suffix, text);
        let run = fresh.init(&["--config", path.to_str().unwrap()]);
        run.status(2)
            .stderr_has(message)
            .stderr_has("nothing was created");
        assert!(!run.stderr().contains("?:"), "{}", run.stderr());
    }
}

#[test]
fn no_escape_sequences_off_a_terminal() {
    let segment = Segment::create(Backend::Posix);
    for args in [
        &["rates"][..],
        &["portfolio"],
        &["help"],
        &["tape"],
        &["bogus"],
    ] {
        let mut command = segment.trader_command("ann");
        command
            .args(args)
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        let run = Run::new(command, b"");
        assert!(
            !run.stdout().contains('\x1b'),
            "{args:?}: {:?}",
            run.stdout()
        );
        assert!(
            !run.stderr().contains('\x1b'),
            "{args:?}: {:?}",
            run.stderr()
        );
    }
}

#[test]
fn profit_and_loss_read_naturally() {
    let segment = Segment::create(Backend::Posix);
    segment.trader("ann", &["buy", "DOLLAR", "10"]).success();
    let run = segment.trader("ann", &["portfolio"]);
    run.success().stdout_has("loss");
    let last = run.stdout().lines().last().unwrap().to_owned();
    assert!(last.starts_with("loss"), "{last}");
    assert!(last.ends_with(" 3.20"), "{last}");
    assert!(!last.contains('-'), "a double negative: {last}");
}

#[test]
fn completions_and_manual_pages() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef trader"),
        ("fish", "complete -c trader"),
    ] {
        trader(&["completions", shell]).success().stdout_has(marker);
    }
    let run = trader(&["completions", "bash"]);
    run.stdout_has("watch").stdout_has("--segment");
    for word in ["stress", "bench", "serve", "worker", "mp-client"] {
        assert!(!run.stdout().contains(word), "trader completes {word}");
    }
    let run = lab(&["completions", "bash"]);
    run.stdout_has("stress")
        .stdout_has("bench")
        .stdout_has("--unlocked");
    assert!(
        !run.stdout().contains("stress-worker"),
        "hidden workers are completed"
    );
    lab(&["man"]).success().stdout_has(".TH exchange-lab");
    trader(&["completions", "tcsh"]).status(2);
    trader(&["man"]).success().stdout_has(".TH trader");
    init(&["--man"]).success().stdout_has(".TH exchange-init");
    init(&["--completions", "zsh"])
        .success()
        .stdout_has("#compdef exchange-init");
}

#[test]
fn print_config_round_trips_through_config() {
    let printed = init(&["--print-config"]).success().stdout();
    let path = common::temp_file(".toml", &printed);
    let from_file = Segment::unique(Backend::Posix);
    from_file
        .init(&["--config", path.to_str().unwrap()])
        .success();
    let default = Segment::create(Backend::Posix);
    let rates = |segment: &Segment| segment.json("ann", "rates");
    assert_eq!(rates(&from_file), rates(&default));
    let status = |segment: &Segment| {
        let mut status = segment.init(&["--status", "--json"]).parse_json();
        for volatile in ["address", "size", "mode", "owner_uid", "attached"] {
            status.as_object_mut().unwrap().remove(volatile);
        }
        status
    };
    assert_eq!(status(&from_file), status(&default));
}

#[test]
fn the_examples_are_valid_configs() {
    for example in ["examples/market.toml", "examples/market.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(example);
        let segment = Segment::unique(Backend::Posix);
        segment
            .init(&["--config", path.to_str().unwrap()])
            .success();
        assert_eq!(segment.json("ann", "audit")["consistent"], true);
    }
}

/// The lab left the program a class may install with privilege: `trader`
/// has no `stress`, `bench` or worker subcommand, listed or hidden, and
/// naming one is a usage error that changes nothing.
#[test]
fn the_lab_s_subcommands_are_usage_errors_in_trader() {
    let segment = Segment::create(Backend::Posix);
    for word in [
        "stress",
        "bench",
        "stress-worker",
        "bench-worker",
        "serve",
        "mp-client",
    ] {
        segment
            .trader("ann", &[word])
            .status(2)
            .stderr_has(&format!("`{word}` is not a trader command"))
            .stderr_has("exchange-lab");
        let error = segment
            .trader("ann", &["--json", word])
            .status(2)
            .parse_json();
        assert_eq!(error["code"], "usage", "{error}");
        // With the options they used to take, and on no exchange at all.
        let run = Run::new(
            {
                let mut command = segment.trader_command("ann");
                command.args([word, "--unlocked", "--trades", "1000"]);
                command
            },
            b"go\n",
        );
        run.status(2);
        assert!(run.stdout().is_empty(), "{}", run.stdout());
        Segment::unique(Backend::Posix)
            .trader("ann", &[word])
            .status(2)
            .stderr_has("is not a trader command");
    }
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert_eq!(status["accounts"], 0, "{status}");
    assert_eq!(status["unlocked_trades"], 0, "{status}");
    let help = trader(&["--help"]);
    help.success().stdout_has("exchange-lab");
    assert!(
        !help.stdout().contains("trader stress"),
        "{}",
        help.stdout()
    );
    lab(&["--help"])
        .success()
        .stdout_has("exchange-lab stress")
        .stdout_has("exchange-lab bench");
}
