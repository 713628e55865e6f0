//! A live classroom market (issue 10, the market side): the owner's
//! commands (price, halt, resume, reset, close) in one-shot and scripted
//! mode, refused to anyone else; accounts opened only when needed and
//! owned by the uid that opened them; readers that never take the lock
//! and never see half a trade (and answer while a writer is frozen
//! holding it: frozen_writer.rs, with the crash points); read-only attach
//! for users who may only read; and a `history` that tells the truth once
//! the tape has moved on.
//!
//! Tests with a second uid need root (CI runs as root); they are skipped
//! with a note otherwise.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use common::users::TestUser;
use common::{each_backend, each_segment, field, Backend, Run, Segment, TIMEOUT};
use shm_exchange::{Exchange, SegmentAddress};

/// Everything a reader can see of the market, for before-and-after
/// comparisons. Reading opens no account, so this changes nothing.
fn market(segment: &Segment) -> serde_json::Value {
    serde_json::json!({
        "rates": segment.json("reader", "rates")["currencies"],
        "traders": segment.json("reader", "traders")["traders"],
        "tape": segment.json("reader", "tape 256")["trades"],
        "status": segment.init(&["--status", "--json"]).success().parse_json()["halted"],
    })
}

/// The kinds of the tape's entries, oldest first.
fn tape_kinds(segment: &Segment) -> Vec<String> {
    segment.json("reader", "tape 256")["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// A segment another user can reach with `mode`: a file segment's
/// directory is opened up, so only the segment's own mode decides. A Redis
/// market has no mode: every login of its server reaches it.
fn shared_segment(backend: Backend, mode: &str) -> Segment {
    let segment = Segment::unique(backend);
    if let Some(dir) = segment.dir() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    if backend == Backend::Redis {
        segment.init(&[]).success();
    } else {
        segment.init(&["--mode", mode]).success();
    }
    segment
}

/// `trader --segment ... --name NAME ARGS...` run as `user`.
fn as_user(segment: &Segment, user: &TestUser, name: &str, args: &[&str]) -> Run {
    let mut command = segment.trader_command(name);
    user.apply(&mut command).args(args);
    Run::new(command, b"")
}

/// The owner (this test, its creator) sets a quote, halts, resumes,
/// closes an account and resets, one-shot and from a script; every one is
/// on the tape, and the market balances after each.
fn instructor_commands_steer_the_market(backend: Backend) {
    let segment = Segment::create(backend);
    segment.trader("ana", &["buy", "DOLLAR", "10"]).success();
    segment.trader("bob", &["buy", "EURO", "2"]).success();

    let price = segment.json("teacher", "price dollar 14.10 13.80");
    assert_eq!(price["ok"], true, "{price}");
    assert_eq!(price["currency"], "DOLLAR");
    let rates = segment.json("reader", "rates");
    assert_eq!(rates["currencies"][0]["sell"], "14.10", "{rates}");
    assert_eq!(rates["currencies"][0]["buy"], "13.80", "{rates}");
    // Trades and quotes use the live quote, read under the lock.
    let sold = segment.json("ana", "sell DOLLAR 1");
    assert_eq!(sold["price"], "13.80", "{sold}");
    assert_eq!(segment.json("ana", "quote buy DOLLAR 1")["total"], "14.10");
    // A crossed or non-positive quote is refused, and changes nothing.
    let rates = segment.json("reader", "rates");
    segment
        .trader("teacher", &["price", "DOLLAR", "13", "14"])
        .status(1)
        .stderr_has("crossed quote");
    segment
        .trader("teacher", &["price", "DOLLAR", "0", "0"])
        .status(1)
        .stderr_has("bad price");
    assert_eq!(segment.json("reader", "rates"), rates);

    segment.trader("teacher", &["halt"]).success();
    segment
        .trader("ana", &["buy", "DOLLAR", "1"])
        .status(1)
        .stderr_has("trading is halted");
    // Reads go on while halted.
    assert_eq!(segment.json("ana", "portfolio")["ok"], true);
    assert_eq!(
        segment.init(&["--status", "--json"]).parse_json()["halted"],
        true
    );
    segment.trader("teacher", &["resume"]).success();
    segment.trader("ana", &["buy", "DOLLAR", "1"]).success();

    // `traders` ranks by net worth: bob lost less on his spread.
    let ranking = segment.json("reader", "traders");
    let worths: Vec<&str> = ranking["traders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trader| field(trader, "net_worth"))
        .collect();
    let mut sorted = worths.clone();
    sorted.sort_by(|a, b| {
        b.parse::<f64>()
            .unwrap()
            .total_cmp(&a.parse::<f64>().unwrap())
    });
    assert_eq!(worths, sorted, "{ranking}");

    let close = segment.json("teacher", "close bob");
    assert_eq!(close["ok"], true, "{close}");
    assert_eq!(close["balance"], "961.00", "{close}");
    let rates = segment.json("reader", "rates");
    assert_eq!(rates["currencies"][1]["stock"], "20000.00", "{rates}");
    let traders = segment.json("reader", "traders");
    assert_eq!(traders["traders"].as_array().unwrap().len(), 1, "{traders}");
    segment.assert_consistent();
    segment
        .trader("teacher", &["close", "bob"])
        .status(1)
        .stderr_has("no open account named \"bob\"");
    // bob comes back to a fresh account; the tape still names the old one.
    assert_eq!(segment.json("bob", "portfolio")["balance"], "1000.00");
    let tape = segment.json("reader", "tape 256");
    let close_row = tape["trades"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kind"] == "close")
        .cloned()
        .unwrap();
    assert_eq!(close_row["account"], "bob", "{tape}");
    segment.assert_consistent();

    // The same commands in a script, one line each.
    let script = segment.script(
        "teacher",
        &["--json"],
        "price EURO 19.60 19.00\nhalt\nresume\nreset\n",
    );
    script.success();
    let replies = script.json_lines();
    let commands: Vec<&str> = replies
        .iter()
        .map(|reply| reply["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["price", "halt", "resume", "reset"]);
    // The reset: every account back to the start, stock and cash too, and
    // the tape holds only the reset.
    assert_eq!(tape_kinds(&segment), ["reset"]);
    let ana = segment.json("ana", "portfolio");
    assert_eq!(ana["balance"], "1000.00", "{ana}");
    assert_eq!(ana["holdings"]["DOLLAR"], "0.00", "{ana}");
    let rates = segment.json("reader", "rates");
    assert_eq!(rates["currencies"][0]["stock"], "10000.00", "{rates}");
    // Quotes are not part of what a reset restores.
    assert_eq!(rates["currencies"][1]["sell"], "19.60", "{rates}");
    let audit = segment.json("auditor", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    assert_eq!(audit["money"]["cash"], "1000000.00", "{audit}");
    assert_eq!(audit["money"]["accounts"], 2, "{audit}");
    assert_eq!(
        segment.json("ana", "history")["count"],
        0,
        "a reset clears the history too"
    );
}

/// Anyone but the owner (and root) gets exit 1 and changes nothing, even
/// with write access to the segment.
fn only_the_owner_steers(backend: Backend) {
    let Some(student) = TestUser::create("st") else {
        return;
    };
    let segment = shared_segment(backend, "0666");
    as_user(&segment, &student, &student.name, &["buy", "EURO", "1"]).success();
    segment.trader("ana", &["buy", "DOLLAR", "1"]).success();
    let before = market(&segment);
    for command in [
        &["price", "DOLLAR", "20", "1"][..],
        &["halt"],
        &["resume"],
        &["reset"],
        &["close", "ana"],
    ] {
        as_user(&segment, &student, &student.name, command)
            .status(1)
            .stderr_has("only the owner of this exchange");
        let json = {
            let mut args = vec!["--json"];
            args.extend_from_slice(command);
            as_user(&segment, &student, &student.name, &args)
                .status(1)
                .parse_json()
        };
        assert_eq!(json["ok"], false, "{json}");
        assert_eq!(market(&segment), before, "{command:?} changed the market");
    }
}

/// An account belongs to the uid that opened it: another uid may read it
/// but not trade on it; the exchange's owner (root here) may.
fn accounts_belong_to_the_uid_that_opened_them(backend: Backend) {
    let (Some(ana), Some(bob)) = (TestUser::create("an"), TestUser::create("bo")) else {
        return;
    };
    let segment = shared_segment(backend, "0666");
    as_user(&segment, &ana, "ana", &["buy", "DOLLAR", "1"]).success();
    let before = market(&segment);
    as_user(&segment, &bob, "ana", &["buy", "DOLLAR", "1"])
        .status(1)
        .stderr_has("the account ana belongs to another user");
    as_user(&segment, &bob, "ana", &["sell", "DOLLAR", "1"])
        .status(1)
        .stderr_has("belongs to another user");
    assert_eq!(
        market(&segment),
        before,
        "a refused trade changed the market"
    );
    // Reading it is fine.
    let portfolio = as_user(&segment, &bob, "ana", &["--json", "portfolio"])
        .success()
        .parse_json();
    assert_eq!(portfolio["holdings"]["DOLLAR"], "1.00", "{portfolio}");
    // Its owner, and the exchange's owner, trade on it.
    as_user(&segment, &ana, "ana", &["sell", "DOLLAR", "1"]).success();
    segment.trader("ana", &["buy", "DOLLAR", "1"]).success();
    segment.assert_consistent();
}

/// With `--mode 0644` another user attaches read-only (SHM_RDONLY, or
/// O_RDONLY and PROT_READ): every read command answers, the board draws,
/// and a trade gets a clear error and exit 2, changing nothing.
fn readers_need_only_read_permission(backend: Backend) {
    let Some(viewer) = TestUser::create("vw") else {
        return;
    };
    let segment = shared_segment(backend, "0644");
    segment.trader("ana", &["buy", "POUND", "2"]).success();
    let before = market(&segment);
    for read in [
        "rates",
        "quote sell POUND 1",
        "traders",
        "tape",
        "audit",
        "help",
    ] {
        let mut args = vec!["--json"];
        args.extend(read.split_whitespace());
        let reply = as_user(&segment, &viewer, &viewer.name, &args)
            .success()
            .parse_json();
        assert_eq!(reply["ok"], true, "{backend:?} {read}: {reply}");
    }
    // An existing account reads too, its own or another's.
    let ana = as_user(&segment, &viewer, "ana", &["--json", "portfolio"])
        .success()
        .parse_json();
    assert_eq!(ana["holdings"]["POUND"], "2.00", "{ana}");
    as_user(&segment, &viewer, "ana", &["history"])
        .success()
        .stdout_has("POUND");
    as_user(&segment, &viewer, &viewer.name, &["buy", "EURO", "1"])
        .status(2)
        .stderr_has("is read-only for you; ask its owner for write access");
    // A read opens no account: the viewer's own, not open, reads as such.
    let own = as_user(&segment, &viewer, &viewer.name, &["--json", "portfolio"])
        .success()
        .parse_json();
    assert_eq!(own["open"], false, "{own}");
    assert_eq!(
        market(&segment),
        before,
        "a read-only user changed the market"
    );

    // One such refusal does not end a script or a REPL: the next command
    // is answered. A REPL left with `quit` exits 0.
    let mut command = segment.trader_command(&viewer.name);
    viewer.apply(&mut command);
    Run::new(command, b"rates\nbuy EURO 1\nquote sell EURO 2\n")
        .status(2)
        .stderr_has("is read-only for you")
        .stdout_has("selling 2.00 EURO");
    let home = tempfile::Builder::new()
        .prefix("shmx-classroom-")
        .tempdir()
        .unwrap();
    std::os::unix::fs::chown(home.path(), Some(viewer.uid), Some(viewer.gid)).unwrap();
    let mut command = segment.trader_command(&viewer.name);
    viewer
        .apply(&mut command)
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut repl = rexpect::session::spawn_with_options(
        command,
        rexpect::reader::Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the REPL in a pty");
    repl.exp_string("> ").expect("no prompt");
    repl.send_line("buy EURO 1").unwrap();
    repl.exp_string("is read-only for you")
        .expect("the refusal was not shown");
    repl.send_line("quote sell EURO 2").unwrap();
    repl.exp_string("selling 2.00 EURO")
        .expect("the REPL ended after a refusal");
    repl.send_line("quit").unwrap();
    assert!(
        matches!(
            common::wait_pty_exit(&repl),
            rexpect::process::wait::WaitStatus::Exited(_, 0)
        ),
        "a REPL left with quit after a refusal did not exit 0"
    );

    // The board, in a terminal, as the same user.
    let mut command = segment.trader_command(&viewer.name);
    viewer.apply(&mut command).arg("watch").env("TERM", "xterm");
    let mut board = rexpect::session::spawn_with_options(
        command,
        rexpect::reader::Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the board in a pty");
    board
        .exp_string("POUND")
        .expect("the read-only board never drew");
    board.send("q").unwrap();
    board.flush().unwrap();
    common::wait_pty_exit(&board);
}

each_backend!(
    instructor_commands_steer_the_market,
    only_the_owner_steers,
    accounts_belong_to_the_uid_that_opened_them,
    the_owner_steers_from_the_repl,
    history_tells_the_truth_once_the_tape_moved_on,
    a_closed_accounts_session_starts_afresh,
);
/// Read-only attach is a segment's: a Redis server decides what a login may
/// do itself.
mod read_only {
    use super::*;
    each_segment!(readers_need_only_read_permission);
}

/// The owner's console: the same commands in the interactive REPL, in a
/// terminal, with a student trading beside it.
fn the_owner_steers_from_the_repl(backend: Backend) {
    let segment = Segment::create(backend);
    let home = tempfile::Builder::new()
        .prefix("shmx-classroom-")
        .tempdir()
        .unwrap();
    let mut command = segment.trader_command("teacher");
    command
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut console = rexpect::session::spawn_with_options(
        command,
        rexpect::reader::Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the REPL in a pty");
    console.exp_string("teacher> ").unwrap();
    console.send_line("halt").unwrap();
    console.exp_string("trading halted").unwrap();
    segment
        .trader("ana", &["buy", "EURO", "1"])
        .status(1)
        .stderr_has("trading is halted");
    console.send_line("resume").unwrap();
    console.exp_string("trading resumed").unwrap();
    segment.trader("ana", &["buy", "EURO", "1"]).success();
    console.send_line("price EURO 20 19").unwrap();
    console
        .exp_string("EURO now sells at 20.00 and buys at 19.00")
        .unwrap();
    console.send_line("tape").unwrap();
    console.exp_string("20.00/19.00").unwrap();
    console.send_line("quit").unwrap();
    common::wait_pty_exit(&console);
    assert_eq!(tape_kinds(&segment), ["halt", "resume", "trade", "price"]);
}

/// Once more than a tape's worth of trades went by, `history` says how
/// many the account made and the last one's number, never "no trades yet".
fn history_tells_the_truth_once_the_tape_moved_on(backend: Backend) {
    let segment = Segment::create(backend);
    segment
        .script("ana", &[], "buy DOLLAR 1\nsell DOLLAR 0.5\n")
        .success();
    let flood = "buy EURO 0.01\nsell EURO 0.01\n".repeat(130);
    segment.script("bob", &[], &flood).success();
    segment
        .trader("ana", &["history"])
        .success()
        .stdout_has("2 trades, the last #2; the tape keeps only the last 256 entries");
    let history = segment.json("ana", "history");
    assert_eq!(history["count"], 2, "{history}");
    assert_eq!(history["last_trade"], 2, "{history}");
    assert_eq!(history["trades"], serde_json::json!([]), "{history}");
    // A fresh account has truly no trades yet.
    segment
        .trader("carl", &["history"])
        .success()
        .stdout_has("no trades yet");
}

/// A session whose account the owner closes is told so once, then opens
/// the account afresh.
fn a_closed_accounts_session_starts_afresh(backend: Backend) {
    let segment = Segment::create(backend);
    let mut ana = common::Attached::start(&segment, "ana", &["--json"]);
    assert_eq!(ana.ask_json("buy DOLLAR 10")["ok"], true);
    segment.trader("teacher", &["close", "ana"]).success();
    let refused = ana.ask_json("buy DOLLAR 1");
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        field(&refused, "error").contains("closed by the exchange's owner"),
        "{refused}"
    );
    let fresh = ana.ask_json("portfolio");
    assert_eq!(fresh["balance"], "1000.00", "{fresh}");
    assert_eq!(fresh["holdings"]["DOLLAR"], "0.00", "{fresh}");
    segment.assert_consistent();
}

/// The property: while traders trade in other processes, every snapshot
/// a reader takes balances: no half-applied trade is ever seen, and the
/// reader never takes the lock.
#[test]
fn a_reader_never_sees_a_half_applied_trade() {
    let segment = Segment::create(Backend::Posix);
    let mut command = segment.lab_command();
    command.args(["--json", "stress", "--procs", "2", "--trades", "100000"]);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let stress = command.spawn().unwrap();
    let address: SegmentAddress = segment.address.parse().unwrap();
    let exchange = Exchange::attach(&address).unwrap();
    let started = Instant::now();
    let mut snapshots = 0;
    let mut seen_trades = std::collections::BTreeSet::new();
    let mut stress = Some(stress);
    while let Some(child) = stress.as_mut() {
        let audit = exchange.audit().unwrap();
        assert!(audit.consistent, "a reader saw half a trade: {audit:?}");
        let traders = exchange.traders().unwrap();
        let worths: Vec<_> = traders.iter().map(|trader| trader.net_worth).collect();
        assert!(
            worths.windows(2).all(|pair| pair[0] >= pair[1]),
            "{worths:?}"
        );
        seen_trades.insert(exchange.status().unwrap().trades);
        snapshots += 1;
        if child.try_wait().unwrap().is_some() {
            let output = common::finish(stress.take().unwrap(), b"", TIMEOUT, "stress");
            assert!(output.status.success(), "{output:?}");
        }
        assert!(started.elapsed() < TIMEOUT, "the stress run never ended");
    }
    eprintln!(
        "{snapshots} consistent snapshots at {} different points",
        seen_trades.len()
    );
    assert!(
        seen_trades.len() > 10,
        "the reader never read during the trading"
    );
}
