//! `trader watch` in a real terminal (a pty): the board shows the market,
//! follows trades made by other processes, fits 80x24 and fills 200x50,
//! and leaves on `q`, Ctrl-C, SIGTERM or SIGHUP with the terminal restored.

mod common;

use std::time::Duration;

use common::{Backend, Segment};
use rexpect::process::wait::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};

const TIMEOUT: Duration = Duration::from_secs(10);

fn board(segment: &Segment) -> PtySession {
    let mut command = segment.trader_command("viewer");
    command.arg("watch").env("TERM", "xterm");
    let mut session = spawn_with_options(
        command,
        Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the board in a pty");
    session
        .exp_string("LATEST ON THE TAPE")
        .expect("the board never drew");
    session
}

#[test]
fn the_board_follows_other_traders_and_quits_on_q() {
    the_board_follows_other_traders(Backend::Posix);
}

/// On Redis the board sleeps on pub/sub, and looks the same.
#[test]
fn the_board_follows_other_traders_on_redis() {
    the_board_follows_other_traders(Backend::Redis);
}

fn the_board_follows_other_traders(backend: Backend) {
    let segment = Segment::create(backend);
    let mut session = board(&segment);
    segment.trader("ann", &["buy", "POUND", "2.5"]).success();
    // The trade appears without any key press: the board was woken.
    session
        .exp_string("ann")
        .expect("the board missed ann's trade");
    session
        .exp_string("83.13")
        .expect("the board missed the total");
    segment.trader("bob", &["sell", "POUND", "1"]).status(1);
    segment.trader("ann", &["sell", "POUND", "1"]).success();
    session
        .exp_string("33.24")
        .expect("the board missed the sale");
    session.send("q").unwrap();
    session.flush().unwrap();
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
}

/// The owner's commands reach the board at once: a price moves the quote
/// (with its arrow) and is on the tape; a halt says HALTED in the title
/// until the resume.
#[test]
fn the_board_shows_the_owners_price_and_halt() {
    the_board_shows_price_and_halt(Backend::Posix);
}

/// On Redis the owner's commands wake the board through pub/sub.
#[test]
fn the_board_shows_the_owners_price_and_halt_on_redis() {
    the_board_shows_price_and_halt(Backend::Redis);
}

fn the_board_shows_price_and_halt(backend: Backend) {
    let segment = Segment::create(backend);
    let mut session = board(&segment);
    segment
        .trader("teacher", &["price", "DOLLAR", "14.10", "13.80"])
        .success();
    // (rexpect reads bytes one by one, so the arrow itself is not
    // matched, only the move beside it.)
    session
        .exp_string("0.38")
        .expect("the board missed the price move");
    session
        .exp_string("owner: #1 price DOLLAR sell 14.10 buy 13.80")
        .expect("the price is not on the board's owner's line");
    segment.trader("teacher", &["halt"]).success();
    session
        .exp_string("HALTED")
        .expect("the title does not say HALTED");
    session.send("q").unwrap();
    session.flush().unwrap();
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn ctrl_c_leaves_the_board() {
    let segment = Segment::create(Backend::Posix);
    let mut session = board(&segment);
    session.send_control('c').unwrap();
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn a_removed_exchange_ends_the_board() {
    a_removed_exchange_ends(Backend::Posix);
}

#[test]
fn a_removed_redis_market_ends_the_board() {
    a_removed_exchange_ends(Backend::Redis);
}

fn a_removed_exchange_ends(backend: Backend) {
    let segment = Segment::create(backend);
    let mut session = board(&segment);
    segment.init(&["--remove"]).success();
    session
        .exp_string("was removed or replaced")
        .expect("the board did not notice");
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 2)
    ));
}

#[test]
fn the_board_needs_a_terminal() {
    let segment = Segment::create(Backend::Posix);
    segment
        .trader("viewer", &["watch"])
        .status(2)
        .stderr_has("needs a terminal");
}

/// A board killed while it sleeps leaves its registration behind; the
/// traders forget it after a run of wake-ups that find nobody asleep, so
/// trading does not pay for a system call forever.
#[test]
fn a_killed_board_is_forgotten() {
    use std::os::unix::fs::FileExt;
    let segment = Segment::create(Backend::Posix);
    let session = board(&segment);
    let path = format!("/dev/shm{}", segment.address.trim_start_matches("posix:"));
    let offset = std::mem::offset_of!(shm_exchange::testing::Header, watchers) as u64;
    let watchers = || {
        let file = std::fs::File::open(&path).unwrap();
        let mut word = [0; 4];
        file.read_exact_at(&mut word, offset).unwrap();
        u32::from_ne_bytes(word)
    };
    common::wait_for("the board to sleep", TIMEOUT, || watchers() > 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(session.process.child_pid.as_raw()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    common::wait_pty_exit(&session);
    if watchers() == 0 {
        // The kill landed while the board was drawing, not asleep: leave
        // the registration it would have left.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&1_u32.to_ne_bytes(), offset).unwrap();
    }
    segment
        .script(
            "ann",
            &[],
            &"buy DOLLAR 0.01\nsell DOLLAR 0.01\n".repeat(600),
        )
        .success();
    assert_eq!(watchers(), 0);
}

/// A terminal of `width` x `height`, enough of one to replay what the
/// board draws: cursor moves, clears, text. Colour and mode sequences take
/// no room. It notes any character drawn past the right edge.
struct Screen {
    width: usize,
    rows: Vec<Vec<char>>,
    row: usize,
    column: usize,
    overflow: Vec<String>,
    /// The screen as it was when the board left the alternate screen.
    last_frame: Option<Vec<String>>,
}

impl Screen {
    fn replay(width: usize, height: usize, output: &str) -> Screen {
        let mut screen = Screen {
            width,
            rows: vec![vec![' '; width]; height],
            row: 0,
            column: 0,
            overflow: Vec::new(),
            last_frame: None,
        };
        let mut chars = output.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    let mut last = ' ';
                    for code in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&code) {
                            last = code;
                            break;
                        }
                        params.push(code);
                    }
                    screen.control(&params, last);
                }
                '\r' => screen.column = 0,
                '\n' => screen.row = (screen.row + 1).min(screen.rows.len() - 1),
                c if c >= ' ' => screen.put(c),
                _ => {}
            }
        }
        screen
    }

    fn put(&mut self, c: char) {
        if self.column >= self.width {
            self.overflow.push(self.text()[self.row].clone());
            return;
        }
        self.rows[self.row][self.column] = c;
        self.column += 1;
    }

    fn control(&mut self, params: &str, last: char) {
        let numbers: Vec<usize> = params.split(';').map(|n| n.parse().unwrap_or(1)).collect();
        match (last, params) {
            ('H', _) => {
                self.row = numbers[0].max(1) - 1;
                self.column = numbers.get(1).copied().unwrap_or(1).max(1) - 1;
            }
            ('K', "") => self.rows[self.row][self.column..].fill(' '),
            ('J', "") => {
                self.rows[self.row][self.column..].fill(' ');
                for row in &mut self.rows[self.row + 1..] {
                    row.fill(' ');
                }
            }
            ('J', "2") => self.rows.iter_mut().for_each(|row| row.fill(' ')),
            ('l', "?1049") => self.last_frame = Some(self.text()),
            _ => {}
        }
    }

    fn text(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|row| row.iter().collect::<String>().trim_end().to_owned())
            .collect()
    }
}

/// How many colour (SGR) sequences `output` holds.
fn colour_sequences(output: &str) -> usize {
    output
        .split("\x1b[")
        .skip(1)
        .filter(|sequence| {
            let end = sequence.find(|c: char| ('\x40'..='\x7e').contains(&c));
            end.is_some_and(|end| sequence[end..].starts_with('m'))
        })
        .count()
}

const SHOW_CURSOR: &str = "\x1b[?25h";
const LEAVE_ALTERNATE_SCREEN: &str = "\x1b[?1049l";

/// After the last frame, the cursor is shown and the alternate screen left.
#[track_caller]
fn assert_restored(output: &str) {
    let shown = output
        .rfind(SHOW_CURSOR)
        .unwrap_or_else(|| panic!("the cursor stays hidden: {output:?}"));
    assert!(
        output[shown..].contains(LEAVE_ALTERNATE_SCREEN),
        "still in the alternate screen: {output:?}"
    );
}

/// The board in a pty of `width` x `height`, output kept raw (escape
/// sequences and all).
fn raw_board(segment: &Segment, width: u16, height: u16, env: &[(&str, &str)]) -> PtySession {
    let trader = segment.trader_command("viewer");
    let mut command = std::process::Command::new("sh");
    // stty sets the pty's window size, then the shell becomes the board.
    command
        .arg("-c")
        .arg(format!(
            "stty cols {width} rows {height} && exec \"$0\" \"$@\""
        ))
        .arg(trader.get_program())
        .args(trader.get_args())
        .arg("watch")
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("SHM_EXCHANGE_CRASH_AT");
    for (key, value) in env {
        command.env(key, value);
    }
    spawn_with_options(
        command,
        Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: false,
        },
    )
    .expect("cannot start the board in a pty")
}

/// An exchange where three accounts made 60 trades.
fn busy_market(backend: Backend) -> Segment {
    let segment = Segment::create(backend);
    for name in ["ann", "bob", "a-very-long-account-name-of-31c"] {
        segment
            .script(name, &[], &"buy DOLLAR 1\nsell DOLLAR 0.5\n".repeat(10))
            .success();
    }
    segment
}

/// Draws a busy market at `width` x `height`, quits with `q`, and returns
/// the last frame and the raw output.
fn frame_at(
    backend: Backend,
    width: u16,
    height: u16,
    env: &[(&str, &str)],
) -> (Vec<String>, String) {
    let segment = busy_market(backend);
    let mut session = raw_board(&segment, width, height, env);
    let mut output = session
        .exp_string("LATEST ON THE TAPE")
        .expect("the board never drew");
    output.push_str("LATEST ON THE TAPE");
    // The frame is drawn whole before the key is read: the last frame
    // before leaving is a complete one.
    session.send("q").unwrap();
    session.flush().unwrap();
    output.push_str(&session.exp_eof().expect("the board did not end"));
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
    let screen = Screen::replay(usize::from(width), usize::from(height), &output);
    assert!(
        screen.overflow.is_empty(),
        "lines wider than {width}: {:#?}",
        screen.overflow
    );
    let frame = screen
        .last_frame
        .expect("the board never left the alternate screen");
    (frame, output)
}

#[track_caller]
fn assert_market_shows(frame: &[String], scheme: &str) {
    assert!(
        frame[0].starts_with(&format!("shm-exchange {scheme}")),
        "{frame:#?}"
    );
    for (currency, stock) in [
        ("DOLLAR", "9985.00"),
        ("EURO", "20000.00"),
        ("STERLIN", "10000.00"),
        ("POUND", "5000.00"),
    ] {
        assert!(
            frame
                .iter()
                .any(|line| line.starts_with(currency) && line.contains(stock)),
            "{currency} or its stock {stock} is missing: {frame:#?}"
        );
    }
    assert!(frame.iter().any(|line| line == "LEADERS"), "{frame:#?}");
    assert!(
        frame.iter().any(|line| line == "LATEST ON THE TAPE"),
        "{frame:#?}"
    );
}

#[test]
fn at_80x24_the_board_fits_and_fills_the_screen() {
    let (frame, output) = frame_at(Backend::Posix, 80, 24, &[]);
    assert_market_shows(&frame, "posix:/");
    assert!(
        frame.last().is_some_and(|line| !line.is_empty()),
        "the bottom row is unused: {frame:#?}"
    );
    assert!(colour_sequences(&output) > 0, "no colour on a terminal");
    assert_restored(&output);
}

/// The board looks the same on Redis: the same frame, fitted the same way.
#[test]
fn at_80x24_the_board_on_redis_looks_the_same() {
    let (frame, output) = frame_at(Backend::Redis, 80, 24, &[]);
    assert_market_shows(&frame, "redis://127.0.0.1:");
    assert!(
        frame.last().is_some_and(|line| !line.is_empty()),
        "the bottom row is unused: {frame:#?}"
    );
    assert_restored(&output);
}

#[test]
fn at_200x50_the_board_uses_the_room() {
    let (frame, _) = frame_at(Backend::Posix, 200, 50, &[]);
    assert_market_shows(&frame, "posix:/");
    let used = frame.iter().filter(|line| !line.is_empty()).count();
    assert!(used > 24, "only {used} rows used: {frame:#?}");
    assert!(
        frame
            .iter()
            .any(|line| line.contains("a-very-long-account-name-of-31c")),
        "names are cut on a wide board: {frame:#?}"
    );
}

#[test]
fn no_colour_under_no_color() {
    let (frame, output) = frame_at(Backend::Posix, 80, 24, &[("NO_COLOR", "1")]);
    assert_market_shows(&frame, "posix:/");
    assert_eq!(colour_sequences(&output), 0, "colour despite NO_COLOR");
}

/// SIGTERM and SIGHUP end the board cleanly, the terminal restored.
fn a_signal_restores_the_terminal(signal: nix::sys::signal::Signal) {
    let segment = Segment::create(Backend::Posix);
    let mut session = raw_board(&segment, 80, 24, &[]);
    session
        .exp_string("LATEST ON THE TAPE")
        .expect("the board never drew");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(session.process.child_pid.as_raw()),
        signal,
    )
    .unwrap();
    assert_restored(&session.exp_eof().expect("the board did not end"));
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn sigterm_restores_the_terminal() {
    a_signal_restores_the_terminal(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn sighup_restores_the_terminal() {
    a_signal_restores_the_terminal(nix::sys::signal::Signal::SIGHUP);
}

/// Starts `trader watch` in a tmux session through `sh -c LINE_PREFIX
/// COMMAND LINE_SUFFIX`, kills the session, and asserts the board is gone
/// within a second (killing it if not, so a failure leaves nothing
/// spinning).
fn board_ends_with_its_session(prefix: &str, suffix: &str) {
    let segment = Segment::create(Backend::Posix);
    let mut command = segment.trader_command("viewer");
    command.arg("watch");
    let line = format!("{prefix}{}{suffix}", common::tmux::shell_line(&command));
    let tmux = common::tmux::Tmux::start(80, 24, &line);
    tmux.wait_for("LATEST ON THE TAPE", TIMEOUT);
    let pid = tmux.pane_pid();
    tmux.kill_session();
    let killed = std::time::Instant::now();
    while !common::tmux::gone(pid) {
        if killed.elapsed() > Duration::from_secs(1) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the board (pid {pid}) outlived its terminal by a second");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A board whose terminal goes away (its tmux session killed, as closing
/// the projector's window does) is gone within a second, not left reading
/// end-of-file at full CPU.
#[test]
fn the_board_ends_with_its_terminal() {
    board_ends_with_its_session("exec ", "");
}

/// The same with stdin not the terminal (keys then come from /dev/tty)
/// and SIGHUP ignored by the shell that starts it.
#[test]
fn the_board_reading_dev_tty_ends_with_its_terminal() {
    board_ends_with_its_session("trap '' HUP; exec ", " < /dev/null");
}

/// A ticker that is killed when the test ends, however it ends.
struct Ticker(std::process::Child);

impl Drop for Ticker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The board in a real terminal (tmux) at `width` x `height`, with the
/// ticker running and students trading: the latest trades stay in view
/// however fast the prices move. Returns the last screen.
fn board_in_class(width: u16, height: u16) -> String {
    let segment = Segment::create(Backend::Posix);
    let mut command = segment.trader_command("viewer");
    command.arg("watch");
    let line = format!("exec {}", common::tmux::shell_line(&command));
    let tmux = common::tmux::Tmux::start(width, height, &line);
    tmux.wait_for("LATEST ON THE TAPE", TIMEOUT);
    let mut ticker = segment.trader_command("teacher");
    ticker
        .args(["ticker", "--every", "0.02", "--seed", "7"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _ticker = Ticker(ticker.spawn().expect("cannot start the ticker"));
    for round in 0..6 {
        segment
            .script(
                &format!("student{round}"),
                &[],
                "buy DOLLAR 1\nsell DOLLAR 0.5\nbuy EURO 2\n",
            )
            .success();
    }
    segment.trader("zoe", &["buy", "POUND", "1.25"]).success();
    // The last three trades, newest first, under the heading.
    let screen = tmux.wait_for("zoe", TIMEOUT);
    let section = screen
        .split("LATEST ON THE TAPE")
        .nth(1)
        .unwrap_or_else(|| panic!("no trades section:\n{screen}"));
    let rows: Vec<&str> = section.lines().skip(2).take(3).collect();
    assert!(
        rows[0].contains("zoe") && rows[0].contains("1.25"),
        "{screen}"
    );
    assert!(
        rows[1].contains("student5") && rows[1].contains("EURO"),
        "{screen}"
    );
    assert!(
        rows[2].contains("student5") && rows[2].contains("sell"),
        "{screen}"
    );
    assert!(screen.contains("trades 19, moves "), "{screen}");
    // Ticks go on: wait for more of them on the owner's line.
    tmux.wait_for("tick, 4 quotes moved", TIMEOUT)
}

#[test]
fn at_80x24_the_trades_stay_in_view_while_the_ticker_runs() {
    let screen = board_in_class(80, 24);
    assert!(!screen.contains('▁'), "sparklines at 80 columns:\n{screen}");
}

/// At 200x50 the board draws each currency's price since it started and
/// the leaders' net worth over time.
#[test]
fn at_200x50_the_board_draws_prices_and_net_worth_over_time() {
    let screen = board_in_class(200, 50);
    assert!(screen.contains("SELL SINCE THE BOARD STARTED"), "{screen}");
    assert!(screen.contains("NET WORTH OVER TIME"), "{screen}");
    let dollar = screen
        .lines()
        .find(|line| line.starts_with("DOLLAR"))
        .unwrap();
    let points = dollar.chars().filter(|c| ('▁'..='█').contains(c)).count();
    assert!(points >= 2, "no price history: {dollar:?}\n{screen}");
}
