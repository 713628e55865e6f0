//! Issue 13 (c): readers cost traders nothing. Two `stress` processes
//! trade alone, then with four boards and a `trader follow` attached to
//! their market, in the same run; the row is the ratio of the two rates.
//!
//! The readers are real processes doing what the instruments do: a board
//! (`exchange-lab bench-worker --kind board`) sleeps in
//! [`Exchange::wait_for_change`] and builds the text of `trader watch`'s
//! board at 80x24 after each change, drawing it nowhere; `trader follow`
//! itself prints every tape entry to `/dev/null`. Each board counts its
//! frames, so the row shows they were reading throughout, not asleep.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use shm_exchange::board::{Board, Size};
use shm_exchange::store::Store;
use shm_exchange::{Error, Exchange, Result, SegmentAddress};

use super::{median, millions, stress_on, BenchSegment, Programs, Row};
use crate::stress::os_error;

/// Boards attached during the measured run, beside one `follow`.
pub const BOARDS: usize = 4;

/// The stress processes of the row.
const TRADERS: usize = 2;

/// The classic projector, as `trader watch` falls back to.
const BOARD_SIZE: Size = Size {
    width: 80,
    height: 24,
};

/// `trader watch`'s default: as many tape entries as fit.
const BOARD_ENTRIES: usize = 256;

/// A board's longest sleep, as `trader watch`'s, and how soon it sees the
/// parent's `stop` when nothing changes.
const IDLE_REDRAW: Duration = Duration::from_millis(100);

/// What a board did, the last line it prints.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct BoardReport {
    /// Frames built.
    pub frames: u64,
    /// Of those, frames built after the market changed since the last one.
    pub fresh: u64,
    /// Copies given up because writers kept changing the market for the
    /// snapshot's whole timeout (`Error::Busy`): no frame.
    pub busy: u64,
}

/// `exchange-lab bench-worker --kind board --target SEGMENT`: attach, build the
/// first frame, say `ready`, then build a frame after every change until
/// a line (or the end) on stdin, and report.
pub fn run_board(target: &str) -> Result<()> {
    let address: SegmentAddress = target.parse()?;
    let exchange = Store::Segment(Exchange::attach(&address)?);
    let mut board = Board::new(BOARD_ENTRIES);
    black_box(board.frame(exchange.market(), BOARD_SIZE, false)?);
    let stop = AtomicBool::new(false);
    let mut report = BoardReport::default();
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(|| {
            let _ = io::stdin().read_line(&mut String::new());
            stop.store(true, Ordering::Release);
        });
        say("ready");
        let mut drawn = exchange.change_seq();
        while !stop.load(Ordering::Acquire) {
            // Read before the copy, as `trader watch` does: a change made
            // while building makes the wait return at once.
            let seen = exchange.change_seq();
            match board.frame(exchange.market(), BOARD_SIZE, false) {
                Ok(lines) => {
                    black_box(lines);
                    report.frames += 1;
                    if seen != drawn {
                        report.fresh += 1;
                    }
                    drawn = seen;
                }
                Err(Error::Busy { .. }) => report.busy += 1,
                Err(error) => return Err(error),
            }
            exchange.wait_for_change(seen, IDLE_REDRAW);
        }
        Ok(())
    })?;
    say(&serde_json::to_string(&report).unwrap_or_default());
    Ok(())
}

fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn reader_error(what: &'static str, error: io::Error) -> Error {
    os_error("a reader", what, error)
}

/// The readers attached to one market; killed if dropped unstopped.
struct Readers {
    boards: Vec<(Child, BufReader<ChildStdout>)>,
    /// Kept open so that `follow` can write to its stderr till the end.
    follow: Option<(Child, BufReader<ChildStderr>)>,
}

impl Drop for Readers {
    fn drop(&mut self) {
        let follow = self.follow.iter_mut().map(|(child, _)| child);
        for child in self.boards.iter_mut().map(|(child, _)| child).chain(follow) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The next line `output` prints, or why there is none.
fn next_line(output: &mut impl BufRead, what: &'static str) -> Result<String> {
    let mut line = String::new();
    match output.read_line(&mut line) {
        Ok(0) => Err(reader_error(what, io::Error::other("it exited early"))),
        Ok(_) => Ok(line.trim_end().to_owned()),
        Err(error) => Err(reader_error(what, error)),
    }
}

impl Readers {
    /// Starts [`BOARDS`] boards and one `follow` on `address` and returns
    /// once every one is attached and reading.
    fn attach(programs: &Programs, address: &SegmentAddress) -> Result<Readers> {
        let mut readers = Readers {
            boards: Vec::with_capacity(BOARDS),
            follow: None,
        };
        for _ in 0..BOARDS {
            let mut child = Command::new(&programs.lab)
                .args(["bench-worker", "--kind", "board"])
                .args(["--target", &address.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|error| reader_error("starting", error))?;
            let stdout = BufReader::new(child.stdout.take().expect("piped"));
            readers.boards.push((child, stdout));
        }
        let mut follow = Command::new(&programs.trader)
            .args(["--segment", &address.to_string(), "follow"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| reader_error("starting", error))?;
        let stderr = BufReader::new(follow.stderr.take().expect("piped"));
        let follow = readers.follow.insert((follow, stderr));
        // `follow` says "following ..." once it has found its place.
        let said = next_line(&mut follow.1, "attaching follow")?;
        if !said.starts_with("following") {
            return Err(reader_error("attaching follow", io::Error::other(said)));
        }
        for (_, stdout) in &mut readers.boards {
            let said = next_line(stdout, "attaching a board")?;
            if said != "ready" {
                return Err(reader_error("attaching a board", io::Error::other(said)));
            }
        }
        Ok(readers)
    }

    /// Stops every reader and sums the boards' reports; fails if any
    /// reader failed meanwhile.
    fn stop(mut self) -> Result<BoardReport> {
        let mut total = BoardReport::default();
        for (child, stdout) in &mut self.boards {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"stop\n");
            }
            let said = next_line(stdout, "reading a board's report")?;
            let report: BoardReport = serde_json::from_str(&said)
                .map_err(|_| reader_error("reading a board's report", io::Error::other(said)))?;
            total.frames += report.frames;
            total.fresh += report.fresh;
            total.busy += report.busy;
        }
        if let Some((follow, _)) = &mut self.follow {
            let pid = Pid::from_raw(follow.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let status = follow
                .wait()
                .map_err(|error| reader_error("waiting", error))?;
            if !status.success() {
                return Err(reader_error(
                    "following",
                    io::Error::other(format!("follow failed: {status}")),
                ));
            }
        }
        Ok(total)
    }
}

/// (c) `rounds` alternations of stress alone and stress read by the
/// readers, each on a fresh market, and the rows of their medians.
pub fn rows(programs: &Programs, trades: u64, rounds: usize) -> Result<Vec<Row>> {
    let (mut alone, mut read) = (Vec::new(), Vec::new());
    let mut frames = BoardReport::default();
    for _ in 0..rounds.max(1) {
        let segment = BenchSegment::create("alone")?;
        alone.push(stress_on(&programs.lab, &segment, TRADERS, trades)?);
        drop(segment);
        let segment = BenchSegment::create("read")?;
        let readers = Readers::attach(programs, &segment.0)?;
        read.push(stress_on(&programs.lab, &segment, TRADERS, trades)?);
        let report = readers.stop()?;
        frames.frames += report.frames;
        frames.fresh += report.fresh;
        frames.busy += report.busy;
    }
    let (alone, read) = (median(alone), median(read));
    let of = |count: usize| if count == 1 { "" } else { "s" };
    Ok(vec![
        Row::new(
            format!("(c) stress, {TRADERS} processes, {BOARDS} boards and follow reading"),
            millions(read),
            format!(
                "{:.2}x the same unread (target >= 0.95); boards built {} frames, {} after a change, {} gave up busy; median of {} round{}",
                read / alone,
                frames.frames,
                frames.fresh,
                frames.busy,
                rounds,
                of(rounds),
            ),
        ),
        Row::new(
            format!("    stress, {TRADERS} processes, nobody reading"),
            millions(alone),
            "baseline, same run, alternated with the row above".into(),
        ),
    ])
}

/// What a watcher's wake-ups cost a trade: nanoseconds per trade in one
/// process alone, then with a thread that reads nothing and goes straight
/// back to sleep on the change counter after each change, so it is asleep
/// as often as a watcher can be; and how many times it was woken. A trade
/// pays a `FUTEX_WAKE` only while the watcher sleeps (the `watchers`
/// hint).
pub fn wake_cost(trades: u64) -> Result<(f64, f64, u64)> {
    let segment = BenchSegment::create("wake")?;
    let exchange = Exchange::attach(&segment.0)?;
    let account = exchange.open_account("bench")?;
    let dollar = exchange.currency("DOLLAR")?;
    let amount = shm_exchange::Money::from_hundredths(1);
    let run = || -> Result<f64> {
        let started = std::time::Instant::now();
        for index in 0..trades {
            let side = if index % 2 == 0 {
                shm_exchange::Side::Buy
            } else {
                shm_exchange::Side::Sell
            };
            black_box(exchange.trade(account, side, dollar, black_box(amount))?);
        }
        Ok(started.elapsed().as_nanos() as f64 / trades.max(1) as f64)
    };
    run()?;
    let alone = run()?;
    let stop = AtomicBool::new(false);
    let (watched, wakeups) = std::thread::scope(|scope| -> Result<(f64, u64)> {
        let watcher = scope.spawn(|| {
            let mut wakeups = 0;
            while !stop.load(Ordering::Acquire) {
                exchange.wait_for_change(exchange.change_seq(), IDLE_REDRAW);
                wakeups += 1;
            }
            wakeups
        });
        let watched = run();
        stop.store(true, Ordering::Release);
        Ok((watched?, watcher.join().unwrap_or(0)))
    })?;
    Ok((alone, watched, wakeups))
}
