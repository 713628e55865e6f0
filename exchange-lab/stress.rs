//! `exchange-lab stress`: N real trader processes hammer one exchange,
//! then the audit says whether any money or currency was lost.
//!
//! The parent opens the accounts `stress-0` onwards, starts one worker
//! process per account (`exchange-lab stress-worker`), waits until every worker
//! is attached and ready, and only then releases them all at once, so the
//! measured time is trading, not process start-up: the run lasts from that
//! common start to the last worker's end, on the monotonic clock all the
//! processes share. Workers say how far they got on their stdout (`progress
//! N` every few thousand trades), which moves the progress bar without
//! touching the segment or its lock. Before the run, the owner's stress
//! accounts are funded from the exchange's cash by recorded transfers, so
//! trades are rarely refused and the audit still balances. What a worker
//! trades is the library's [`Worker`]; this module is the processes and
//! the progress bar around it.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shm_exchange::render::{self, Style};
use shm_exchange::stress::{
    fund_workers, monotonic_nanos, worker_account, StressOptions, StressReport, Worker,
    WorkerReport,
};
use shm_exchange::{Error, MarketAddress, Reply, Result, Store};

/// An operating-system failure at `address` (a process, a socket, a file).
pub fn os_error(address: impl ToString, what: &'static str, source: io::Error) -> Error {
    Error::Os {
        address: address.to_string(),
        what,
        source,
    }
}

fn spawn_error(what: &'static str, error: io::Error) -> Error {
    os_error("a stress worker", what, error)
}

/// Runs a stress test with `lab_exe` (`exchange-lab`) as the worker binary.
pub fn run_stress(
    lab_exe: &Path,
    address: &MarketAddress,
    options: &StressOptions,
) -> Result<StressReport> {
    let exchange = Store::attach(address)?;
    if options.unlocked {
        // Refused before any account is opened: the library's checks of
        // who may race, on which market (each worker's demo checks again).
        exchange.unlocked_demo()?;
    }
    // All the accounts or none: a run that cannot fit must not use up
    // the table that the class's traders need.
    let names: Vec<String> = (0..options.procs).map(worker_account).collect();
    let accounts = exchange.open_accounts(&names)?;
    let funded_each = fund_workers(&exchange, &accounts, options)?;
    let commands = (0..options.procs)
        .map(|index| {
            let mut command = Command::new(lab_exe);
            command
                .arg("--segment")
                .arg(address.to_string())
                .arg("stress-worker")
                .arg("--name")
                .arg(worker_account(index))
                .arg("--trades")
                .arg(options.trades.to_string())
                .arg("--seed")
                .arg(options.seed.wrapping_add(index as u64).to_string());
            if options.unlocked {
                command.arg("--unlocked");
            }
            command
        })
        .collect();
    let total = options.trades.saturating_mul(options.procs as u64);
    let progress = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} trades {per_sec} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let (elapsed, reports) = run_workers(commands, |done| {
        if let Some(bar) = &progress {
            bar.set_position(done.min(total));
        }
        Ok(())
    })?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let audit = exchange.audit()?;
    Ok(StressReport::new(
        options,
        &reports,
        elapsed,
        funded_each,
        audit,
    ))
}

/// What the parent hears from one worker, line by line on its stdout.
#[derive(Default)]
struct Heard {
    ready: bool,
    /// Trades done so far, from its `progress N` lines.
    done: u64,
    report: Option<WorkerReport>,
}

/// How often the parent looks at its workers while they run.
const TICK: Duration = Duration::from_millis(50);

/// Starts one process per command, waits until each has printed `ready`,
/// releases them all with `go`, calls `tick` with the trades done so far
/// (from the workers' `progress N` lines) until every one has exited, and
/// collects the [`WorkerReport`] each prints last. Returns the wall time
/// from the release to the last worker's end of trading. Any failure kills
/// every worker.
pub fn run_workers(
    commands: Vec<Command>,
    mut tick: impl FnMut(u64) -> Result<()>,
) -> Result<(Duration, Vec<WorkerReport>)> {
    struct Workers(Vec<Child>);
    impl Drop for Workers {
        fn drop(&mut self) {
            for worker in &mut self.0 {
                let _ = worker.kill();
                let _ = worker.wait();
            }
        }
    }
    let mut workers = Workers(Vec::with_capacity(commands.len()));
    let heard: Vec<Arc<Mutex<Heard>>> = (0..commands.len()).map(|_| Arc::default()).collect();
    let (wake, woken) = std::sync::mpsc::channel::<()>();
    let mut readers = Vec::with_capacity(commands.len());
    let mut errors = Vec::with_capacity(commands.len());
    for (mut command, heard) in commands.into_iter().zip(&heard) {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|error| spawn_error("starting", error))?;
        let output = BufReader::new(child.stdout.take().expect("piped"));
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        workers.0.push(child);
        // A worker says why it failed in its first line on stderr; the
        // parent's error carries it, so a run's failure is one line.
        errors.push(Some(std::thread::spawn(move || {
            let mut first = None;
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if first.is_none() && !line.trim().is_empty() {
                    first = Some(line);
                }
            }
            first
        })));
        let (heard, wake) = (Arc::clone(heard), wake.clone());
        readers.push(std::thread::spawn(move || {
            for line in output.lines() {
                let Ok(line) = line else { break };
                let Ok(mut heard) = heard.lock() else { break };
                if line == "ready" {
                    heard.ready = true;
                } else if let Some(done) = line.strip_prefix("progress ") {
                    heard.done = done.parse().unwrap_or(heard.done);
                } else if let Ok(report) = serde_json::from_str::<WorkerReport>(&line) {
                    heard.done = report.trades + report.refused;
                    heard.report = Some(report);
                }
                drop(heard);
                let _ = wake.send(());
            }
            let _ = wake.send(());
        }));
    }
    drop(wake);
    let all = |check: &dyn Fn(&Heard) -> bool| {
        heard
            .iter()
            .all(|heard| heard.lock().is_ok_and(|heard| check(&heard)))
    };
    // Every worker attached and ready, or one gone before it was.
    while !all(&|heard| heard.ready) {
        let exited = workers
            .0
            .iter_mut()
            .position(|worker| worker.try_wait().map_or(true, |status| status.is_some()));
        if let Some(index) = exited.filter(|_| !all(&|heard| heard.ready)) {
            let reason = first_error(&mut errors[index]);
            return Err(spawn_error(
                "attaching",
                io::Error::other(format!("a worker exited before it was ready{reason}")),
            ));
        }
        let _ = woken.recv_timeout(TICK);
    }
    let started_at = monotonic_nanos();
    let started = Instant::now();
    for worker in &mut workers.0 {
        if let Some(mut stdin) = worker.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
    }
    let mut finished = vec![false; workers.0.len()];
    loop {
        for (worker, done) in workers.0.iter_mut().zip(finished.iter_mut()) {
            if !*done {
                *done = worker
                    .try_wait()
                    .map_err(|error| spawn_error("waiting", error))?
                    .is_some();
            }
        }
        if finished.iter().all(|done| *done) {
            break;
        }
        let done = heard
            .iter()
            .filter_map(|heard| heard.lock().ok().map(|heard| heard.done))
            .sum();
        tick(done)?;
        let _ = woken.recv_timeout(TICK);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let mut reports = Vec::with_capacity(heard.len());
    for ((heard, worker), said) in heard.iter().zip(&mut workers.0).zip(&mut errors) {
        let status = worker
            .wait()
            .map_err(|error| spawn_error("waiting", error))?;
        let report = heard.lock().ok().and_then(|heard| heard.report);
        reports.push(report.ok_or_else(|| {
            spawn_error(
                "trading",
                io::Error::other(format!(
                    "a worker failed ({status}) without a report{}",
                    first_error(said)
                )),
            )
        })?);
    }
    // From the common start to the last worker's end of trading, on the
    // clock all the processes share; the parent's own clock (which also
    // counts process exits) if a report has no time.
    let last_end = reports.iter().map(|report| report.finished_at).max();
    let elapsed = match last_end {
        Some(end) if end > started_at && reports.iter().all(|report| report.finished_at > 0) => {
            Duration::from_nanos(end - started_at)
        }
        _ => started.elapsed(),
    };
    Ok((elapsed, reports))
}

/// What an exited worker said first on stderr, as `: LINE`, or nothing.
/// Its reader ends when the worker's stderr closes, at its exit.
fn first_error(reader: &mut Option<std::thread::JoinHandle<Option<String>>>) -> String {
    reader
        .take()
        .and_then(|reader| reader.join().ok().flatten())
        .map_or_else(String::new, |line| format!(": {line}"))
}

/// Tells the parent this worker is ready, then waits for its `go`.
pub fn ready_then_wait_for_go() {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let mut go = String::new();
    let _ = io::stdin().read_line(&mut go);
}

/// Tells the parent how many trades this worker has done.
fn print_progress(done: u64) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "progress {done}");
    let _ = stdout.flush();
}

/// Prints a worker's report, the last line its parent reads.
pub fn print_report(report: &WorkerReport) {
    let _ = writeln!(
        io::stdout().lock(),
        "{}",
        serde_json::to_string(report).unwrap_or_default()
    );
}

/// `exchange-lab stress-worker`: attach, say "ready", wait for "go", trade
/// (saying how far it got now and then), report.
pub fn run_worker(
    address: &MarketAddress,
    account_name: &str,
    trades: u64,
    seed: u64,
    unlocked: bool,
) -> Result<WorkerReport> {
    let worker = Worker::prepare(address, account_name, unlocked)?;
    ready_then_wait_for_go();
    let report = worker.trade(trades, seed, unlocked, print_progress)?;
    print_report(&report);
    Ok(report)
}

/// The text report of a run, for a person.
pub fn describe(report: &StressReport) -> String {
    let mode = if report.unlocked {
        "UNLOCKED: trades skip the lock, as in the textbook (race demonstration only)"
    } else {
        "locked"
    };
    let funded = match report.funded_each {
        Some(amount) => format!(
            "\n  each account was funded with up to {amount} from the exchange's cash (a recorded transfer, so the audit still balances)"
        ),
        None => String::new(),
    };
    format!(
        "stress: {} processes x {} trades, seed {}, {mode}\n  {} trades committed in {} s, from the common start to the last worker's end: {:.3} M trades/s\n  {} refused ({}), not counted in the rate{funded}\n  {}",
        report.procs,
        report.trades_each,
        report.seed,
        report.trades,
        report.seconds,
        report.trades_per_second as f64 / 1e6,
        report.refused,
        report.refused_percent(),
        render::reply(&Reply::Audit(report.audit.clone()), Style::Line)
    )
}
