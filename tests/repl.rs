//! The REPL in a real terminal (a pty, driven with rexpect): tab
//! completion, usage hints, history (up-arrow, and across a restart),
//! Ctrl-C and Ctrl-D, colour, and two REPLs trading on one exchange.
//!
//! Each test has its own exchange and its own HOME and XDG_STATE_HOME, so
//! history never touches the real home, and every wait is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Backend, Segment};
use rexpect::process::wait::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};

/// The longest any one expected output may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the up-arrow key sends.
const UP: &str = "\x1b[A";
/// What the right-arrow key sends.
const RIGHT: &str = "\x1b[C";
/// What the left-arrow key sends.
const LEFT: &str = "\x1b[D";
/// What a terminal sends around pasted text in bracketed-paste mode.
const PASTE_START: &str = "\x1b[200~";
const PASTE_END: &str = "\x1b[201~";

/// A HOME of the test's own, with XDG_STATE_HOME inside it; removed on
/// drop, even when the test panics.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Home {
        Home(
            tempfile::Builder::new()
                .prefix("shmx-repl-")
                .tempdir()
                .unwrap(),
        )
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    fn history(&self) -> PathBuf {
        self.state().join("shm-exchange").join("history")
    }
}

/// `trader --segment SEG --name NAME ARGS...` in a pty, with HOME and
/// XDG_STATE_HOME set to `home`, a terminal type that rustyline supports,
/// and NO_COLOR as given.
fn spawn(
    segment: &Segment,
    name: &str,
    home: &Home,
    args: &[&str],
    no_color: bool,
    strip_escapes: bool,
) -> PtySession {
    let mut command = segment.trader_command(name);
    command
        .args(args)
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.state())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    if no_color {
        command.env("NO_COLOR", "1");
    }
    spawn_with_options(
        command,
        Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: strip_escapes,
        },
    )
    .expect("cannot start the trader in a pty")
}

/// An interactive trader. The terminal's escape codes are stripped from
/// what it shows unless the test asks for colour.
struct Repl {
    name: String,
    session: PtySession,
}

impl Repl {
    /// Starts a REPL with NO_COLOR set and waits for its first prompt.
    fn start(segment: &Segment, name: &str, home: &Home) -> Repl {
        Repl::launch(segment, name, home, true)
    }

    fn launch(segment: &Segment, name: &str, home: &Home, no_color: bool) -> Repl {
        let session = spawn(segment, name, home, &[], no_color, no_color);
        let mut repl = Repl {
            name: name.to_owned(),
            session,
        };
        repl.expect("trading as");
        repl.prompt();
        repl
    }

    /// Waits for `text`; returns what came before it.
    #[track_caller]
    fn expect(&mut self, text: &str) -> String {
        self.session
            .exp_string(text)
            .unwrap_or_else(|error| panic!("{}: waiting for {text:?}: {error}", self.name))
    }

    /// Waits for `pattern`, a regular expression.
    #[track_caller]
    fn expect_regex(&mut self, pattern: &str) {
        self.session
            .exp_regex(pattern)
            .unwrap_or_else(|error| panic!("{}: waiting for {pattern:?}: {error}", self.name));
    }

    /// Waits for a new prompt: one at the start of a line, not one of the
    /// redraws of the line being edited (each starts with a bare `\r`).
    /// Keys sent before it may be lost: like a shell, the REPL drops what
    /// was typed ahead of a Ctrl-C.
    #[track_caller]
    fn prompt(&mut self) {
        let prompt = format!(r"\n(?:\r|\x1b\[[0-9;?]*[A-Za-z])*{}> ", self.name);
        self.session
            .exp_regex(&prompt)
            .unwrap_or_else(|error| panic!("{}: waiting for a prompt: {error}", self.name));
    }

    /// Sends keys as typed.
    fn keys(&mut self, keys: &str) {
        self.session.send(keys).unwrap();
        self.session.flush().unwrap();
    }

    /// Types `keys` and Enter, waits for `answer` and then for the next
    /// prompt.
    #[track_caller]
    fn enter(&mut self, keys: &str, answer: &str) {
        self.keys(keys);
        self.keys("\r");
        self.expect(answer);
        self.prompt();
    }

    /// Ctrl-D on an empty line: the REPL must exit with status 0.
    #[track_caller]
    fn quit_with_ctrl_d(mut self) {
        self.session.send_control('d').unwrap();
        self.session
            .exp_eof()
            .unwrap_or_else(|error| panic!("{}: no exit after Ctrl-D: {error}", self.name));
        match common::wait_pty_exit(&self.session) {
            WaitStatus::Exited(_, 0) => {}
            status => panic!("{}: Ctrl-D ended with {status:?}", self.name),
        }
    }
}

#[test]
fn tab_completes_commands_sub_arguments_and_currencies() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    // `rat` alone is a typo ("did you mean"); only a completed `rates`
    // prints the table with its spread.
    repl.enter("rat\t", "SPREAD %");
    // `quote b<TAB>` gives `quote buy `, then `d<TAB>` gives `DOLLAR `.
    repl.enter(
        "quote b\td\t3",
        "buying 3.00 DOLLAR at 13.72 would cost 41.16",
    );
    // Case does not matter, and help topics complete to commands.
    repl.enter("HELP PO\t", "example:  portfolio");
    repl.quit_with_ctrl_d();
}

#[test]
fn hints_show_the_usage_and_accepting_one_finishes_the_word() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    repl.keys("buy ");
    repl.expect("buy CUR AMOUNT");
    repl.session.send_control('c').unwrap();
    repl.prompt();
    // The hint after `quote s` is `ell CUR AMOUNT`; the right arrow takes
    // only `ell`, never the placeholders.
    repl.keys("quote s");
    repl.expect("quote sell CUR AMOUNT");
    repl.enter(
        &format!("{RIGHT} EURO 2"),
        "selling 2.00 EURO at 18.92 would pay 37.84",
    );
    repl.quit_with_ctrl_d();
}

#[test]
fn up_arrow_recalls_the_last_command_even_after_a_restart() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    repl.enter(
        "buy DOLLAR 1",
        "bought 1.00 DOLLAR at 13.72 for 13.72; balance 986.28",
    );
    repl.enter(UP, "bought 1.00 DOLLAR at 13.72 for 13.72; balance 972.56");
    repl.keys("quit\r");
    repl.session.exp_eof().unwrap();
    assert!(
        matches!(
            common::wait_pty_exit(&repl.session),
            WaitStatus::Exited(_, 0)
        ),
        "quit did not exit 0"
    );
    let history = std::fs::read_to_string(home.history()).expect("no history file");
    assert!(history.contains("buy DOLLAR 1"), "{history}");

    // A new REPL finds the history, most recent first.
    let mut repl = Repl::start(&segment, "alice", &home);
    repl.keys(UP);
    repl.expect("quit");
    repl.enter(UP, "bought 1.00 DOLLAR at 13.72 for 13.72; balance 958.84");
    repl.quit_with_ctrl_d();
}

#[test]
fn ctrl_c_cancels_the_line_and_the_repl_goes_on() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    repl.keys("buy DOLLAR 5");
    repl.session.send_control('c').unwrap();
    // Like a shell: the cancelled text stays, marked `^C`. (The editor
    // puts its cursor back with a carriage return and a move right; the
    // move is an escape code, stripped here, the `\r` is not.)
    repl.expect_regex(r"buy DOLLAR 5\r?\^C");
    repl.prompt();
    // In the middle of the line too, the mark goes after the text.
    repl.keys(&format!("rates{LEFT}{LEFT}"));
    repl.session.send_control('c').unwrap();
    repl.expect_regex(r"rates\r?\^C");
    repl.prompt();
    // Ctrl-C on an empty line does nothing either.
    repl.session.send_control('c').unwrap();
    repl.prompt();
    assert_eq!(
        repl.session.process.status(),
        Some(WaitStatus::StillAlive),
        "Ctrl-C ended the REPL"
    );
    // The cancelled line was neither run nor left behind.
    repl.enter("history", "no trades yet");
    repl.quit_with_ctrl_d();
}

#[test]
fn two_repls_on_one_exchange_see_each_others_trades() {
    two_repls_trade_together(Backend::Posix);
}

#[test]
fn two_repls_on_one_redis_market_see_each_others_trades() {
    two_repls_trade_together(Backend::Redis);
}

fn two_repls_trade_together(backend: Backend) {
    let segment = Segment::create(backend);
    let (alice_home, bob_home) = (Home::new(), Home::new());
    let mut alice = Repl::start(&segment, "alice", &alice_home);
    let mut bob = Repl::start(&segment, "bob", &bob_home);
    alice.enter("buy DOLLAR 10", "bought 10.00 DOLLAR");
    bob.enter("rates", "9990.00");
    bob.enter("buy EURO 3", "bought 3.00 EURO");
    alice.enter("rates", "19997.00");
    alice.enter("tape", "bob");
    alice.quit_with_ctrl_d();
    bob.quit_with_ctrl_d();
}

#[test]
fn colour_on_a_terminal_unless_no_color_and_never_in_a_pipe() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    // The REPL on a terminal: a bold header, and a red loss.
    let mut repl = Repl::launch(&segment, "alice", &home, false);
    repl.enter("rates", "\x1b[1mCURRENCY\x1b[0m");
    repl.enter("buy POUND 1", "bought");
    repl.enter("portfolio", "\x1b[31m0.01\x1b[0m");
    repl.quit_with_ctrl_d();

    // One command on a terminal: coloured, unless NO_COLOR is set.
    let mut one_shot = spawn(&segment, "alice", &home, &["rates"], false, false);
    let shown = one_shot.exp_eof().unwrap();
    assert!(shown.contains("\x1b[1mSELL\x1b[0m"), "{shown:?}");
    let mut one_shot = spawn(&segment, "alice", &home, &["rates"], true, false);
    let shown = one_shot.exp_eof().unwrap();
    assert!(shown.contains("SPREAD"), "{shown:?}");
    assert!(
        !shown.contains('\x1b'),
        "colour despite NO_COLOR: {shown:?}"
    );

    // Into a pipe: no colour even without NO_COLOR.
    let mut command = segment.trader_command("alice");
    command.arg("rates").env_remove("NO_COLOR");
    let run = common::Run::new(command, b"");
    run.success().stdout_has("SPREAD");
    assert!(!run.stdout().contains('\x1b'), "{:?}", run.stdout());
}

/// A refused command is shown and the REPL goes on; leaving it with
/// Ctrl-D afterwards exits 0 (the refusal was seen when it happened).
#[test]
fn a_refusal_never_ends_the_repl_and_leaving_exits_0() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    repl.enter("sell EURO 5", "you hold only 0.00 EURO");
    repl.enter("biy EURO 1", "did you mean \"buy\"");
    repl.enter("buy 10 DOLLAR", "did you mean `buy DOLLAR 10`?");
    repl.enter(
        "quote sell EURO 2",
        "selling 2.00 EURO at 18.92 would pay 37.84",
    );
    repl.quit_with_ctrl_d();
}

#[test]
fn lines_typed_ahead_are_each_answered_in_order() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    // Three lines at once, before the first answer: none may be lost.
    repl.keys("quote buy DOLLAR 1\rquote buy DOLLAR 2\rquote buy DOLLAR 3\r");
    repl.expect("buying 1.00 DOLLAR at 13.72 would cost 13.72");
    repl.expect("buying 2.00 DOLLAR at 13.72 would cost 27.44");
    repl.expect("buying 3.00 DOLLAR at 13.72 would cost 41.16");
    repl.prompt();
    repl.enter("history", "no trades yet");
    repl.quit_with_ctrl_d();
}

#[test]
fn a_pasted_block_of_lines_runs_as_that_many_commands() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut repl = Repl::start(&segment, "alice", &home);
    // At once: no Enter after the paste, and what was typed before it is
    // the start of its first line.
    repl.keys(&format!(
        "quote {PASTE_START}buy EURO 1\nbuy EURO 2\nquote sell EURO 1{PASTE_END}"
    ));
    repl.expect("buying 1.00 EURO at 19.50 would cost 19.50");
    repl.expect("bought 2.00 EURO at 19.50 for 39.00");
    repl.expect("selling 1.00 EURO at 18.92 would pay 18.92");
    repl.prompt();
    // Each pasted line is its own history entry.
    repl.enter(UP, "selling 1.00 EURO at 18.92 would pay 18.92");
    // A paste without a newline goes into the line being typed.
    repl.keys(&format!("quote {PASTE_START}sell EURO{PASTE_END} 3\r"));
    repl.expect("selling 3.00 EURO at 18.92 would pay 56.76");
    repl.prompt();
    repl.quit_with_ctrl_d();
}

/// In a real terminal (tmux, which pastes with the bracketed-paste
/// markers when the program asks for them): a pasted block runs at once,
/// and a 200 KB line in it costs seconds, not minutes: it is refused as
/// too long and the next pasted command is answered.
#[test]
fn a_200_kb_paste_in_tmux_runs_at_once() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let mut command = segment.trader_command("alice");
    command
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.state())
        .env("NO_COLOR", "1");
    let line = format!("exec {}", common::tmux::shell_line(&command));
    let tmux = common::tmux::Tmux::start(80, 24, &line);
    let screen = tmux.wait_for("alice>", TIMEOUT);
    // At 80 columns the banner breaks between its halves, not mid-phrase.
    assert!(
        screen
            .lines()
            .any(|line| line == "`help` lists the commands, Tab completes, Ctrl-D leaves"),
        "{screen}"
    );
    let block = format!(
        "buy EURO 1\n{}\nquote sell EURO 2\n",
        "x".repeat(200 * 1024)
    );
    let file = common::temp_file(".txt", &block);
    let loaded = tmux
        .command(&["load-buffer", file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(loaded.success());
    let started = std::time::Instant::now();
    let pasted = tmux
        .command(&["paste-buffer", "-p", "-t", "main"])
        .status()
        .unwrap();
    assert!(pasted.success());
    let screen = tmux.wait_for("selling 2.00 EURO", Duration::from_secs(120));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "the paste took {took:?}:\n{screen}"
    );
    // The first command ran (its answer may have scrolled away under the
    // long line's echo, so ask the market).
    let bought = segment.json("alice", "portfolio");
    assert_eq!(bought["holdings"]["EURO"], "1.00", "{bought}\n{screen}");
    assert!(screen.contains("longer than 4096 bytes"), "{screen}");
    assert!(screen.contains("alice> quote sell EURO 2"), "{screen}");
}

#[test]
fn a_repl_piped_into_tee_writes_no_escape_sequences() {
    let segment = Segment::create(Backend::Posix);
    let home = Home::new();
    let log = home.path().join("log");
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("\"$0\" \"$@\" | tee \"$TRADER_LOG\"")
        .arg(common::TRADER)
        .args(["--segment", &segment.address, "--name", "alice"])
        .env("TRADER_LOG", &log)
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.state())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("SHM_EXCHANGE_CRASH_AT");
    let session = spawn_with_options(
        command,
        Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the trader in a pty");
    let mut repl = Repl {
        name: "alice".to_owned(),
        session,
    };
    // The prompt is drawn on the terminal and the banner and answers come
    // through tee, so they may arrive in either order: wait for answers
    // only (lines typed ahead are kept, so nothing waits for a prompt).
    repl.expect("trading as");
    repl.keys("rates\r");
    repl.expect("POUND      33.25");
    repl.keys("buy DOLL\t1\r");
    repl.expect("bought 1.00 DOLLAR");
    repl.keys("quit\r");
    repl.session
        .exp_eof()
        .unwrap_or_else(|error| panic!("no exit after quit: {error}"));
    assert!(matches!(
        common::wait_pty_exit(&repl.session),
        WaitStatus::Exited(_, 0)
    ));
    let logged = std::fs::read_to_string(&log).expect("no log");
    assert!(logged.contains("SPREAD %"), "{logged:?}");
    assert!(logged.contains("bought 1.00 DOLLAR"), "{logged:?}");
    assert!(
        !logged.contains('\x1b'),
        "escape sequences in the log: {logged:?}"
    );
}
