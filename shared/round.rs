//! The timed round's library half (`trader round`): its end in the
//! market, the clock it is told in, its duration's syntax, and what it
//! leaves behind: every tape entry of the round (JSON lines, gaps named),
//! the net worths and prices sampled over it, and the final ranking as
//! JSON and CSV.
//!
//! The end is a Unix time in milliseconds stored in the market itself (a
//! word of the segment's header, a field of Redis's `meta`), read by every
//! trade where it reads the halt flag. So once the end has passed, every
//! trader refuses to trade whether or not the round's process still runs;
//! `trader round --finish` clears it.
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::domain::{Portfolio, Rate};
use crate::error::{Error, Result};
use crate::follow::{Event, Follower};
use crate::money::{Money, Price, WideMoney};
use crate::store::Market;

/// The shortest and longest round `--for` accepts.
pub const SHORTEST: Duration = Duration::from_secs(1);
pub const LONGEST: Duration = Duration::from_secs(24 * 3600);

/// Now, as a Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Refuses a trade once the round that ends at `end` (Unix milliseconds)
/// is over; no round, or one still running, lets it through.
#[inline]
pub fn check_open(end: Option<u64>) -> Result<()> {
    match end {
        Some(end) if has_ended(end) => Err(Error::RoundOver { ended_at: end }),
        _ => Ok(()),
    }
}

/// Whether a round that ends at `end` (Unix milliseconds) is over.
#[inline]
pub fn has_ended(end: u64) -> bool {
    now_ms() >= end
}

/// A Unix time in milliseconds as the time of day, `14:05:07 UTC`.
pub fn clock(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let of_day = seconds % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The board's line for a round that ends at `end`, seen at `now` (Unix
/// milliseconds): `ROUND: 1:05 left, ends at 14:05:07 UTC`, or
/// `ROUND OVER at 14:05:07 UTC`.
pub fn time_left(end: u64, now: u64) -> String {
    if now >= end {
        return format!("ROUND OVER at {}", clock(end));
    }
    let left = (end - now).div_ceil(1000);
    format!(
        "ROUND: {}:{:02} left, ends at {}",
        left / 60,
        left % 60,
        clock(end)
    )
}

/// A Unix time in milliseconds as `YYYYMMDD-HHMMSS` (UTC), for a folder's
/// name.
pub fn stamp(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let (year, month, day) = civil_date((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses a round's length: a whole number and a unit, `s`, `m` or `h`
/// (`20s`, `5m`, `1h`), from one second to a day.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad =
        || format!("{text:?} is not a duration; give a whole number and s, m or h, e.g. 20s or 5m");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(bad)?;
    let length = Duration::from_secs(seconds);
    if !(SHORTEST..=LONGEST).contains(&length) {
        return Err(format!(
            "a round of {text} is out of range; give from 1s to 24h"
        ));
    }
    Ok(length)
}

/// The folder a round writes to when not told: `round-YYYYMMDD-HHMMSS`
/// after its start.
pub fn default_dir(start_ms: u64) -> String {
    format!("round-{}", stamp(start_ms))
}

/// One look at the market during the round, for the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Milliseconds since the round started.
    pub at_ms: u64,
    /// Every account's net worth, by name.
    pub net_worths: Vec<(String, WideMoney)>,
    /// Every currency's buy price, in the market's order.
    pub prices: Vec<(String, Price)>,
}

impl Sample {
    /// Reads the market now.
    pub fn take(exchange: &dyn Market, start_ms: u64) -> Result<Sample> {
        let traders = exchange.traders()?;
        let rates = exchange.rates()?;
        Ok(Sample::of(
            now_ms().saturating_sub(start_ms),
            &traders,
            &rates,
        ))
    }

    fn of(at_ms: u64, traders: &[Portfolio], rates: &[Rate]) -> Sample {
        Sample {
            at_ms,
            net_worths: traders
                .iter()
                .map(|trader| (trader.name.clone(), trader.net_worth))
                .collect(),
            prices: rates
                .iter()
                .map(|rate| (rate.name.clone(), rate.buy))
                .collect(),
        }
    }
}

/// Follows the tape through the round, handing back each new entry as a
/// JSON line, and counting what went by unseen.
pub struct Recorder {
    follower: Follower,
    /// Entries recorded.
    pub entries: u64,
    /// Entries missed: more than the tape's length between two looks.
    pub missed: u64,
}

impl Recorder {
    /// A recorder of the entries after number `seq` (the round's reset).
    pub fn after(seq: u64) -> Recorder {
        Recorder {
            follower: Follower::after(seq),
            entries: 0,
            missed: 0,
        }
    }

    /// The entries new since the last look, each a line of JSON: the tape
    /// row as `tape --json` shows it, or `{"gap":N}` for entries missed.
    pub fn poll(&mut self, exchange: &dyn Market) -> Result<Vec<String>> {
        let events = self.follower.poll(exchange)?;
        Ok(events
            .iter()
            .map(|event| {
                match event {
                    Event::Entry(_) => self.entries += 1,
                    Event::Gap { gap } => self.missed += gap,
                }
                crate::follow::event_json(event)
            })
            .collect())
    }
}

/// One line of the final ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// 1 for the richest.
    pub rank: usize,
    pub name: String,
    pub net_worth: WideMoney,
    pub balance: Money,
    pub profit: WideMoney,
    /// Holdings, by currency.
    #[serde(serialize_with = "crate::domain::holdings_as_map")]
    pub holdings: Vec<(String, Money)>,
}

/// The final ranking: every account, richest first (as `traders` orders
/// them), numbered from 1.
pub fn ranking(traders: &[Portfolio]) -> Vec<Standing> {
    traders
        .iter()
        .enumerate()
        .map(|(index, trader)| Standing {
            rank: index + 1,
            name: trader.name.clone(),
            net_worth: trader.net_worth,
            balance: trader.balance,
            profit: trader.profit,
            holdings: trader.holdings.clone(),
        })
        .collect()
}

/// The ranking as CSV: a header line, then one line an account.
pub fn ranking_csv(standings: &[Standing]) -> String {
    let mut text = String::from("rank,name,net_worth,balance,profit\n");
    for standing in standings {
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            standing.rank, standing.name, standing.net_worth, standing.balance, standing.profit
        ));
    }
    text
}

/// The ranking for people: one aligned line an account.
pub fn ranking_text(standings: &[Standing]) -> String {
    let width = standings
        .iter()
        .map(|standing| standing.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "RANK  {:<width$}  {:>12}  {:>10}\n",
        "NAME", "NET WORTH", "PROFIT"
    );
    for standing in standings {
        text.push_str(&format!(
            "{:>4}  {:<width$}  {:>12}  {:>10}\n",
            standing.rank,
            standing.name,
            standing.net_worth.to_string(),
            standing.profit.to_string()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_sane_length() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "20",
            "s",
            "5x",
            "-5s",
            "0s",
            "25h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_read_as_a_clock_and_a_stamp() {
        // 2026-12-02 14:05:07 UTC.
        let ms = 1_796_220_307_000;
        assert_eq!(clock(ms), "14:05:07 UTC");
        assert_eq!(stamp(ms), "20261202-140507");
        assert_eq!(stamp(0), "19700101-000000");
        assert_eq!(stamp(951_782_400_000), "20000229-000000");
        assert_eq!(
            time_left(ms, ms - 65_500),
            "ROUND: 1:06 left, ends at 14:05:07 UTC"
        );
        assert_eq!(time_left(ms, ms), "ROUND OVER at 14:05:07 UTC");
    }

    #[test]
    fn a_round_refuses_only_once_over() {
        assert!(check_open(None).is_ok());
        assert!(check_open(Some(now_ms() + 60_000)).is_ok());
        let error = check_open(Some(now_ms() - 1)).unwrap_err();
        assert_eq!(error.code(), "round_over");
        assert!(error.to_string().starts_with("the round ended at "));
    }
}
