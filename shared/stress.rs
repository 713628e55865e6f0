//! `trader stress`: N real trader processes hammer one exchange, then the
//! audit says whether any money or currency was lost.
//!
//! The parent opens the accounts `stress-0` onwards, starts one worker
//! process per account (`trader stress-worker`), waits until every worker
//! is attached and ready, and only then releases them all at once, so the
//! measured time is trading, not process start-up. Progress comes from the
//! segment's own trade counter; no extra IPC is needed.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::market::{Audit, Exchange, Side};
use crate::money::Money;

/// What `trader stress` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StressOptions {
    pub procs: usize,
    pub trades: u64,
    pub seed: u64,
    /// Skip the lock, as the textbook version does. Demonstration only.
    pub unlocked: bool,
}

/// What one worker did, as it reports it on its stdout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub trades: u64,
    pub refused: u64,
    pub nanos: u64,
}

/// The outcome of a stress run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StressReport {
    pub procs: usize,
    pub trades_each: u64,
    pub seed: u64,
    pub unlocked: bool,
    /// Trades that went through.
    pub trades: u64,
    /// Trades refused (an empty balance, say); they took the lock too.
    pub refused: u64,
    /// From the release of the workers to the last one exiting.
    pub seconds: String,
    pub trades_per_second: u64,
    pub audit: Audit,
}

/// A small, fast, seedable generator (SplitMix64): reproducible runs
/// without a dependency.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// The account name of worker `index`.
pub fn worker_account(index: usize) -> String {
    format!("stress-{index}")
}

fn spawn_error(what: &'static str, error: std::io::Error) -> Error {
    Error::Os {
        address: "a stress worker".into(),
        what,
        source: error,
    }
}

/// Runs a stress test with `trader_exe` as the worker binary.
pub fn run_stress(
    trader_exe: &Path,
    address: &SegmentAddress,
    options: &StressOptions,
) -> Result<StressReport> {
    let exchange = Exchange::attach(address)?;
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
    let progress = std::io::stderr().is_terminal().then(|| {
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
    let trades = reports.iter().map(|report| report.trades).sum::<u64>();
    let refused = reports.iter().map(|report| report.refused).sum::<u64>();
    let audit = exchange.audit()?;
    // The workers start together on "go"; the slowest one's own clock is
    // the run's length, free of the parent's polling granularity.
    let nanos = reports
        .iter()
        .map(|report| report.nanos)
        .max()
        .unwrap_or(0)
        .max(1);
    Ok(StressReport {
        procs: options.procs,
        trades_each: options.trades,
        seed: options.seed,
        unlocked: options.unlocked,
        trades,
        refused,
        seconds: format!("{:.3}", elapsed.as_secs_f64()),
        trades_per_second: ((u128::from(trades + refused) * 1_000_000_000) / u128::from(nanos))
            as u64,
        audit,
    })
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
                std::io::Error::other("a worker exited before it was ready"),
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
                std::io::Error::other(format!("a worker failed ({status}) without a report")),
            )
        })?);
    }
    Ok((elapsed, reports))
}

/// Tells the parent this worker is ready, then waits for its `go`.
pub fn ready_then_wait_for_go() {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let mut go = String::new();
    let _ = std::io::stdin().read_line(&mut go);
}

/// Prints a worker's report, the last line its parent reads.
pub fn print_report(report: &WorkerReport) {
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string(report).unwrap_or_default()
    );
}

/// One worker: attach, say "ready", wait for "go", trade, report.
pub fn run_worker(
    address: &SegmentAddress,
    account_name: &str,
    trades: u64,
    seed: u64,
    unlocked: bool,
) -> Result<WorkerReport> {
    let exchange = Exchange::attach(address)?;
    let account = exchange.open_account(account_name)?;
    let currencies: Vec<_> = exchange
        .currencies()
        .iter()
        .map(|currency| exchange.currency(&currency.name))
        .collect::<Result<_>>()?;
    let portfolio = exchange.portfolio(account)?;
    let mut balance = portfolio.balance;
    let mut holdings: Vec<Money> = portfolio
        .holdings
        .into_iter()
        .map(|(_, amount)| amount)
        .collect();
    ready_then_wait_for_go();
    let mut random = SplitMix64::new(seed);
    let mut report = WorkerReport {
        trades: 0,
        refused: 0,
        nanos: 0,
    };
    let started = Instant::now();
    for _ in 0..trades {
        let index = random.below(currencies.len() as u64) as usize;
        let amount = Money::from_hundredths(1 + random.below(100) as i64);
        // Random, but a buy the balance cannot pay for becomes a sell of
        // something held, so long runs keep trading instead of refusing.
        let can_sell = holdings[index] >= amount;
        let can_buy = exchange
            .quote(Side::Buy, currencies[index], amount)
            .is_ok_and(|(_, cost)| cost <= balance);
        let side = match (can_buy, can_sell) {
            (true, true) if random.below(2) == 0 => Side::Sell,
            (false, true) => Side::Sell,
            _ => Side::Buy,
        };
        let result = if unlocked {
            exchange.trade_unlocked_for_demo(account, side, currencies[index], amount)
        } else {
            exchange.trade(account, side, currencies[index], amount)
        };
        match result {
            Ok(fill) => {
                report.trades += 1;
                balance = fill.balance;
                holdings[index] = match side {
                    Side::Buy => holdings[index].checked_add(fill.amount),
                    Side::Sell => holdings[index].checked_sub(fill.amount),
                }
                .unwrap_or(holdings[index]);
            }
            Err(error) if error.is_refusal() => report.refused += 1,
            Err(error) => return Err(error),
        }
    }
    report.nanos = started.elapsed().as_nanos() as u64;
    print_report(&report);
    Ok(report)
}
