//! `exchange-lab bench` and `cargo bench`: every figure in BENCHMARKS.md,
//! side by side in one run, with the ratios between them. Each row is
//! printed as soon as it is measured, and a measurement that fails (a
//! rival's server, a worker) is a row saying why: the run goes on.
//!
//! - (a) one trade through the library in one process, next to the same
//!   work written by hand in C (`c/trade.c`: the same segment, lock,
//!   checks, journal and wake-up), its anchor, and the bare C loop (the
//!   same robust mutex, a trade's bare stores, unlock), which shows what
//!   the safety costs;
//! - (b) aggregate trades per second from 1, 2, 4 and 8 `stress` processes,
//!   next to the same-work C and the C loop run by as many processes;
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
//! The measurements start processes (this binary's hidden workers, and the
//! `trader` beside it), so they live in the binary; `cargo bench` runs
//! this through the built `exchange-lab`.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use shm_exchange::config::CurrencyConfig;
use shm_exchange::envelope::Envelope;
use shm_exchange::render::{self, Style};
use shm_exchange::store::shm::CWorkload;
use shm_exchange::stress::StressOptions;
use shm_exchange::testing::BaselineSegment;
use shm_exchange::{
    Error, Exchange, ExitStatus, MarketConfig, Money, Reply, Result, SegmentAddress, Side,
};

use crate::cli::print_line;
use crate::stress::{self, os_error};

mod bot_wait;
mod plot;
mod procs;
pub mod readers;
mod redis;
mod redis_lua;
mod sqlite;
mod venue;
pub mod worker;

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct BenchSize {
    /// Per round of (a), for the library, the same-work C and the C loop
    /// each.
    pub latency_trades: u64,
    /// Alternations of the library, the same-work C and the C loop in (a).
    pub latency_rounds: usize,
    /// Per process, for shared memory, the same-work C and the C loop.
    pub stress_trades: u64,
    /// Alternations of stress, the same-work C and the C loop at each
    /// process count in (b).
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
    /// The measurement failed: `value` says so and `note` says why.
    pub failed: bool,
}

impl Row {
    pub(super) fn new(label: String, value: String, note: String) -> Row {
        Row {
            label,
            value,
            note,
            failed: false,
        }
    }
}

/// One mechanism's trades per second at each process count, as plotted.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub mechanism: String,
    /// (processes, trades per second)
    pub points: Vec<(usize, f64)>,
}

/// A run's results, as `exchange-lab bench --json` prints them last.
#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    pub rows: Vec<Row>,
    pub series: Vec<Series>,
    /// How many measurements failed (each has a row saying why).
    pub failed: usize,
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

/// (a)'s figures: the medians over the rounds, and the medians of the
/// rounds' own ratios.
struct Latency {
    trade_ns: f64,
    same_work_ns: f64,
    baseline_ns: f64,
    /// The trade over the same-work C.
    ratio: f64,
    /// The same-work C over the C loop: what the safety costs.
    safety: f64,
}

/// (a) Nanoseconds per trade, alternating buys and sells of 0.01 DOLLAR,
/// per same-work C trade of the same (same segment, same account), and
/// per C-loop trade, the same way: `rounds` alternations of the three,
/// `trades` each, after a warm-up of each, so that whatever else the
/// machine runs slows every side of a round alike.
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
    // As the C's loop does: each trade's outcome looked at, the last
    // fill's balance kept.
    let product = |trades: u64| -> Result<f64> {
        let (account, dollar, amount) = (account, dollar, amount);
        let started = Instant::now();
        let mut balance = Money::ZERO;
        for index in 0..trades {
            balance = exchange
                .trade(account, side(index), dollar, amount)?
                .balance;
        }
        black_box(balance);
        Ok(started.elapsed().as_nanos() as f64 / trades as f64)
    };
    // Looped in C, so that no Rust is timed on the C's side.
    let same_work = |trades: u64| -> Result<f64> {
        let workload = CWorkload::Alternate {
            currency: dollar,
            amount,
        };
        let started = Instant::now();
        black_box(exchange.run_in_c(account, workload, trades)?);
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
    same_work(trades / 10)?;
    c_loop(trades / 10)?;
    let mut figures: [Vec<f64>; 5] = Default::default();
    for _ in 0..rounds.max(1) {
        let (trade, same, base) = (product(trades)?, same_work(trades)?, c_loop(trades)?);
        for (figure, value) in
            figures
                .iter_mut()
                .zip([trade, same, base, trade / same, same / base])
        {
            figure.push(value);
        }
    }
    let [trade_ns, same_work_ns, baseline_ns, ratios, safety] = figures.map(median);
    Ok(Latency {
        trade_ns,
        same_work_ns,
        baseline_ns,
        ratio: ratios,
        safety,
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

/// (a)'s anchor row.
const SAME_WORK_ROW: &str = "    same-work C: every check, the journal, the robust lock";

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

/// (b) Aggregate trades per second of a locked `exchange-lab stress` run.
fn stress_rate(lab: &Path, procs: usize, trades: u64) -> Result<f64> {
    let segment = BenchSegment::create(&format!("stress{procs}"))?;
    stress_on(lab, &segment, procs, trades)
}

/// The same on `segment`, which may have readers attached.
fn stress_on(lab: &Path, segment: &BenchSegment, procs: usize, trades: u64) -> Result<f64> {
    let report = stress::run_stress(
        lab,
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
/// `shared` rates, and its series; a process count that fails gets a row
/// saying why, and the rest go on.
fn rival_rows(
    label: &str,
    shared: &Series,
    table: &mut Recorder,
    mut measure: impl FnMut(usize) -> Result<f64>,
) -> Series {
    let mut series = Series::new(label);
    for procs in PROCESS_COUNTS {
        let row = format!("(e) {label}, {}", processes(procs));
        let Some(rate) = table.measured(&row, measure(procs)) else {
            continue;
        };
        series.points.push((procs, rate));
        let shared_rate = shared.points.iter().find(|(count, _)| *count == procs);
        table.push(Row::new(
            row,
            rate_text(rate),
            match shared_rate {
                Some((_, shared_rate)) => {
                    format!("shared memory is {:.0}x faster", shared_rate / rate)
                }
                None => "shared memory's row failed: no ratio".into(),
            },
        ));
    }
    series
}

/// The programs a run starts: this binary for the workers, and the
/// `trader` installed beside it for the scripted rows and `follow`.
pub struct Programs {
    pub lab: PathBuf,
    pub trader: PathBuf,
}

impl Programs {
    /// `lab` and the `trader` in the same directory.
    pub fn beside(lab: PathBuf) -> Programs {
        let trader = lab.with_file_name("trader");
        Programs { lab, trader }
    }
}

/// The table as it is measured: each row is handed to `show` at once,
/// and a measurement that fails becomes a row saying why.
struct Recorder<'s> {
    rows: Vec<Row>,
    failed: usize,
    show: &'s mut dyn FnMut(&Row),
}

impl Recorder<'_> {
    fn push(&mut self, row: Row) {
        (self.show)(&row);
        self.rows.push(row);
    }

    /// The value `outcome` measured, or, when it failed, `None` and a row
    /// labelled `label` with the error as its note.
    fn measured<T>(&mut self, label: &str, outcome: Result<T>) -> Option<T> {
        match outcome {
            Ok(value) => Some(value),
            Err(error) => {
                self.failed += 1;
                let reason = error.to_string();
                let reason = reason.lines().next().unwrap_or_default();
                self.push(Row {
                    label: label.to_owned(),
                    value: "failed".into(),
                    note: reason.to_owned(),
                    failed: true,
                });
                None
            }
        }
    }
}

/// Rows (a) and (b): the trade beside the same-work C and the C loop, in
/// one process and in several; the series of (b), for the plot.
fn trade_rows(
    lab: &Path,
    size: BenchSize,
    table: &mut Recorder,
    progress: &mut impl FnMut(&str),
) -> [Series; 3] {
    progress("(a) one trade, the same-work C and the C loop");
    let rounds = size.latency_rounds;
    let label = "(a) one trade via the library, 1 process";
    if let Some(latency) = table.measured(label, latency(size.latency_trades, rounds)) {
        table.push(Row::new(
            label.into(),
            format!("{:.1} ns/trade", latency.trade_ns),
            format!(
                "{:.2}x the same-work C below (target <= 1.25x); medians of {rounds} alternated rounds",
                latency.ratio
            ),
        ));
        table.push(Row::new(
            SAME_WORK_ROW.into(),
            format!("{:.1} ns/trade", latency.same_work_ns),
            "the anchor: the same dollar workload, same segment, same run".into(),
        ));
        table.push(Row::new(
            "    C loop: robust lock, 8 stores, unlock".into(),
            format!("{:.1} ns/trade", latency.baseline_ns),
            format!(
                "no checks, no journal: the same-work C is {:.2}x this, what the safety costs",
                latency.safety
            ),
        ));
    }

    let mut shared = Series::new("shared memory (exchange-lab stress)");
    let mut same_work = Series::new("same-work C (same segment and checks)");
    let mut c_loop = Series::new("C loop (same mutex, 8 stores)");
    for procs in PROCESS_COUNTS {
        progress(&format!(
            "(b) stress, the same-work C and the C loop, {}",
            processes(procs)
        ));
        let rounds = size.stress_rounds;
        let measure = || -> Result<[Vec<f64>; 5]> {
            let mut figures: [Vec<f64>; 5] = Default::default();
            for _ in 0..rounds.max(1) {
                let rate = stress_rate(lab, procs, size.stress_trades)?;
                let same = procs::c_same(lab, procs, size.stress_trades)?;
                let baseline = procs::c_loop(lab, procs, size.stress_trades)?;
                for (figure, value) in
                    figures
                        .iter_mut()
                        .zip([rate, same, baseline, rate / same, same / baseline])
                {
                    figure.push(value);
                }
            }
            Ok(figures)
        };
        let label = format!("(b) stress, locked, {}", processes(procs));
        let Some(figures) = table.measured(&label, measure()) else {
            continue;
        };
        let [rate, same, baseline, ratio, safety] = figures.map(median);
        shared.points.push((procs, rate));
        same_work.points.push((procs, same));
        c_loop.points.push((procs, baseline));
        let target = match procs {
            1 => " (target >= 0.85x)",
            2 => " (target >= 0.9x)",
            _ => "",
        };
        table.push(Row::new(
            label,
            millions(rate),
            format!(
                "{ratio:.2}x the same-work C{target}; audit consistent; medians of {rounds} alternated round{}",
                if rounds == 1 { "" } else { "s" },
            ),
        ));
        table.push(Row::new(
            format!("    same-work C, {}", processes(procs)),
            millions(same),
            "the anchor, same run; audit consistent".into(),
        ));
        table.push(Row::new(
            format!("    C loop, {}", processes(procs)),
            millions(baseline),
            format!("bare, same run: the same-work C makes {safety:.2}x its rate, what the safety costs"),
        ));
    }
    [shared, same_work, c_loop]
}

/// Row (c): trading read by boards and follow, and a watcher's cost.
fn reader_rows(
    programs: &Programs,
    size: BenchSize,
    table: &mut Recorder,
    progress: &mut impl FnMut(&str),
) {
    progress("(c) stress read by boards and follow, and unread");
    let outcome = readers::rows(programs, size.stress_trades, size.reader_rounds);
    for row in table
        .measured("(c) stress read by boards and follow", outcome)
        .unwrap_or_default()
    {
        table.push(row);
    }
    let trades = size.latency_trades;
    let label = "    one trade while a watcher waits, 1 process";
    if let Some((alone, watched, wakeups)) = table.measured(label, readers::wake_cost(trades)) {
        table.push(Row::new(
            label.into(),
            format!("{watched:.1} ns/trade"),
            format!(
                "{:+.1} ns over {alone:.1} unwatched; it was woken {wakeups} times in {trades} trades: only trades made while it sleeps pay a FUTEX_WAKE",
                watched - alone
            ),
        ));
    }
}

/// Runs every measurement, handing each row to `show` as soon as it is
/// measured, and returns the table's rows and the series that `--plot`
/// draws. A measurement that fails is a row saying why; the run goes on.
pub fn run(
    programs: &Programs,
    size: BenchSize,
    mut progress: impl FnMut(&str),
    show: &mut dyn FnMut(&Row),
) -> Rows {
    let lab = programs.lab.as_path();
    let mut table = Recorder {
        rows: Vec::new(),
        failed: 0,
        show,
    };
    let [shared, same_work, c_loop] = trade_rows(lab, size, &mut table, &mut progress);
    reader_rows(programs, size, &mut table, &mut progress);

    let market = rich_market();
    let mut series = vec![rival_rows("SQLite", &shared, &mut table, |procs| {
        progress(&format!("(e) SQLite, {}", processes(procs)));
        procs::sqlite(lab, &market, procs, size.rival_trades)
    })];
    series.extend(redis_rows(
        lab,
        size,
        Some(&shared),
        &mut table,
        &mut progress,
    ));
    series.push(rival_rows(
        "Unix socket server",
        &shared,
        &mut table,
        |procs| {
            progress(&format!("(e) message passing, {}", processes(procs)));
            procs::message_passing(lab, procs, size.message_trades)
        },
    ));
    series.splice(0..0, [shared, same_work, c_loop]);

    progress("unlocked");
    let label = "    stress, UNLOCKED, 2 processes";
    let unlocked = BenchSegment::create("unlocked").and_then(|segment| {
        stress::run_stress(
            lab,
            &segment.0.clone().into(),
            &StressOptions {
                procs: 2,
                trades: size.unlocked_trades,
                seed: 1,
                unlocked: true,
            },
        )
    });
    if let Some(report) = table.measured(label, unlocked) {
        table.push(Row::new(
            label.into(),
            millions(report.trades_per_second as f64),
            render::reply(&Reply::Audit(report.audit.clone()), Style::Line),
        ));
    }

    progress("(d) scripted");
    let trader = programs.trader.as_path();
    let label = format!(
        "    scripted trader, {}-line script of trades to a file",
        size.script_lines
    );
    if let Some(rate) = table.measured(&label, scripted(trader, size.script_lines, TRADES_SCRIPT)) {
        table.push(Row::new(
            label,
            format!("{:.0} k commands/s", rate / 1e3),
            "reference: buys and sells only".into(),
        ));
    }
    let label = "(d) the same, mixed: buy, sell, rates, portfolio";
    if let Some(rate) = table.measured(label, scripted(trader, size.script_lines, MIXED_SCRIPT)) {
        table.push(Row::new(
            label.into(),
            format!("{:.0} k commands/s", rate / 1e3),
            "target 1000 k".into(),
        ));
    }

    progress("watcher wake-up");
    let label = "    watch board woken after a trade";
    if let Some((median, worst)) = table.measured(label, watch_latency(200)) {
        table.push(Row::new(
            label.into(),
            format!("{median:.0} us median"),
            format!("worst of 200: {worst:.0} us (target 100 ms)"),
        ));
    }
    progress("a bot's wait");
    let label = "    a bot's `wait` answered after a trade";
    if let Some(wait) = table.measured(label, bot_wait::measure(&programs.trader, 200)) {
        table.push(Row::new(
            label.into(),
            format!("{:.0} us median", wait.median_us),
            format!(
                "worst of 200: {:.0} us (target 1000 us, wake-up and pipe); a quiet `wait 1000` used {} clock ticks of CPU",
                wait.worst_us, wait.idle_ticks
            ),
        ));
    }
    Rows {
        rows: table.rows,
        series,
        failed: table.failed,
    }
}

/// (e)'s Redis rows, the store beside the all-Lua trade, on a server of
/// the bench's own; a row saying why if `redis-server` is not installed or
/// would not start.
fn redis_rows(
    lab: &Path,
    size: BenchSize,
    shared: Option<&Series>,
    table: &mut Recorder,
    progress: impl FnMut(&str),
) -> Vec<Series> {
    match redis::RedisServer::start("redis-server") {
        Ok(server) => redis_lua::rows(
            lab,
            &server,
            &rich_market(),
            (size.rival_trades, size.redis_rounds),
            shared,
            table,
            progress,
        )
        .into(),
        Err(redis::Unavailable::NotInstalled(note)) => {
            table.push(Row::new("(e) Redis".into(), "-".into(), note));
            Vec::new()
        }
        Err(redis::Unavailable::Failed(error)) => {
            table.measured::<()>("(e) Redis", Err(error));
            Vec::new()
        }
    }
}

/// `exchange-lab bench --redis-only [--quick]`: (e)'s Redis rows alone,
/// each printed as soon as it is measured.
pub fn redis_command(programs: &Programs, quick: bool, json: bool) -> ExitStatus {
    part_command(quick, json, |size, table| {
        redis_rows(&programs.lab, size, None, table, |step| {
            eprintln!("running {step}...")
        })
    })
}

/// `exchange-lab bench --trade-only`: rows (a), (b) and (c) alone, the
/// trade beside the same-work C, and read.
pub fn trade_command(programs: &Programs, quick: bool, json: bool) -> ExitStatus {
    part_command(quick, json, |size, table| {
        let mut progress = |step: &str| eprintln!("running {step}...");
        let series = trade_rows(&programs.lab, size, table, &mut progress);
        reader_rows(programs, size, table, &mut progress);
        series.into()
    })
}

/// A run of some of the rows, which `rows` measures into the table.
fn part_command(
    quick: bool,
    json: bool,
    rows: impl FnOnce(BenchSize, &mut Recorder) -> Vec<Series>,
) -> ExitStatus {
    let size = if quick {
        BenchSize::QUICK
    } else {
        BenchSize::FULL
    };
    let mut show = shower(json);
    let mut table = Recorder {
        rows: Vec::new(),
        failed: 0,
        show: &mut show,
    };
    let series = rows(size, &mut table);
    let results = Rows {
        rows: table.rows,
        series,
        failed: table.failed,
    };
    finish(&results, json)
}

/// How a run shows each row as it is measured: a line of the table, or
/// with `json` one JSON object.
fn shower(json: bool) -> impl FnMut(&Row) {
    move |row: &Row| {
        if json {
            print_line(&serde_json::to_string(row).unwrap_or_default());
        } else {
            print_line(&row_line(row));
        }
    }
}

/// The end of a run: with `json` the whole table as one object, else a
/// closing line if a measurement failed; exit status 1 if one did.
fn finish(results: &Rows, json: bool) -> ExitStatus {
    if json {
        print_line(&Envelope::success("bench", results).to_json());
    } else if results.failed > 0 {
        eprintln!(
            "exchange-lab: {} measurement{} failed; see the rows marked failed",
            results.failed,
            if results.failed == 1 { "" } else { "s" }
        );
    }
    if results.failed > 0 {
        ExitStatus::Refused
    } else {
        ExitStatus::Success
    }
}

/// `exchange-lab bench [--quick] [--plot FILE.svg]`: the whole run, each
/// row printed as soon as it is measured (with `json`, one JSON object a
/// row, then the whole table as one), and the plot if asked for. A plot
/// path that cannot work is refused before the run. Exit status 1 if a
/// measurement failed.
pub fn command(
    programs: &Programs,
    quick: bool,
    plot_to: Option<&Path>,
    json: bool,
) -> Result<ExitStatus> {
    if let Some(path) = plot_to {
        plot::check_path(path)?;
    }
    let size = if quick {
        BenchSize::QUICK
    } else {
        BenchSize::FULL
    };
    let mut show = shower(json);
    let results = run(
        programs,
        size,
        |step| eprintln!("running {step}..."),
        &mut show,
    );
    if let Some(path) = plot_to {
        let title = format!(
            "exchange-lab bench{}: trades/s by process count",
            if quick { " --quick" } else { "" }
        );
        plot::draw(path, &title, &results.series)?;
        eprintln!("exchange-lab: the plot is in {}", path.display());
    }
    Ok(finish(&results, json))
}

/// Columns of a row, wide enough for every label and value the run
/// makes, so rows printed one at a time line up.
const LABEL_WIDTH: usize = 64;
const VALUE_WIDTH: usize = 18;

/// One row as a line of the table: label, value, note.
pub fn row_line(row: &Row) -> String {
    format!(
        "{:<LABEL_WIDTH$}  {:>VALUE_WIDTH$}  {}",
        row.label, row.value, row.note
    )
    .trim_end()
    .to_owned()
}
