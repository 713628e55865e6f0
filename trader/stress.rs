//! `trader stress`: N real trader processes hammer one exchange, then the
//! audit says whether any money or currency was lost.
//!
//! The parent opens the accounts `stress-0` onwards, starts one worker
//! process per account (`trader stress-worker`), waits until every worker
//! is attached and ready, and only then releases them all at once, so the
//! measured time is trading, not process start-up. Progress comes from the
//! segment's own trade counter; no extra IPC is needed. What a worker
//! trades is the library's [`Worker`]; this module is the processes and
//! the progress bar around it.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shm_exchange::render::{self, Style};
use shm_exchange::stress::{worker_account, StressOptions, StressReport, Worker, WorkerReport};
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

/// Runs a stress test with `trader_exe` as the worker binary.
pub fn run_stress(
    trader_exe: &Path,
    address: &MarketAddress,
    options: &StressOptions,
) -> Result<StressReport> {
    let exchange = Store::attach(address)?;
    if options.unlocked {
        // Refused before any account is opened where there is no lock.
        exchange.unlocked_demo()?;
    }
    // All the accounts or none: a run that cannot fit must not use up
    // the table that the class's traders need.
    let names: Vec<String> = (0..options.procs).map(worker_account).collect();
    exchange.open_accounts(&names)?;
    let commands = (0..options.procs)
        .map(|index| {
            let mut command = Command::new(trader_exe);
            command
                .arg("--segment")
                .arg(address.to_string())
                .arg("--name")
                .arg(worker_account(index))
                .arg("stress-worker")
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
    let start_seq = exchange.status()?.trades;
    let total = options.trades.saturating_mul(options.procs as u64);
    let progress = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} trades {per_sec} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // While the workers run, move the bar now and then. Not a futex wait:
    // a watcher makes every trade pay for a wake-up system call.
    let (elapsed, reports) = run_workers(commands, || {
        if let Some(bar) = &progress {
            let seq = exchange.status()?.trades;
            bar.set_position(seq.saturating_sub(start_seq).min(total));
        }
        std::thread::sleep(Duration::from_millis(5));
        Ok(())
    })?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let audit = exchange.audit()?;
    Ok(StressReport::new(options, &reports, elapsed, audit))
}

/// Starts one process per command, waits until each has printed `ready`,
/// releases them all with `go`, calls `tick` until every one has exited,
/// and collects the [`WorkerReport`] each prints last. Returns the time
/// from the release to the last exit. Any failure kills every worker.
pub fn run_workers(
    commands: Vec<Command>,
    mut tick: impl FnMut() -> Result<()>,
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
    for mut command in commands {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        workers.0.push(
            command
                .spawn()
                .map_err(|error| spawn_error("starting", error))?,
        );
    }
    let mut outputs = Vec::with_capacity(workers.0.len());
    for worker in &mut workers.0 {
        let mut output = BufReader::new(worker.stdout.take().expect("piped"));
        let mut line = String::new();
        if output.read_line(&mut line).unwrap_or(0) == 0 || line.trim() != "ready" {
            return Err(spawn_error(
                "attaching",
                io::Error::other("a worker exited before it was ready"),
            ));
        }
        outputs.push(output);
    }
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
        tick()?;
    }
    let elapsed = started.elapsed();
    let mut reports = Vec::with_capacity(outputs.len());
    for (output, worker) in outputs.iter_mut().zip(&mut workers.0) {
        let status = worker
            .wait()
            .map_err(|error| spawn_error("waiting", error))?;
        let mut line = String::new();
        let _ = output.read_line(&mut line);
        reports.push(serde_json::from_str(line.trim()).map_err(|_| {
            spawn_error(
                "trading",
                io::Error::other(format!("a worker failed ({status}) without a report")),
            )
        })?);
    }
    Ok((elapsed, reports))
}

/// Tells the parent this worker is ready, then waits for its `go`.
pub fn ready_then_wait_for_go() {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let mut go = String::new();
    let _ = io::stdin().read_line(&mut go);
}

/// Prints a worker's report, the last line its parent reads.
pub fn print_report(report: &WorkerReport) {
    let _ = writeln!(
        io::stdout().lock(),
        "{}",
        serde_json::to_string(report).unwrap_or_default()
    );
}

/// `trader stress-worker`: attach, say "ready", wait for "go", trade,
/// report.
pub fn run_worker(
    address: &MarketAddress,
    account_name: &str,
    trades: u64,
    seed: u64,
    unlocked: bool,
) -> Result<WorkerReport> {
    let worker = Worker::prepare(address, account_name)?;
    ready_then_wait_for_go();
    let report = worker.trade(trades, seed, unlocked)?;
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
    format!(
        "stress: {} processes x {} trades, seed {}, {mode}\n  {} trades ({} refused) in {} s: {:.2} M trades/s\n  {}",
        report.procs,
        report.trades_each,
        report.seed,
        report.trades,
        report.refused,
        report.seconds,
        report.trades_per_second as f64 / 1e6,
        render::reply(&Reply::Audit(report.audit.clone()), Style::Line)
    )
}
