//! End to end through the real binaries, on every backend (Redis too):
//! exact trades, persistence of accounts, every kind of bad input, exit
//! codes and JSON.

mod common;

use common::{each_backend, field, Backend, Segment};

each_backend!(
    trades_to_the_cent,
    accounts_survive_the_trader,
    refused_commands_change_nothing,
    bad_account_names_are_refused,
    a_full_account_table_is_refused,
    scripts_give_one_line_per_command,
    existing_exchange_needs_force,
    missing_exchange_is_reported,
);

/// File modes are shared memory's own: Redis refuses `--mode` (tests/redis.rs).
mod shm {
    use super::*;
    crate::common::each_segment!(mode_is_exact_whatever_the_umask);
}

/// Everything the market holds, to compare before and after a refusal.
fn snapshot(segment: &Segment) -> (serde_json::Value, serde_json::Value) {
    (
        segment.json("alice", "rates"),
        segment.json("alice", "portfolio"),
    )
}

fn trades_to_the_cent(backend: Backend) {
    let segment = Segment::create(backend);
    let bought = segment.json("alice", "buy dollar 10");
    assert_eq!(bought["ok"], true);
    assert_eq!(field(&bought, "currency"), "DOLLAR");
    assert_eq!(field(&bought, "amount"), "10.00");
    assert_eq!(field(&bought, "price"), "13.72");
    assert_eq!(field(&bought, "total"), "137.20");
    assert_eq!(field(&bought, "balance"), "862.80");

    // 0.01 STERLIN costs 0.24552, rounded up; it sells for 0.24551, down.
    let bought = segment.json("alice", "buy STERLIN 0.01");
    assert_eq!(field(&bought, "total"), "0.25");
    let sold = segment.json("alice", "sell sterlin 0.01");
    assert_eq!(field(&sold, "total"), "0.24");
    assert_eq!(field(&sold, "balance"), "862.79");

    let sold = segment.json("alice", "sell DOLLAR 10");
    assert_eq!(field(&sold, "total"), "134.00");
    assert_eq!(field(&sold, "balance"), "996.79");

    let rates = segment.json("alice", "rates");
    assert_eq!(rates["currencies"][0]["name"], "DOLLAR");
    assert_eq!(rates["currencies"][0]["stock"], "10000.00");
    assert_eq!(rates["currencies"][2]["sell"], "24.552");
    let audit = segment.json("bob", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    assert_eq!(audit["money"]["cash"], "1000003.21");
}

fn accounts_survive_the_trader(backend: Backend) {
    let segment = Segment::create(backend);
    segment
        .script("carol", &[], "buy EURO 3.5\nbuy POUND 1\nquit\n")
        .success();
    let portfolio = segment.json("carol", "portfolio");
    assert_eq!(field(&portfolio, "balance"), "898.50");
    assert_eq!(portfolio["holdings"]["EURO"], "3.50");
    assert_eq!(portfolio["holdings"]["POUND"], "1.00");
    assert_eq!(portfolio["holdings"]["DOLLAR"], "0.00");
    // Another name is another account.
    assert_eq!(
        field(&segment.json("dave", "portfolio"), "balance"),
        "1000.00"
    );
}

fn refused_commands_change_nothing(backend: Backend) {
    let segment = Segment::create(backend);
    segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
    let before = snapshot(&segment);
    let refusals: &[(&[&str], &str)] = &[
        (&["frobnicate"], "unknown command \"frobnicate\""),
        (&["byu", "DOLLAR", "1"], "did you mean \"buy\""),
        (&["buy", "YEN", "1"], "unknown currency \"YEN\""),
        (&["buy", "DOLAR", "1"], "did you mean DOLLAR"),
        (&["buy", "DOLLAR"], "usage: buy CUR AMOUNT"),
        (&["buy"], "usage: buy CUR AMOUNT"),
        (&["sell", "DOLLAR", "1", "2"], "usage: sell CUR AMOUNT"),
        (&["rates", "now"], "usage: rates"),
        (&["buy", "DOLLAR", "0"], "bad amount \"0\""),
        (&["buy", "DOLLAR", "-1"], "bad amount \"-1\""),
        (&["buy", "DOLLAR", "1e3"], "bad amount \"1e3\""),
        (&["buy", "DOLLAR", "1.234"], "at most 2 digits"),
        (&["buy", "DOLLAR", "NaN"], "bad amount \"NaN\""),
        (&["buy", "DOLLAR", "99999999999999999999"], "too large"),
        (&["buy", "DOLLAR", "abc"], "bad amount \"abc\""),
        (&["buy", "DOLLAR", "80"], "insufficient balance"),
        (&["buy", "POUND", "5001"], "insufficient balance"),
        (&["sell", "DOLLAR", "2"], "you hold only 1.00 DOLLAR"),
        (&["sell", "EURO", "0.01"], "you hold only 0.00 EURO"),
        (&["buy", "DOLLAR", "92233720368547758"], "too large"),
    ];
    for (args, message) in refusals {
        // A malformed one-shot command is a usage error (exit 2); a rule
        // that refuses a well-formed one, a refusal (exit 1).
        let usage = message.contains("unknown command")
            || message.contains("did you mean \"")
            || message.contains("usage:");
        let status = if usage { 2 } else { 1 };
        segment
            .trader("alice", args)
            .status(status)
            .stderr_has(message);
        let json = {
            let mut json_args = vec!["--json"];
            json_args.extend_from_slice(args);
            segment
                .trader("alice", &json_args)
                .status(status)
                .parse_json()
        };
        assert_eq!(json["ok"], false);
        assert!(field(&json, "error").contains(message), "{json}");
    }
    assert_eq!(snapshot(&segment), before);

    // Buying past the stock: a rich account on a small market.
    let small = Segment::unique(backend);
    let config = common::temp_file(
        ".toml",
        "starting_balance = \"1000000\"\n[[currency]]\nname = \"DOLLAR\"\nsell = \"13.72\"\nbuy = \"13.40\"\nstock = \"5\"\n",
    );
    small
        .init(&["--config", config.to_str().unwrap()])
        .success();
    small
        .trader("rich", &["buy", "DOLLAR", "5.01"])
        .status(1)
        .stderr_has("the exchange has only 5.00 DOLLAR, not 5.01");
    small.trader("rich", &["buy", "DOLLAR", "5"]).success();
    assert_eq!(small.json("rich", "audit")["consistent"], true);
}

fn bad_account_names_are_refused(backend: Backend) {
    let segment = Segment::create(backend);
    for name in ["two words", &"x".repeat(40), "", "semi;colon"] {
        segment
            .trader(name, &["rates"])
            .status(2)
            .stderr_has("bad account name");
    }
    // Reading the market opens no account; the first portfolio does.
    assert_eq!(segment.json("ok", "audit")["money"]["accounts"], 0);
    segment.trader(&"x".repeat(31), &["portfolio"]).success();
    assert_eq!(segment.json("ok", "audit")["money"]["accounts"], 1);
}

fn a_full_account_table_is_refused(backend: Backend) {
    let segment = Segment::unique(backend);
    let config = common::temp_file(".json", r#"{"accounts": 2}"#);
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    segment.trader("one", &["portfolio"]).success();
    segment.trader("two", &["buy", "EURO", "1"]).success();
    segment
        .trader("three", &["portfolio"])
        .status(2)
        .stderr_has("the account table is full (2 accounts)");
    // A full table never blocks reading the market.
    for read in ["rates", "quote buy EURO 1", "tape", "traders", "audit"] {
        let reply = segment.json("three", read);
        assert_eq!(reply["ok"], true, "{read}: {reply}");
    }
    // Existing accounts still work.
    segment.trader("one", &["buy", "EURO", "1"]).success();
    assert_eq!(segment.json("two", "audit")["consistent"], true);
}

fn scripts_give_one_line_per_command(backend: Backend) {
    let segment = Segment::create(backend);
    let script = "# a comment\n\nbuy DOLLAR 1\nsell DOLLAR 1\nportfolio\nrates\naudit\nhelp\n";
    let run = segment.script("erin", &[], script);
    run.success();
    assert_eq!(run.stdout().lines().count(), 6, "{}", run.stdout());
    let run = segment.script("erin", &["--json"], script);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|line| line["ok"] == true));
    assert_eq!(lines[0]["command"], "buy");
    assert_eq!(lines[2]["holdings"]["DOLLAR"], "0.00");

    // A refusal does not stop the script, but sets exit status 1.
    let run = segment.script("erin", &["--json"], "sell DOLLAR 5\nbuy DOLLAR 1\n");
    run.status(1);
    let lines = run.json_lines();
    assert_eq!(lines[0]["ok"], false);
    assert_eq!(lines[1]["ok"], true);

    // `quit` stops reading; so does the end of input.
    let run = segment.script("erin", &[], "buy DOLLAR 1\nquit\nbuy DOLLAR 1\n");
    run.success();
    assert_eq!(run.stdout().lines().count(), 1);

    // --script reads a file the same way.
    let path = common::temp_file(".txt", "buy EURO 2\nportfolio\n");
    let run = segment.trader("erin", &["--script", path.to_str().unwrap()]);
    run.success().stdout_has("bought 2.00 EURO");
    segment
        .trader("erin", &["--script", "/nonexistent/script"])
        .status(2)
        .stderr_has("cannot read the script");
}

fn existing_exchange_needs_force(backend: Backend) {
    let segment = Segment::create(backend);
    segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
    segment.init(&[]).status(1).stderr_has("--force");
    // Refused: the market is unchanged.
    assert_eq!(
        segment.json("alice", "portfolio")["holdings"]["DOLLAR"],
        "1.00"
    );
    segment.init(&["--force"]).success();
    assert_eq!(
        segment.json("alice", "portfolio")["holdings"]["DOLLAR"],
        "0.00"
    );
    segment
        .init(&["--status"])
        .success()
        .stdout_has("1 of 64 accounts");
    segment.init(&["--remove"]).success();
    segment
        .init(&["--status"])
        .status(2)
        .stderr_has("run exchange-init first");
}

fn missing_exchange_is_reported(backend: Backend) {
    let segment = Segment::unique(backend);
    segment
        .trader("alice", &["rates"])
        .status(2)
        .stderr_has(&format!(
            "no exchange at {}; run exchange-init first",
            segment.address
        ));
    let json = segment
        .trader("alice", &["--json", "rates"])
        .status(2)
        .parse_json();
    assert_eq!(json["ok"], false);
    segment.script("alice", &[], "rates\n").status(2);
    segment
        .init(&["--remove"])
        .status(2)
        .stderr_has("nothing to remove");
}

fn mode_is_exact_whatever_the_umask(backend: Backend) {
    for (umask, mode) in [("077", "0666"), ("000", "0600"), ("027", "0644")] {
        let segment = Segment::unique(backend);
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "umask {umask}; exec \"$0\" --segment \"$1\" --mode {mode} --json"
            ))
            .arg(common::INIT)
            .arg(&segment.address);
        let created = common::Run::new(command, b"");
        assert_eq!(
            created.success().parse_json()["mode"],
            mode,
            "umask {umask}"
        );
        let status = segment.init(&["--status", "--json"]).parse_json();
        assert_eq!(status["mode"], mode, "umask {umask}");
    }
}

#[test]
fn configs_are_checked_before_anything_is_made() {
    let cases = [
        (
            "crossed.toml",
            "[[currency]]\nname = \"POUND\"\nsell = \"33.24\"\nbuy = \"33.25\"\nstock = \"5000\"\n",
            "currency[0]: crossed quote",
        ),
        (
            "duplicate.toml",
            "[[currency]]\nname = \"EURO\"\nsell = \"2\"\nbuy = \"1\"\nstock = \"1\"\n[[currency]]\nname = \"Euro\"\nsell = \"2\"\nbuy = \"1\"\nstock = \"1\"\n",
            "currency[1].name",
        ),
        (
            "decimal.toml",
            "[[currency]]\nname = \"EURO\"\nsell = \"2.5.1\"\nbuy = \"1\"\nstock = \"1\"\n",
            "currency[0].sell",
        ),
        ("float.json", r#"{"cash": 1000.5}"#, "cash"),
        ("unknown.toml", "cash = \"1\"\ncolour = \"red\"\n", "colour"),
        ("none.toml", "currency = []\n", "use 1 to 16"),
    ];
    for (name, text, message) in cases {
        let segment = Segment::unique(Backend::Posix);
        let path = common::temp_file(&format!("-{name}"), text);
        let run = segment.init(&["--config", path.to_str().unwrap()]);
        run.status(2)
            .stderr_has(message)
            .stderr_has("nothing was created");
        segment
            .init(&["--status"])
            .status(2)
            .stderr_has("run exchange-init first");
    }
    let segment = Segment::unique(Backend::Posix);
    segment
        .init(&["--config", "/nonexistent/market.toml"])
        .status(2)
        .stderr_has("bad config /nonexistent/market.toml");
}

#[test]
fn foreign_shm_objects_are_not_exchanges() {
    use std::io::Write;
    // Too small to be an exchange.
    let small = Segment::unique(Backend::Posix);
    let path = format!("/dev/shm{}", small.address.trim_start_matches("posix:"));
    std::fs::write(&path, b"hello").unwrap();
    small
        .trader("alice", &["rates"])
        .status(2)
        .stderr_has("is not an exchange (5 bytes, smaller than an exchange header");
    // Big enough, but someone else's bytes.
    let foreign = Segment::unique(Backend::Posix);
    let path = format!("/dev/shm{}", foreign.address.trim_start_matches("posix:"));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&vec![0xab; 64 * 1024]).unwrap();
    drop(file);
    foreign
        .trader("alice", &["rates"])
        .status(2)
        .stderr_has("is not an exchange (no exchange magic number");
    foreign
        .init(&["--status"])
        .status(2)
        .stderr_has("not an exchange");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![0xab; 64 * 1024],
        "the foreign object was changed"
    );
}

#[test]
fn bad_addresses_and_flags_are_usage_errors() {
    let run = common::Run::new(
        {
            let mut command = std::process::Command::new(common::TRADER);
            command.args(["--segment", "posix:no-slash", "rates"]);
            command
        },
        b"",
    );
    run.status(2);
    assert!(run.stderr().contains("use posix:/NAME"), "{}", run.stderr());
    let run = common::Run::new(
        {
            let mut command = std::process::Command::new(common::INIT);
            command.args(["--segment", "posix:/x", "--mode", "999"]);
            command
        },
        b"",
    );
    run.status(2);
    assert!(
        run.stderr().contains("not an octal mode"),
        "{}",
        run.stderr()
    );
}

#[test]
fn help_carries_examples() {
    for binary in [common::TRADER, common::INIT, common::LAB] {
        let run = common::Run::new(
            {
                let mut command = std::process::Command::new(binary);
                command.arg("--help");
                command
            },
            b"",
        );
        run.success().stdout_has("Examples:");
    }
}
