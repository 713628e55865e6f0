//! `trader watch`: a full-terminal live board of the rates, the stock, the
//! leaders and the latest tape entries, fitted to the terminal's size.
//!
//! It never polls the market: it sleeps on a futex on the segment's change
//! counter, which every trader wakes after a change while someone watches
//! (on Redis, on the pub/sub channel every commit publishes to).
//! Each frame is the library's [`Board`] text for the terminal's size, drawn
//! row by row with no newline after the last row, so nothing scrolls the
//! title away. A second thread reads keys; `q`, Esc or Ctrl-C set a flag
//! and wake the sleeper, and so do SIGINT, SIGTERM and SIGHUP (see
//! [`crate::stop`]) and a terminal that goes away (end of input, an I/O
//! error or a hang-up on it). However it ends, the terminal is restored.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::{cursor, execute, queue, terminal};

use shm_exchange::board::{Board, Size};
use shm_exchange::render::wants_colour;
use shm_exchange::{Error, ExitStatus, Market, Result};

use crate::stop::until_signalled;

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

/// Draws the board until `q`, Esc, Ctrl-C or a stop signal, showing at
/// most `trades_shown` trades. Returns the exit status.
pub fn run_watch(exchange: &dyn Market, trades_shown: usize) -> Result<ExitStatus> {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return Err(Error::Os {
            address: "stdout".into(),
            what: "watch",
            source: io::Error::other(
                "the board needs a terminal; use `trader tape` or `trader rates` in scripts",
            ),
        });
    }
    let colour = wants_colour(
        true,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    );
    let quit = AtomicBool::new(false);
    let guard = TerminalGuard::enter().map_err(terminal_error)?;
    let wake = || exchange.wake_watchers();
    let outcome = until_signalled(&wake, |signalled| {
        let stop = || signalled.load(Ordering::Acquire) || quit.load(Ordering::Acquire);
        std::thread::scope(|scope| {
            scope.spawn(|| read_keys(exchange, &quit, &stop));
            let outcome = draw_until_stopped(exchange, trades_shown, colour, &stop);
            quit.store(true, Ordering::Release);
            outcome
        })
    })
    .map_err(terminal_error)?;
    drop(guard);
    outcome
}

/// How often the key reader looks at the terminal's size and the stop flag.
const KEY_POLL_MS: u16 = 100;

/// What one look at the keyboard found.
#[derive(Debug, PartialEq, Eq)]
enum Keys {
    /// `q`, a lone Esc, or Ctrl-C (a byte in raw mode).
    Quit,
    /// End of input, an I/O error or a hang-up: the terminal went away.
    Gone,
    /// Nothing, or keys the board does not use.
    Other,
}

/// Reads what is waiting on `tty`, for at most [`KEY_POLL_MS`]. Reading
/// the bytes ourselves (rather than through crossterm's event loop, which
/// retries a read of 0 bytes forever) is what makes a closed terminal end
/// the board instead of spinning a CPU.
fn poll_keys(tty: &std::fs::File) -> Keys {
    use nix::poll::{poll, PollFd, PollFlags};
    use std::io::Read;
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(tty.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, KEY_POLL_MS) {
        Ok(0) => return Keys::Other,
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Keys::Other,
        Err(_) => return Keys::Gone,
    }
    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
    if !revents.contains(PollFlags::POLLIN) {
        return if revents.is_empty() {
            Keys::Other
        } else {
            Keys::Gone
        };
    }
    let mut bytes = [0_u8; 1024];
    match (&*tty).read(&mut bytes) {
        Ok(0) => Keys::Gone,
        Ok(count) => keys_in(&bytes[..count]),
        Err(error) if error.kind() == io::ErrorKind::Interrupted => Keys::Other,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => Keys::Other,
        Err(_) => Keys::Gone,
    }
}

/// Whether a read's bytes ask to leave: `q`, Ctrl-C, or an Esc on its own
/// (an arrow key is Esc and more, and does not quit).
fn keys_in(bytes: &[u8]) -> Keys {
    if bytes.iter().any(|&byte| byte == b'q' || byte == 0x03) || bytes == [0x1b] {
        Keys::Quit
    } else {
        Keys::Other
    }
}

/// The terminal to read keys from: stdin when it is one, else the
/// controlling terminal; none leaves the signals as the way out.
fn key_source() -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return stdin
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::fs::File::from);
    }
    std::fs::File::open("/dev/tty").ok()
}

fn read_keys(exchange: &dyn Market, quit: &AtomicBool, stop: &dyn Fn() -> bool) {
    let tty = key_source();
    let mut size = terminal::size().ok();
    while !stop() {
        let keys = match &tty {
            Some(tty) => poll_keys(tty),
            None => {
                std::thread::sleep(Duration::from_millis(u64::from(KEY_POLL_MS)));
                Keys::Other
            }
        };
        let resized = terminal::size().ok() != size;
        if keys != Keys::Other {
            quit.store(true, Ordering::Release);
        } else if !resized {
            continue;
        }
        size = terminal::size().ok();
        // Wake the drawing thread: to leave, or to redraw after a resize.
        exchange.wake_watchers();
    }
}

fn draw_until_stopped(
    exchange: &dyn Market,
    trades_shown: usize,
    colour: bool,
    stop: &dyn Fn() -> bool,
) -> Result<ExitStatus> {
    let mut stdout = io::stdout();
    let mut board = Board::new(trades_shown);
    while !stop() {
        // Read the counter before the copy: a change made while drawing
        // makes the wait below return at once.
        let seen = exchange.change_seq();
        let (width, height) = match terminal::size().map_err(terminal_error)? {
            // A terminal that reports no size (a bare pty) gets the classic one.
            (0, _) | (_, 0) => (80, 24),
            size => size,
        };
        let size = Size {
            width: usize::from(width),
            height: usize::from(height),
        };
        let lines = board.frame(exchange, size, colour)?;
        let drawn = draw(&mut stdout, &lines, height);
        // A terminal that went away (SIGHUP) is no error once stopping.
        if let Err(error) = drawn {
            return if stop() {
                Ok(ExitStatus::Success)
            } else {
                Err(terminal_error(error))
            };
        }
        exchange.wait_for_change(seen, IDLE_REDRAW);
    }
    Ok(ExitStatus::Success)
}

/// Draws each line on its own row, clearing what was there, with no
/// newline after the last, so the screen never scrolls.
fn draw(stdout: &mut io::Stdout, lines: &[String], height: u16) -> io::Result<()> {
    for (row, line) in lines.iter().enumerate() {
        let row = u16::try_from(row).unwrap_or(u16::MAX);
        queue!(
            stdout,
            cursor::MoveTo(0, row),
            terminal::Clear(terminal::ClearType::UntilNewLine)
        )?;
        stdout.write_all(line.as_bytes())?;
    }
    let used = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    if used < height {
        queue!(
            stdout,
            cursor::MoveTo(0, used),
            terminal::Clear(terminal::ClearType::FromCursorDown)
        )?;
    }
    stdout.flush()
}
