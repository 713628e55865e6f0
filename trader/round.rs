//! `trader round`: a timed round for a class. It resets the market,
//! writes the round's end into it and resumes trading; while the round
//! runs it moves the prices (the ticker's seeded walk) and records every
//! tape entry to `tape.jsonl`; at the end it halts the market, prints the
//! ranking and writes it (`ranking.json`, `ranking.csv`) with a picture of
//! net worths and prices over the round (`round.svg`). The library half
//! (the end's check, the record, the ranking) is `shm_exchange::round`.
//!
//! Because the end lives in the market, every trader refuses trades after
//! it even if this process dies; `trader round --finish` then halts the
//! market, clears the end and prints the ranking. Run while a round is
//! going, `--finish` ends it early: the round's process sees its end
//! cleared, stops and writes its files.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use plotters::prelude::*;
use shm_exchange::round::{self, Recorder, Sample};
use shm_exchange::stress::SplitMix64;
use shm_exchange::ticker::{next_quotes, Quote, Step};
use shm_exchange::{Error, ExitStatus, Market, Result};

use crate::stop::until_signalled;
use crate::ticker;

/// The longest the round's process sleeps between two looks at its end
/// and at a stop signal.
const LONGEST_SLEEP: Duration = Duration::from_millis(200);

/// `trader round`: a timed round.
#[derive(Debug, Args)]
#[command(
    after_help = "Resets the market, writes the round's end into it and resumes
trading; moves the prices every --every seconds; records every tape
entry of the round to DIR/tape.jsonl. At the end it halts the market,
prints the ranking and writes DIR/ranking.json, DIR/ranking.csv and
DIR/round.svg (net worth and prices over the round). Every trader
refuses trades after the end, even if this process died. Owner only.

Examples:
  trader round --for 5m
  trader round --for 20s --every 1 --step 2 --seed 7 --out round1
  trader round --finish   end a round early, or tidy up after one"
)]
pub struct RoundArgs {
    /// How long the round lasts: a whole number and s, m or h (20s, 5m).
    #[arg(long = "for", value_name = "DURATION", value_parser = round::parse_duration, required_unless_present = "finish")]
    pub length: Option<Duration>,
    /// Seed of the price walk; the same seed makes the same prices (default: a fresh one, printed).
    #[arg(long, conflicts_with = "finish")]
    pub seed: Option<u64>,
    /// Seconds between two price moves.
    #[arg(long, default_value = "2", value_name = "SECONDS", value_parser = ticker::parse_every)]
    pub every: Duration,
    /// Largest price move of one tick, in percent either way.
    #[arg(long, default_value = "1", value_name = "PERCENT", value_parser = Step::parse)]
    pub step: Step,
    /// Where the round's files go (default: a new folder round-YYYYMMDD-HHMMSS).
    #[arg(long, value_name = "DIR", conflicts_with = "finish")]
    pub out: Option<PathBuf>,
    /// End the running round now, or tidy up after one whose process died:
    /// halt, clear the end, print the ranking.
    #[arg(long, conflicts_with = "length")]
    pub finish: bool,
}

/// Runs `trader round` on the market at `address`.
pub fn run(args: &RoundArgs, exchange: &dyn Market) -> Result<ExitStatus> {
    exchange.require_owner("run a round")?;
    match args.length {
        Some(length) if !args.finish => start(args, length, exchange),
        _ => finish(exchange),
    }
}

/// `--finish`: halt, clear the end, print the ranking.
fn finish(exchange: &dyn Market) -> Result<ExitStatus> {
    if !exchange.status()?.halted {
        exchange.halt()?;
    }
    match exchange.round_end()? {
        Some(end) => {
            exchange.set_round_end(None)?;
            println!("round finished (it was to end at {})", round::clock(end));
        }
        None => println!("no round was set; the market is halted"),
    }
    print!(
        "{}",
        round::ranking_text(&round::ranking(&exchange.traders()?))
    );
    Ok(ExitStatus::Success)
}

fn start(args: &RoundArgs, length: Duration, exchange: &dyn Market) -> Result<ExitStatus> {
    if let Some(end) = exchange.round_end()? {
        if round::check_open(Some(end)).is_ok() {
            return Err(Error::RoundRunning { until: end });
        }
    }
    let start_ms = round::now_ms();
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(round::default_dir(start_ms)));
    let file_error = |what: &'static str, error: io::Error| Error::Os {
        address: dir.display().to_string(),
        what,
        source: error,
    };
    std::fs::create_dir_all(&dir)
        .map_err(|error| file_error("creating the round's folder", error))?;
    let mut record = BufWriter::new(
        File::create(dir.join("tape.jsonl"))
            .map_err(|error| file_error("creating tape.jsonl", error))?,
    );

    // Halted while it resets, so the record starts at the reset.
    exchange.halt()?;
    exchange.reset()?;
    let reset_seq = exchange.tape(1)?.last().map_or(0, |row| row.seq);
    let end = start_ms + length.as_millis() as u64;
    exchange.set_round_end(Some(end))?;
    exchange.resume()?;
    let seed = args.seed.unwrap_or_else(ticker::fresh_seed);
    eprintln!(
        "round on {} until {}: prices move every {:?} by up to {}%, seed {}; files in {}",
        exchange.address(),
        round::clock(end),
        args.every,
        args.step.percent(),
        seed,
        dir.display()
    );

    let mut recorder = Recorder::after(reset_seq.saturating_sub(1));
    let mut samples = vec![Sample::take(exchange, start_ms)?];
    let outcome = until_signalled(&|| {}, |stop| -> Result<&'static str> {
        let currencies = exchange
            .currencies()
            .iter()
            .map(|currency| exchange.currency(&currency.name))
            .collect::<Result<Vec<_>>>()?;
        let mut random = SplitMix64::new(seed);
        let mut next_tick = Instant::now() + args.every;
        let mut seen = exchange.change_seq();
        loop {
            write_lines(&mut record, recorder.poll(exchange)?)
                .map_err(|error| file_error("writing tape.jsonl", error))?;
            if stop.load(Ordering::Acquire) {
                return Ok("stopped by a signal");
            }
            if exchange.round_end()? != Some(end) {
                return Ok("ended early by `trader round --finish`");
            }
            let now = round::now_ms();
            if now >= end {
                return Ok("time is up");
            }
            if Instant::now() >= next_tick {
                let live: Vec<Quote> = exchange
                    .rates()?
                    .iter()
                    .map(|rate| Quote {
                        sell: rate.sell,
                        buy: rate.buy,
                    })
                    .collect();
                for (currency, quote) in
                    currencies
                        .iter()
                        .zip(next_quotes(&mut random, &live, args.step))
                {
                    exchange.set_price(*currency, quote.sell, quote.buy)?;
                }
                samples.push(Sample::take(exchange, start_ms)?);
                next_tick += args.every;
            }
            let until_end = Duration::from_millis(end - now);
            let until_tick = next_tick.saturating_duration_since(Instant::now());
            exchange.wait_for_change(seen, until_end.min(until_tick).min(LONGEST_SLEEP));
            seen = exchange.change_seq();
        }
    });
    let why = outcome.map_err(|error| Error::Os {
        address: exchange.address().to_string(),
        what: "installing the signal handlers",
        source: error,
    })??;

    if !exchange.status()?.halted {
        exchange.halt()?;
    }
    write_lines(&mut record, recorder.poll(exchange)?)
        .and_then(|()| record.flush())
        .map_err(|error| file_error("writing tape.jsonl", error))?;
    samples.push(Sample::take(exchange, start_ms)?);
    let standings = round::ranking(&exchange.traders()?);
    println!(
        "round over ({why}); the market is halted. {} tape entries recorded{}",
        recorder.entries,
        if recorder.missed == 0 {
            ", none missed".to_owned()
        } else {
            format!(
                "; {} MISSED (more than the tape's length went by between two looks)",
                recorder.missed
            )
        }
    );
    print!("{}", round::ranking_text(&standings));
    let ranking = serde_json::json!({
        "address": exchange.address().to_string(),
        "start_ms": start_ms,
        "end_ms": end,
        "seed": seed,
        "entries": recorder.entries,
        "missed": recorder.missed,
        "ranking": standings,
    });
    std::fs::write(
        dir.join("ranking.json"),
        serde_json::to_string_pretty(&ranking).unwrap_or_default() + "\n",
    )
    .map_err(|error| file_error("writing ranking.json", error))?;
    std::fs::write(dir.join("ranking.csv"), round::ranking_csv(&standings))
        .map_err(|error| file_error("writing ranking.csv", error))?;
    draw(&dir.join("round.svg"), &samples)
        .map_err(|reason| file_error("drawing round.svg", io::Error::other(reason)))?;
    println!("files in {}", dir.display());
    Ok(ExitStatus::Success)
}

fn write_lines(out: &mut impl Write, lines: Vec<String>) -> io::Result<()> {
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// One line of the picture: a name and its points (seconds, value).
type Line = (String, Vec<(f64, f64)>);

/// Net worth of each account (top) and buy price of each currency
/// (bottom) over the round.
fn draw(path: &Path, samples: &[Sample]) -> std::result::Result<(), String> {
    let seconds = |sample: &Sample| sample.at_ms as f64 / 1000.0;
    let mut worths: Vec<Line> = Vec::new();
    let mut prices: Vec<Line> = Vec::new();
    for sample in samples {
        for (name, worth) in &sample.net_worths {
            push_point(&mut worths, name, (seconds(sample), worth.to_string()));
        }
        for (name, price) in &sample.prices {
            push_point(&mut prices, name, (seconds(sample), price.to_string()));
        }
    }
    let root = SVGBackend::new(path, (900, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| error.to_string())?;
    let (top, bottom) = root.split_vertically(450);
    panel(&top, "Net worth over the round", "net worth", &worths)?;
    panel(&bottom, "Buy prices over the round", "price", &prices)?;
    root.present().map_err(|error| error.to_string())
}

fn push_point(lines: &mut Vec<Line>, name: &str, (at, value): (f64, String)) {
    let value: f64 = value.parse().unwrap_or(0.0);
    match lines.iter_mut().find(|(line, _)| line == name) {
        Some((_, points)) => points.push((at, value)),
        None => lines.push((name.to_owned(), vec![(at, value)])),
    }
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    what: &str,
    lines: &[Line],
) -> std::result::Result<(), String> {
    let points = || lines.iter().flat_map(|(_, points)| points.iter());
    let last = points().map(|&(at, _)| at).fold(1.0_f64, f64::max);
    let (low, high) = points().fold((f64::MAX, f64::MIN), |(low, high), &(_, value)| {
        (low.min(value), high.max(value))
    });
    let (low, high) = if low > high {
        (0.0, 1.0)
    } else {
        let margin = ((high - low) * 0.1).max(0.01);
        (low - margin, high + margin)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..last, low..high)
        .map_err(|error| error.to_string())?;
    chart
        .configure_mesh()
        .x_desc("seconds into the round")
        .y_desc(what)
        .draw()
        .map_err(|error| error.to_string())?;
    for (index, (name, points)) in lines.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|error| error.to_string())?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|error| error.to_string())
}
