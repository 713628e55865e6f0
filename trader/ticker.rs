//! `trader ticker`: live prices for a class. Every `--every` seconds it
//! moves each quote one step of the library's seeded random walk
//! ([`shm_exchange::ticker`]) through `Store::set_price`, so each move is
//! a journaled (on Redis, compare-and-set) change on the tape, and boards and `follow` see it at once.
//!
//! Owner only, checked before anything changes. Each tick starts from the
//! live quotes, read again, so a `price` the instructor sets between two
//! ticks is where the walk goes on from. It runs until SIGINT, SIGTERM or
//! SIGHUP (see [`crate::stop`]), sleeping parked between ticks so a signal
//! ends it at once.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::time::{Duration, Instant};

use shm_exchange::stress::SplitMix64;
use shm_exchange::ticker::{next_quotes, Quote, Step};
use shm_exchange::{Error, ExitStatus, Result, Store};

use crate::stop::until_signalled;

/// How the ticker walks.
pub struct TickerOptions {
    pub every: Duration,
    pub step: Step,
    pub seed: u64,
}

/// Parses `--every SECONDS`: from 0.01 to 3600.
pub fn parse_every(text: &str) -> std::result::Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.01..=3600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0.01 to 3600"
        )),
    }
}

/// A seed for a run that was not given one, printed so it can be replayed.
pub fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// Moves the quotes until stopped.
pub fn run_ticker(exchange: &Store, options: &TickerOptions) -> Result<ExitStatus> {
    exchange.require_owner("run the ticker")?;
    let currencies = exchange
        .currencies()
        .iter()
        .map(|currency| exchange.currency(&currency.name))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "ticker on {}: every {:?}, steps up to {}%, seed {}; Ctrl-C stops",
        exchange.address(),
        options.every,
        options.step.percent(),
        options.seed
    );
    let mut random = SplitMix64::new(options.seed);
    let ticker = std::thread::current();
    let wake = move || ticker.unpark();
    let outcome = until_signalled(&wake, |stop| {
        let stopped = || stop.load(std::sync::atomic::Ordering::Acquire);
        let mut stdout = io::stdout().lock();
        let mut tick = 0_u64;
        while !stopped() {
            let next_tick = Instant::now() + options.every;
            let rates = exchange.rates()?;
            let live: Vec<Quote> = rates
                .iter()
                .map(|rate| Quote {
                    sell: rate.sell,
                    buy: rate.buy,
                })
                .collect();
            let quotes = next_quotes(&mut random, &live, options.step);
            tick += 1;
            let mut line = format!("tick {tick}");
            for ((currency, quote), rate) in currencies.iter().zip(&quotes).zip(&rates) {
                exchange.set_price(*currency, quote.sell, quote.buy)?;
                line.push_str(&format!("  {} {}/{}", rate.name, quote.sell, quote.buy));
            }
            // Nobody reads the log any more: the prices still move.
            let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
            while !stopped() {
                let left = next_tick.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
            }
        }
        Ok(ExitStatus::Success)
    });
    outcome.unwrap_or_else(|error| {
        Err(Error::Os {
            address: exchange.address().to_string(),
            what: "installing the signal handlers",
            source: error,
        })
    })
}
