//! `trader watch`: a full-terminal live board of rates, stock, cash and the
//! latest trades.
//!
//! It never polls the market: it sleeps on a futex on the segment's change
//! counter, which every trader wakes after a change while someone watches
//! (on Redis, on the pub/sub channel every commit publishes to).
//! Each frame is the library's [`board`] text, copied under the lock (held
//! for the copy only) and drawn after the lock is released. A second thread reads keys; `q`, Esc or Ctrl-C
//! set a flag and wake the sleeper.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use crossterm::{cursor, execute, queue, terminal};

use shm_exchange::board::board;
use shm_exchange::{Error, ExitStatus, Result, Store};

/// Longest sleep between frames when nothing changes, to keep the clock
/// of the board honest if a wake-up were ever missed.
const IDLE_REDRAW: Duration = Duration::from_secs(1);

/// Puts the terminal back however the board ends, panics included.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        // A SIGBUS from a shrunk segment exits at once: let it restore
        // the terminal too.
        shm_exchange::remember_terminal(libc::STDIN_FILENO, true);
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
        shm_exchange::forget_terminal();
    }
}

fn terminal_error(error: io::Error) -> Error {
    Error::Os {
        address: "the terminal".into(),
        what: "drawing the board",
        source: error,
    }
}

/// Draws the board until `q`, Esc or Ctrl-C. Returns the exit status.
pub fn run_watch(exchange: &Store, trades_shown: usize) -> Result<ExitStatus> {
    if !io::stdout().is_terminal() {
        return Err(Error::Os {
            address: "stdout".into(),
            what: "watch",
            source: io::Error::other(
                "the board needs a terminal; use `trader tape` or `trader rates` in scripts",
            ),
        });
    }
    let quit = AtomicBool::new(false);
    let guard = TerminalGuard::enter().map_err(terminal_error)?;
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| read_keys(exchange, &quit));
        let outcome = draw_until_quit(exchange, trades_shown, &quit);
        quit.store(true, Ordering::Release);
        outcome
    });
    drop(guard);
    outcome
}

fn read_keys(exchange: &Store, quit: &AtomicBool) {
    while !quit.load(Ordering::Acquire) {
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => match event::read() {
                Ok(Event::Key(KeyEvent {
                    code: KeyCode::Char('q') | KeyCode::Esc,
                    ..
                })) => quit.store(true, Ordering::Release),
                Ok(Event::Key(KeyEvent {
                    code: KeyCode::Char('c'),
                    modifiers,
                    ..
                })) if modifiers.contains(KeyModifiers::CONTROL) => {
                    quit.store(true, Ordering::Release)
                }
                Ok(Event::Resize(..)) => {}
                Ok(_) => continue,
                Err(_) => quit.store(true, Ordering::Release),
            },
            Ok(false) => continue,
            Err(_) => quit.store(true, Ordering::Release),
        }
        // Wake the drawing thread: to leave, or to redraw after a resize.
        exchange.wake_watchers();
    }
}

fn draw_until_quit(exchange: &Store, trades_shown: usize, quit: &AtomicBool) -> Result<ExitStatus> {
    let mut stdout = io::stdout();
    while !quit.load(Ordering::Acquire) {
        // Read the counter before the copy: a change made while drawing
        // makes the wait below return at once.
        let seen = exchange.change_seq();
        let board = board(exchange, trades_shown)?;
        queue!(
            stdout,
            cursor::MoveTo(0, 0),
            terminal::Clear(terminal::ClearType::All)
        )
        .map_err(terminal_error)?;
        for line in board.lines() {
            write!(stdout, "{line}\r\n").map_err(terminal_error)?;
        }
        stdout.flush().map_err(terminal_error)?;
        exchange.wait_for_change(seen, IDLE_REDRAW);
    }
    Ok(ExitStatus::Success)
}
