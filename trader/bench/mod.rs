//! `trader bench` and `cargo bench`: every figure in BENCHMARKS.md, side by
//! side in one run, with the ratios between them.
//!
//! - (a) one trade through the library in one process, next to the C loop:
//!   the same robust mutex, a trade's bare stores, unlock;
//! - (b) aggregate trades per second from 1, 2, 4 and 8 `stress` processes,
//!   next to the C loop run by as many processes on one segment;
//! - (c) 2 `stress` processes with four boards and a `follow` reading
//!   their market, against the same unread ([`readers`]);
//! - (e) the rivals a user would pick instead, at the same process counts:
//!   SQLite ([`sqlite`]), Redis ([`redis`]) and a message-passing server
//!   that owns the market and answers over a Unix socket;
//! - (d) a scripted trader running a 1,000,000-line script to a file: of
//!   trades alone, and of trades, `rates` and `portfolio` mixed;
//! - for reference, unlocked mode with its audit, and how soon a watcher
//!   sleeping on the change counter wakes.
//!
//! `--plot FILE.svg` draws the process-count rows ([`plot`]). Each run makes
//! its own uniquely named segments, databases and servers and removes them.
//! The measurements start processes, so they live in the binary; `cargo
//! bench` runs this through the built `trader`.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use shm_exchange::config::CurrencyConfig;
use shm_exchange::render::{self, Style};
use shm_exchange::stress::StressOptions;
use shm_exchange::table::{Align, Cell, Table};
use shm_exchange::testing::BaselineSegment;
use shm_exchange::{Error, Exchange, MarketConfig, Money, Reply, Result, SegmentAddress, Side};

use crate::stress::{self, os_error};

mod plot;
mod procs;
pub mod readers;
mod redis;
mod redis_lua;
mod sqlite;
pub mod worker;

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct BenchSize {
    /// Per round of (a), for the library and the C loop each.
    pub latency_trades: u64,
    /// Alternations of the library and the C loop in (a).
    pub latency_rounds: usize,
    /// Per process, for shared memory and the C loop.
    pub stress_trades: u64,
    /// Alternations of stress and the C loop at each process count in (b).
    pub stress_rounds: usize,
    /// Per process, for SQLite and Redis.
    pub rival_trades: u64,
    /// Alternations of the Redis store and the all-Lua trade at each
    /// client count.
    pub redis_rounds: usize,
    pub message_trades: u64,
    pub unlocked_trades: u64,
    pub script_lines: u64,
    /// Alternations of (c)'s unread and read runs; the row is their
    /// medians.
    pub reader_rounds: usize,
}

impl BenchSize {
    /// The figures in BENCHMARKS.md.
    pub const FULL: BenchSize = BenchSize {
        latency_trades: 1_000_000,
        latency_rounds: 9,
        stress_trades: 2_000_000,
        stress_rounds: 3,
        rival_trades: 20_000,
        redis_rounds: 3,
        message_trades: 50_000,
        unlocked_trades: 200_000,
        script_lines: 1_000_000,
        reader_rounds: 3,
    };
    /// A smoke run, seconds long.
    pub const QUICK: BenchSize = BenchSize {
        latency_trades: 100_000,
        latency_rounds: 3,
        stress_trades: 50_000,
        stress_rounds: 1,
        rival_trades: 500,
        redis_rounds: 1,
        message_trades: 2_000,
        unlocked_trades: 20_000,
        script_lines: 20_000,
        reader_rounds: 1,
    };
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub label: String,
    pub value: String,
    pub note: String,
}

/// One mechanism's trades per second at each process count, as plotted.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub mechanism: String,
    /// (processes, trades per second)
    pub points: Vec<(usize, f64)>,
}

/// A run's results, as `trader bench --json` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    pub rows: Vec<Row>,
    pub series: Vec<Series>,
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

/// (a)'s figures: the medians over the rounds, and the median of the
/// rounds' own ratios.
struct Latency {
    trade_ns: f64,
    baseline_ns: f64,
    ratio: f64,
}

/// (a) Nanoseconds per trade, alternating buys and sells of 0.01 DOLLAR,
/// and per C-loop trade, the same way: `rounds` alternations of the two,
/// `trades` each, after a warm-up of both, so that whatever else the
/// machine runs slows both sides of a round alike.
fn latency(trades: u64, rounds: usize) -> Result<Latency> {
    let segment = BenchSegment::create("latency")?;
    let exchange = Exchange::attach(&segment.0)?;
    let account = exchange.open_account("bench")?;
    let dollar = exchange.currency("DOLLAR")?;
    let amount = Money::from_hundredths(1);
    let side = |index: u64| {
        if index % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    };
    let product = |trades: u64| -> Result<f64> {
        let started = Instant::now();
        for index in 0..trades {
            black_box(exchange.trade(account, side(index), dollar, black_box(amount))?);
        }
        Ok(started.elapsed().as_nanos() as f64 / trades as f64)
    };

    let name = format!("/shmx-bench-{}-cloop", std::process::id());
    let baseline = BaselineSegment::create(&name)
        .map_err(|error| os_error(&name, "creating the C loop's segment", error))?;
    let c_loop = |trades: u64| -> Result<f64> {
        let started = Instant::now();
        for index in 0..trades {
            black_box(
                baseline
                    .trade(0, 0, index % 2 == 0, black_box(1))
                    .map_err(|error| os_error(&name, "trading", error))?,
            );
        }
        Ok(started.elapsed().as_nanos() as f64 / trades as f64)
    };

    // Warm up: fault in the pages and the branch predictors first.
    product(trades / 10)?;
    c_loop(trades / 10)?;
    let (mut trade_ns, mut baseline_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let (trade, base) = (product(trades)?, c_loop(trades)?);
        trade_ns.push(trade);
        baseline_ns.push(base);
        ratios.push(trade / base);
    }
    Ok(Latency {
        trade_ns: median(trade_ns),
        baseline_ns: median(baseline_ns),
        ratio: median(ratios),
    })
}

/// The median of `values`, which is not empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Two trades a cycle: the trades-only script.
const TRADES_SCRIPT: &str = "buy DOLLAR 0.01\nsell DOLLAR 0.01\n";

/// Issue 13 (d): buys, sells, `rates` and `portfolio`, over every
/// currency.
const MIXED_SCRIPT: &str = "buy DOLLAR 0.01\nrates\nsell DOLLAR 0.01\nportfolio\n\
    buy EURO 0.01\nrates\nsell EURO 0.01\nportfolio\n\
    buy STERLIN 0.01\nrates\nsell STERLIN 0.01\nportfolio\n\
    buy POUND 0.01\nrates\nsell POUND 0.01\nportfolio\n";

/// (d) Commands per second of a scripted trader writing to a file: `cycle`
/// repeated to `lines` lines.
fn scripted(trader: &Path, lines: u64, cycle: &str) -> Result<f64> {
    let segment = BenchSegment::create("script")?;
    let dir = std::env::temp_dir();
    let script = dir.join(format!("shmx-bench-{}.script", std::process::id()));
    let output = dir.join(format!("shmx-bench-{}.out", std::process::id()));
    let cycles = lines / cycle.lines().count() as u64;
    let lines = cycles * cycle.lines().count() as u64;
    let text = cycle.repeat(cycles as usize);
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

/// The process counts of every multi-process row.
const PROCESS_COUNTS: [usize; 4] = [1, 2, 4, 8];

fn processes(procs: usize) -> String {
    format!("{procs} process{}", if procs == 1 { "" } else { "es" })
}

/// Trades per second, in the unit that keeps three figures.
fn rate_text(rate: f64) -> String {
    if rate >= 1e6 {
        millions(rate)
    } else {
        format!("{:.1} k trades/s", rate / 1e3)
    }
}

impl Series {
    fn new(mechanism: &str) -> Series {
        Series {
            mechanism: mechanism.into(),
            points: Vec::new(),
        }
    }
}

/// (b) Aggregate trades per second of a locked `trader stress` run.
fn stress_rate(trader: &Path, procs: usize, trades: u64) -> Result<f64> {
    let segment = BenchSegment::create(&format!("stress{procs}"))?;
    stress_on(trader, &segment, procs, trades)
}

/// The same on `segment`, which may have readers attached.
fn stress_on(trader: &Path, segment: &BenchSegment, procs: usize, trades: u64) -> Result<f64> {
    let report = stress::run_stress(
        trader,
        &segment.0.clone().into(),
        &StressOptions {
            procs,
            trades,
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
    Ok(report.trades_per_second as f64)
}

/// (e) One rival's rows at every process count, against shared memory's
/// `shared` rates, and its series.
fn rival_rows(
    label: &str,
    shared: &Series,
    rows: &mut Vec<Row>,
    mut measure: impl FnMut(usize) -> Result<f64>,
) -> Result<Series> {
    let mut series = Series::new(label);
    for &(procs, shared_rate) in &shared.points {
        let rate = measure(procs)?;
        series.points.push((procs, rate));
        rows.push(Row {
            label: format!("(e) {label}, {}", processes(procs)),
            value: rate_text(rate),
            note: format!("shared memory is {:.0}x faster", shared_rate / rate),
        });
    }
    Ok(series)
}

/// Runs every measurement and returns the table's rows and the series
/// that `--plot` draws.
pub fn run(trader: &Path, size: BenchSize, mut progress: impl FnMut(&str)) -> Result<Rows> {
    let mut rows = Vec::new();
    progress("(a) one trade and the C loop");
    let rounds = size.latency_rounds;
    let latency = latency(size.latency_trades, rounds)?;
    rows.push(Row {
        label: "(a) one trade via the library, 1 process".into(),
        value: format!("{:.1} ns/trade", latency.trade_ns),
        note: format!(
            "{:.2}x the C loop below (target <= 1.5x); medians of {rounds} alternated rounds",
            latency.ratio
        ),
    });
    rows.push(Row {
        label: "    C loop: robust lock, 8 stores, unlock".into(),
        value: format!("{:.1} ns/trade", latency.baseline_ns),
        note: "baseline, same run".into(),
    });

    let mut shared = Series::new("shared memory (trader stress)");
    let mut c_loop = Series::new("C loop (same mutex, 8 stores)");
    for procs in PROCESS_COUNTS {
        progress(&format!("(b) stress and the C loop, {}", processes(procs)));
        let rounds = size.stress_rounds;
        let (mut rates, mut baselines, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            let rate = stress_rate(trader, procs, size.stress_trades)?;
            let baseline = procs::c_loop(trader, procs, size.stress_trades)?;
            rates.push(rate);
            baselines.push(baseline);
            ratios.push(rate / baseline);
        }
        let (rate, baseline) = (median(rates), median(baselines));
        shared.points.push((procs, rate));
        c_loop.points.push((procs, baseline));
        rows.push(Row {
            label: format!("(b) stress, locked, {}", processes(procs)),
            value: millions(rate),
            note: format!(
                "{:.2}x the C loop{}; audit consistent; medians of {rounds} alternated round{}",
                median(ratios),
                if procs == 2 { " (target >= 0.8x)" } else { "" },
                if rounds == 1 { "" } else { "s" },
            ),
        });
        rows.push(Row {
            label: format!("    C loop, {}", processes(procs)),
            value: millions(baseline),
            note: "baseline, same run".into(),
        });
    }
    progress("(c) stress read by boards and follow, and unread");
    rows.extend(readers::rows(
        trader,
        size.stress_trades,
        size.reader_rounds,
    )?);
    let trades = size.latency_trades;
    let (alone, watched, wakeups) = readers::wake_cost(trades)?;
    rows.push(Row {
        label: "    one trade while a watcher waits, 1 process".into(),
        value: format!("{watched:.1} ns/trade"),
        note: format!(
            "{:+.1} ns over {alone:.1} unwatched; it was woken {wakeups} times in {trades} trades: only trades made while it sleeps pay a FUTEX_WAKE",
            watched - alone
        ),
    });

    let market = rich_market();
    let mut series = vec![rival_rows("SQLite", &shared, &mut rows, |procs| {
        progress(&format!("(e) SQLite, {}", processes(procs)));
        procs::sqlite(trader, &market, procs, size.rival_trades)
    })?];
    let (redis_rows, redis_series) = redis_rows(trader, size, Some(&shared), &mut progress)?;
    rows.extend(redis_rows);
    series.extend(redis_series);
    series.push(rival_rows(
        "Unix socket server",
        &shared,
        &mut rows,
        |procs| {
            progress(&format!("(e) message passing, {}", processes(procs)));
            procs::message_passing(trader, procs, size.message_trades)
        },
    )?);
    series.splice(0..0, [shared, c_loop]);

    progress("unlocked");
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
        label: "    stress, UNLOCKED, 2 processes".into(),
        value: millions(report.trades_per_second as f64),
        note: audit,
    });

    progress("(d) scripted");
    let rate = scripted(trader, size.script_lines, TRADES_SCRIPT)?;
    rows.push(Row {
        label: format!(
            "    scripted trader, {}-line script of trades to a file",
            size.script_lines
        ),
        value: format!("{:.0} k commands/s", rate / 1e3),
        note: "reference: buys and sells only".into(),
    });
    let rate = scripted(trader, size.script_lines, MIXED_SCRIPT)?;
    rows.push(Row {
        label: "(d) the same, mixed: buy, sell, rates, portfolio".into(),
        value: format!("{:.0} k commands/s", rate / 1e3),
        note: "target 1000 k".into(),
    });

    progress("watcher wake-up");
    let (median, worst) = watch_latency(200)?;
    rows.push(Row {
        label: "    watch board woken after a trade".into(),
        value: format!("{median:.0} us median"),
        note: format!("worst of 200: {worst:.0} us (target 100 ms)"),
    });
    Ok(Rows { rows, series })
}

/// (e)'s Redis rows, the store beside the all-Lua trade, on a server of
/// the bench's own; a row saying why if `redis-server` is not installed.
fn redis_rows(
    trader: &Path,
    size: BenchSize,
    shared: Option<&Series>,
    progress: impl FnMut(&str),
) -> Result<(Vec<Row>, Vec<Series>)> {
    match redis::RedisServer::start("redis-server") {
        Ok(server) => {
            let market = rich_market();
            let (rows, series) = redis_lua::rows(
                trader,
                &server,
                &market,
                size.rival_trades,
                size.redis_rounds,
                shared,
                progress,
            )?;
            Ok((rows, series.into()))
        }
        Err(redis::Unavailable::NotInstalled(note)) => Ok((
            vec![Row {
                label: "(e) Redis".into(),
                value: "-".into(),
                note,
            }],
            Vec::new(),
        )),
        Err(redis::Unavailable::Failed(error)) => Err(error),
    }
}

/// `trader bench --redis-only [--quick]`: (e)'s Redis rows alone.
pub fn redis_command(trader: &Path, quick: bool) -> Result<Rows> {
    let size = if quick {
        BenchSize::QUICK
    } else {
        BenchSize::FULL
    };
    let (rows, series) = redis_rows(trader, size, None, |step| eprintln!("running {step}..."))?;
    Ok(Rows { rows, series })
}

/// `trader bench [--quick] [--plot FILE.svg]`: the whole run, and the plot
/// if asked for. A plot path that cannot work is refused before the run.
pub fn command(trader: &Path, quick: bool, plot_to: Option<&Path>) -> Result<Rows> {
    if let Some(path) = plot_to {
        plot::check_path(path)?;
    }
    let size = if quick {
        BenchSize::QUICK
    } else {
        BenchSize::FULL
    };
    let results = run(trader, size, |step| eprintln!("running {step}..."))?;
    if let Some(path) = plot_to {
        let title = format!(
            "trader bench{}: trades/s by process count",
            if quick { " --quick" } else { "" }
        );
        plot::draw(path, &title, &results.series)?;
    }
    Ok(results)
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
