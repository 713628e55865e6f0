//! `trader bench` and `cargo bench`: every figure in BENCHMARKS.md, side by
//! side in one run, with the ratios between them.
//!
//! - (a) one trade through the library in one process, next to the cost
//!   of the robust mutex alone (lock, four stores, unlock);
//! - (b) aggregate trades per second from 1, 2, 4 and 8 `stress` processes;
//! - (c) the same trades through a message-passing exchange: a server
//!   process owns the market and traders send each request over a Unix
//!   socket and wait for the answer (the course notes' "four copies");
//! - (d) unlocked mode, for reference, with its audit;
//! - (e) a scripted trader running a 1,000,000-line script to a file;
//! - (f) how soon a watcher sleeping on the change counter wakes.
//!
//! Each run makes its own uniquely named segments and removes them. The
//! measurements start processes, so they live in the binary; `cargo bench`
//! runs this through the built `trader`.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

use shm_exchange::config::CurrencyConfig;
use shm_exchange::render::{self, Style};
use shm_exchange::stress::StressOptions;
use shm_exchange::table::{Align, Cell, Table};
use shm_exchange::{Error, Exchange, MarketConfig, Money, Reply, Result, SegmentAddress, Side};

use crate::stress::{self, os_error};

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct BenchSize {
    pub latency_trades: u64,
    pub stress_trades: u64,
    pub message_trades: u64,
    pub unlocked_trades: u64,
    pub script_lines: u64,
}

impl BenchSize {
    /// The figures in BENCHMARKS.md.
    pub const FULL: BenchSize = BenchSize {
        latency_trades: 5_000_000,
        stress_trades: 2_000_000,
        message_trades: 50_000,
        unlocked_trades: 200_000,
        script_lines: 1_000_000,
    };
    /// A smoke run, seconds long.
    pub const QUICK: BenchSize = BenchSize {
        latency_trades: 200_000,
        stress_trades: 50_000,
        message_trades: 2_000,
        unlocked_trades: 20_000,
        script_lines: 20_000,
    };
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub label: String,
    pub value: String,
    pub note: String,
}

/// The rows as `trader bench --json` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    pub rows: Vec<Row>,
}

/// A segment for one measurement, removed when dropped.
struct BenchSegment(SegmentAddress);

impl BenchSegment {
    fn create(tag: &str) -> Result<BenchSegment> {
        let address: SegmentAddress =
            format!("posix:/shmx-bench-{}-{tag}", std::process::id()).parse()?;
        // A segment left by a killed run of a process with this pid.
        let _ = Exchange::remove(&address);
        Exchange::create(&address, &rich_market(), 0o600)?;
        Ok(BenchSegment(address))
    }
}

impl Drop for BenchSegment {
    fn drop(&mut self) {
        let _ = Exchange::remove(&self.0);
    }
}

/// A market where no benchmark trade is ever refused for want of money or
/// stock, so every measured trade is a real one.
fn rich_market() -> MarketConfig {
    let defaults = MarketConfig::default();
    MarketConfig {
        cash: Money::from_hundredths(1_000_000_000_000 * 100),
        starting_balance: Money::from_hundredths(1_000_000_000 * 100),
        currencies: defaults
            .currencies
            .iter()
            .map(|currency| CurrencyConfig {
                stock: Money::from_hundredths(1_000_000_000 * 100),
                ..currency.clone()
            })
            .collect(),
        ..defaults
    }
}

fn per_second(count: u64, nanos: u128) -> f64 {
    count as f64 * 1e9 / nanos.max(1) as f64
}

fn millions(rate: f64) -> String {
    format!("{:.2} M trades/s", rate / 1e6)
}

/// (a) Nanoseconds per trade, alternating buys and sells of 0.01 DOLLAR,
/// and nanoseconds per lock + four stores + unlock on a robust mutex.
fn latency(trades: u64) -> Result<(f64, f64)> {
    let segment = BenchSegment::create("latency")?;
    let exchange = Exchange::attach(&segment.0)?;
    let account = exchange.open_account("bench")?;
    let dollar = exchange.currency("DOLLAR")?;
    let amount = Money::from_hundredths(1);
    // Warm up: fault in the pages and the branch predictors first.
    for index in 0..trades / 10 {
        let side = if index % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        black_box(exchange.trade(account, side, dollar, black_box(amount))?);
    }
    let started = Instant::now();
    for index in 0..trades {
        let side = if index % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        black_box(exchange.trade(account, side, dollar, black_box(amount))?);
    }
    let trade_ns = started.elapsed().as_nanos() as f64 / trades as f64;

    let mutex = shm_exchange::testing::BaselineLock::new()
        .map_err(|error| os_error("a private mutex", "pthread_mutex_init", error))?;
    let words: [AtomicI64; 4] = Default::default();
    for _ in 0..trades / 10 {
        mutex.locked(|| black_box(()));
    }
    let started = Instant::now();
    for index in 0..trades as i64 {
        mutex.locked(|| {
            for word in &words {
                word.store(black_box(index), Relaxed);
            }
        });
    }
    let baseline_ns = started.elapsed().as_nanos() as f64 / trades as f64;
    Ok((trade_ns, baseline_ns))
}

/// (c) Aggregate trades per second with `clients` message-passing traders.
fn message_passing(trader: &Path, clients: usize, trades: u64) -> Result<f64> {
    let segment = BenchSegment::create(&format!("mp{clients}"))?;
    let socket =
        std::env::temp_dir().join(format!("shmx-bench-{}-{clients}.sock", std::process::id()));
    let mut server = Command::new(trader)
        .arg("--segment")
        .arg(segment.0.to_string())
        .arg("--name")
        .arg("server")
        .arg("serve")
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| os_error("the server", "starting", error))?;
    // The server says "ready" once it listens.
    let mut ready = String::new();
    if let Some(stdout) = server.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut ready);
    }
    if let Some(mut stdin) = server.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let commands = (0..clients)
        .map(|_| {
            let mut command = Command::new(trader);
            command
                .arg("mp-client")
                .arg("--socket")
                .arg(&socket)
                .arg("--trades")
                .arg(trades.to_string());
            command
        })
        .collect();
    let outcome = stress::run_workers(commands, |_| Ok(()));
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&socket);
    // Wall time from the common start to the last client's end, as stress.
    let (elapsed, _) = outcome?;
    Ok(per_second(trades * clients as u64, elapsed.as_nanos()))
}

/// (e) Commands per second of a scripted trader writing to a file.
fn scripted(trader: &Path, lines: u64) -> Result<f64> {
    let segment = BenchSegment::create("script")?;
    let dir = std::env::temp_dir();
    let script = dir.join(format!("shmx-bench-{}.script", std::process::id()));
    let output = dir.join(format!("shmx-bench-{}.out", std::process::id()));
    let text = "buy DOLLAR 0.01\nsell DOLLAR 0.01\n".repeat((lines / 2) as usize);
    std::fs::write(&script, text).map_err(|error| os_error(script.display(), "writing", error))?;
    let cleanup = |paths: &[&PathBuf]| {
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
    };
    let out_file = std::fs::File::create(&output)
        .map_err(|error| os_error(output.display(), "creating", error))?;
    let started = Instant::now();
    let status = Command::new(trader)
        .arg("--segment")
        .arg(segment.0.to_string())
        .arg("--name")
        .arg("scripted")
        .arg("--script")
        .arg(&script)
        .stdout(out_file)
        .status();
    let nanos = started.elapsed().as_nanos();
    cleanup(&[&script, &output]);
    match status {
        Ok(status) if status.success() => Ok(per_second(lines, nanos)),
        Ok(status) => Err(os_error(
            "the scripted trader",
            "running",
            std::io::Error::other(status.to_string()),
        )),
        Err(error) => Err(os_error("the scripted trader", "starting", error)),
    }
}

/// (f) How long a watcher sleeping on the change counter takes to wake
/// after a trade: the median and the worst of `rounds`, in microseconds.
fn watch_latency(rounds: usize) -> Result<(f64, f64)> {
    let segment = BenchSegment::create("watch")?;
    let exchange = Exchange::attach(&segment.0)?;
    let account = exchange.open_account("bench")?;
    let dollar = exchange.currency("DOLLAR")?;
    let mut latencies = Vec::with_capacity(rounds);
    std::thread::scope(|scope| -> Result<()> {
        for index in 0..rounds {
            let seen = exchange.change_seq();
            let exchange = &exchange;
            let watcher = scope.spawn(move || {
                // Bounded, so a failed trade cannot leave it waiting.
                for _ in 0..5 {
                    if exchange.change_seq() != seen {
                        break;
                    }
                    exchange.wait_for_change(seen, Duration::from_secs(1));
                }
                Instant::now()
            });
            // Give the watcher time to fall asleep, as a board would be.
            std::thread::sleep(Duration::from_micros(500));
            let side = if index % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let traded = Instant::now();
            exchange.trade(account, side, dollar, Money::from_hundredths(1))?;
            let woke = watcher.join().unwrap_or(traded);
            latencies.push(woke.saturating_duration_since(traded).as_secs_f64() * 1e6);
        }
        Ok(())
    })?;
    latencies.sort_by(f64::total_cmp);
    Ok((
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    ))
}

/// Runs every measurement and returns the table's rows.
pub fn run(trader: &Path, size: BenchSize, mut progress: impl FnMut(&str)) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    progress("(a) latency");
    let (trade_ns, baseline_ns) = latency(size.latency_trades)?;
    rows.push(Row {
        label: "(a) one trade via the library, 1 process".into(),
        value: format!("{trade_ns:.1} ns/trade"),
        note: format!("{:.2}x the bare lock below", trade_ns / baseline_ns),
    });
    rows.push(Row {
        label: "    robust mutex lock + 4 stores + unlock".into(),
        value: format!("{baseline_ns:.1} ns"),
        note: "baseline, same run".into(),
    });

    let mut locked_rates = Vec::new();
    for procs in [1, 2, 4, 8] {
        progress(&format!("(b) stress, {procs} processes"));
        let segment = BenchSegment::create(&format!("stress{procs}"))?;
        let report = stress::run_stress(
            trader,
            &segment.0.clone().into(),
            &StressOptions {
                procs,
                trades: size.stress_trades,
                seed: 1,
                unlocked: false,
            },
        )?;
        if !report.audit.consistent {
            return Err(Error::Corrupted {
                address: segment.0.to_string(),
                reason: "a locked stress run failed its audit".into(),
            });
        }
        locked_rates.push((procs, report.trades_per_second as f64));
        rows.push(Row {
            label: format!(
                "(b) stress, locked, {procs} process{}",
                if procs == 1 { "" } else { "es" }
            ),
            value: millions(report.trades_per_second as f64),
            note: "audit consistent".into(),
        });
    }

    for &(clients, shared_rate) in &locked_rates {
        progress(&format!("(c) message passing, {clients} clients"));
        let rate = message_passing(trader, clients, size.message_trades)?;
        rows.push(Row {
            label: format!(
                "(c) Unix socket to a server, {clients} client{}",
                if clients == 1 { "" } else { "s" }
            ),
            value: format!("{:.3} M trades/s", rate / 1e6),
            note: format!("shared memory is {:.0}x faster", shared_rate / rate),
        });
    }

    progress("(d) unlocked");
    let segment = BenchSegment::create("unlocked")?;
    let report = stress::run_stress(
        trader,
        &segment.0.clone().into(),
        &StressOptions {
            procs: 2,
            trades: size.unlocked_trades,
            seed: 1,
            unlocked: true,
        },
    )?;
    let audit = render::reply(&Reply::Audit(report.audit.clone()), Style::Line);
    rows.push(Row {
        label: "(d) stress, UNLOCKED, 2 processes".into(),
        value: millions(report.trades_per_second as f64),
        note: audit,
    });

    progress("(e) scripted");
    let rate = scripted(trader, size.script_lines)?;
    rows.push(Row {
        label: format!(
            "(e) scripted trader, {}-line script to a file",
            size.script_lines
        ),
        value: format!("{:.0} k commands/s", rate / 1e3),
        note: "target 500 k".into(),
    });

    progress("(f) watcher wake-up");
    let (median, worst) = watch_latency(200)?;
    rows.push(Row {
        label: "(f) watch board woken after a trade".into(),
        value: format!("{median:.0} us median"),
        note: format!("worst of 200: {worst:.0} us (target 100 ms)"),
    });
    Ok(rows)
}

/// The rows as an aligned table.
pub fn table(rows: &[Row]) -> String {
    let mut table = Table::without_header(&[Align::Left, Align::Right, Align::Left]);
    for row in rows {
        table.row(vec![
            Cell::plain(&row.label),
            Cell::plain(&row.value),
            Cell::plain(&row.note),
        ]);
    }
    table.render(false)
}
