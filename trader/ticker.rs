//! `trader ticker`: live prices for a class. Every `--every` seconds it
//! moves each quote one step of the library's seeded random walk
//! ([`shm_exchange::ticker`]) through `Market::tick`: every quote a
//! journaled (on Redis, compare-and-set) change, and the whole tick ONE
//! entry on the tape, so students' trades are not pushed off it; boards
//! and `follow` see it at once.
//!
//! Owner only, checked before anything changes. Each tick starts from the
//! live quotes, read again, so a `price` the instructor sets between two
//! ticks is where the walk goes on from. It runs until SIGINT, SIGTERM or
//! SIGHUP (see [`crate::stop`]), sleeping parked between ticks so a signal
//! ends it at once.
#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use shm_exchange::envelope::Envelope;
use shm_exchange::stress::SplitMix64;
use shm_exchange::ticker::{next_quotes, wrap_phrases, Quote, Step, Tick, TickQuote};
use shm_exchange::{Error, ExitStatus, Market, Result};

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

/// Moves the quotes until stopped, saying so on stdout: one line a tick
/// (broken between currencies to fit a terminal), or one JSON object a
/// tick with `json`.
pub fn run_ticker(
    exchange: &dyn Market,
    options: &TickerOptions,
    json: bool,
) -> Result<ExitStatus> {
    exchange.require_owner("run the ticker")?;
    let currencies = exchange
        .currencies()
        .iter()
        .map(|currency| exchange.currency(&currency.name))
        .collect::<Result<Vec<_>>>()?;
    let width = terminal_width();
    let banner = [
        format!("every {:?},", options.every),
        format!("steps up to {}%,", options.step.percent()),
        format!("seed {};", options.seed),
        "Ctrl-C stops".to_owned(),
    ];
    for line in wrap_phrases(
        &format!("ticker on {}:", exchange.address()),
        &banner,
        " ",
        terminal_width_of(&io::stderr()),
    ) {
        eprintln!("{line}");
    }
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
            let moves: Vec<_> = currencies
                .iter()
                .zip(&quotes)
                .map(|(currency, quote)| (*currency, quote.sell, quote.buy))
                .collect();
            // One tick, one tape entry, whatever it moves.
            exchange.tick(&moves)?;
            tick += 1;
            let report = Tick {
                tick,
                currencies: rates
                    .iter()
                    .zip(&quotes)
                    .map(|(rate, quote)| TickQuote {
                        name: rate.name.clone(),
                        sell: quote.sell,
                        buy: quote.buy,
                    })
                    .collect(),
            };
            let text = if json {
                Envelope::success("ticker", &report).to_json()
            } else {
                report.lines(width).join("\n")
            };
            // Nobody reads the log any more: the prices still move.
            let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
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

/// The width of stdout when it is a terminal: ticks are broken to fit it.
fn terminal_width() -> Option<usize> {
    terminal_width_of(&io::stdout())
}

/// The width of `stream`'s terminal, if it is one.
fn terminal_width_of(stream: &impl IsTerminal) -> Option<usize> {
    if !stream.is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(columns, _)| usize::from(columns))
        .filter(|&columns| columns > 0)
}
