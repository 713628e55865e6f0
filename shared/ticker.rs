//! `trader ticker`'s random walk: live prices for a class, so that buying
//! low and selling high is possible and a leaderboard means something.
//!
//! Each tick moves a currency's buy price by a random step of at most
//! `step` percent either way and puts the sell price the same spread above
//! it, so the exchange keeps its margin and a quote is never crossed. The
//! walk is a pure function of a seeded generator: the same seed replays
//! the same prices, which a lesson (or a test) can rely on. Prices stay
//! within `0.0001 ..= `[`HIGHEST_PRICE`], in exact ten-thousandths.
#![forbid(unsafe_code)]

use crate::money::{Money, Price};
use crate::stress::SplitMix64;

/// A quote the walk moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// What the exchange sells one unit for.
    pub sell: Price,
    /// What the exchange pays for one unit; always below `sell`.
    pub buy: Price,
}

/// The highest sell price the walk makes: a million a unit.
pub const HIGHEST_PRICE: Price = Price::from_ten_thousandths(1_000_000 * 10_000);

/// The largest step of one tick, in hundredths of a percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    basis_points: i64,
}

/// The largest step the ticker accepts: half the price in one tick.
const MAX_STEP_BASIS_POINTS: i64 = 5_000;

impl Step {
    /// Parses `--step PERCENT`: a decimal with at most two places, above 0
    /// and at most 50.
    pub fn parse(text: &str) -> Result<Step, String> {
        let hundredths = Money::parse(text)
            .map_err(|error| format!("the step {text:?} is not a percentage: {error}"))?
            .hundredths();
        if !(1..=MAX_STEP_BASIS_POINTS).contains(&hundredths) {
            return Err(format!(
                "the step {text}% is out of range; give a percentage from 0.01 to 50"
            ));
        }
        Ok(Step {
            basis_points: hundredths,
        })
    }

    /// The step as a percentage, for people.
    pub fn percent(self) -> Money {
        Money::from_hundredths(self.basis_points)
    }
}

/// Every quote moved by one tick of the walk, in the same order.
pub fn next_quotes(random: &mut SplitMix64, quotes: &[Quote], step: Step) -> Vec<Quote> {
    quotes
        .iter()
        .map(|quote| next_quote(random, *quote, step))
        .collect()
}

fn next_quote(random: &mut SplitMix64, quote: Quote, step: Step) -> Quote {
    let highest = HIGHEST_PRICE.ten_thousandths();
    let buy = i128::from(quote.buy.ten_thousandths().clamp(1, highest - 1));
    // Keep the spread, at least one ten-thousandth so sell stays above buy.
    let spread = (i128::from(quote.sell.ten_thousandths()) - buy).clamp(1, i128::from(highest) / 2);
    let reach = step.basis_points as u64;
    let change = i128::from(random.below(2 * reach + 1)) - i128::from(reach as i64);
    let moved = (buy * (10_000 + change) + 5_000).div_euclid(10_000);
    let buy = moved.clamp(1, i128::from(highest) - spread);
    let as_price = |value: i128| Price::from_ten_thousandths(value as i64);
    Quote {
        sell: as_price(buy + spread),
        buy: as_price(buy),
    }
}

/// One tick as the ticker reports it: its number and every quote it set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tick {
    pub tick: u64,
    pub currencies: Vec<TickQuote>,
}

/// One currency's new quote in a [`Tick`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickQuote {
    pub name: String,
    pub sell: Price,
    pub buy: Price,
}

impl Tick {
    /// The tick for people: `tick 3  DOLLAR 13.72/13.40  EURO ...` on one
    /// line, or, with a `width` (a terminal's), broken between currencies
    /// so that no line is wider, later lines indented under the first
    /// currency; a currency's quote is never split.
    pub fn lines(&self, width: Option<usize>) -> Vec<String> {
        let head = format!("tick {}", self.tick);
        let phrases: Vec<String> = self
            .currencies
            .iter()
            .map(|quote| format!("{} {}/{}", quote.name, quote.sell, quote.buy))
            .collect();
        wrap_phrases(&head, &phrases, "  ", width)
    }
}

/// `head` then each phrase, `separator` apart, on as few lines as fit
/// `width` (all on one without a width); a line that goes on is indented
/// to where the first phrase starts. A phrase is never broken.
pub fn wrap_phrases(
    head: &str,
    phrases: &[String],
    separator: &str,
    width: Option<usize>,
) -> Vec<String> {
    let indent = " ".repeat(head.chars().count() + separator.len());
    let mut lines = Vec::new();
    let mut line = head.to_owned();
    let mut empty = head.is_empty();
    for phrase in phrases {
        let room = width.unwrap_or(usize::MAX);
        let longer = line.chars().count() + separator.len() + phrase.chars().count();
        if empty {
            line.push_str(phrase);
            empty = false;
        } else if longer <= room || line.trim().is_empty() {
            line.push_str(separator);
            line.push_str(phrase);
        } else {
            lines.push(std::mem::replace(&mut line, format!("{indent}{phrase}")));
        }
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quote(sell: i64, buy: i64) -> Quote {
        Quote {
            sell: Price::from_ten_thousandths(sell),
            buy: Price::from_ten_thousandths(buy),
        }
    }

    #[test]
    fn a_tick_breaks_between_currencies_never_inside_one() {
        let tick = Tick {
            tick: 12,
            currencies: ["DOLLAR", "EURO", "STERLIN", "POUND"]
                .iter()
                .map(|name| TickQuote {
                    name: (*name).to_owned(),
                    sell: Price::from_ten_thousandths(245_525),
                    buy: Price::from_ten_thousandths(245_515),
                })
                .collect(),
        };
        let one = tick.lines(None);
        assert_eq!(one.len(), 1);
        assert!(one[0].starts_with("tick 12  DOLLAR 24.5525/24.5515  EURO"));
        let wrapped = tick.lines(Some(80));
        assert_eq!(wrapped.len(), 2, "{wrapped:?}");
        for line in &wrapped {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
        assert!(
            wrapped[1].starts_with("         POUND 24.5525/24.5515"),
            "{wrapped:?}"
        );
        assert_eq!(
            wrapped.join(" ").split_whitespace().collect::<Vec<_>>(),
            one[0].split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn steps_parse_as_percentages() {
        assert_eq!(Step::parse("1").unwrap().basis_points, 100);
        assert_eq!(Step::parse("0.25").unwrap().percent().to_string(), "0.25");
        for bad in ["0", "-1", "50.01", "1.001", "x", ""] {
            assert!(Step::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_market_walks_and_keeps_its_spreads() {
        let mut random = SplitMix64::new(7);
        let start = [quote(137_200, 134_000), quote(245_520, 245_510)];
        let mut quotes = start.to_vec();
        for _ in 0..100 {
            quotes = next_quotes(&mut random, &quotes, Step::parse("1").unwrap());
        }
        assert_ne!(quotes, start, "a hundred ticks moved nothing");
        for (moved, before) in quotes.iter().zip(&start) {
            assert_eq!(
                moved.sell.ten_thousandths() - moved.buy.ten_thousandths(),
                before.sell.ten_thousandths() - before.buy.ten_thousandths()
            );
        }
    }

    proptest! {
        #[test]
        fn sell_stays_above_buy_above_zero(
            seed: u64,
            buy in prop_oneof![1..100_i64, 1..HIGHEST_PRICE.ten_thousandths()],
            spread in prop_oneof![0..10_i64, 0..HIGHEST_PRICE.ten_thousandths()],
            basis_points in 1..=MAX_STEP_BASIS_POINTS,
            ticks in 1..50_usize,
        ) {
            let step = Step { basis_points };
            let mut random = SplitMix64::new(seed);
            let mut quotes = vec![quote(buy.saturating_add(spread), buy)];
            for _ in 0..ticks {
                quotes = next_quotes(&mut random, &quotes, step);
                let Quote { sell, buy } = quotes[0];
                prop_assert!(buy.ten_thousandths() > 0);
                prop_assert!(sell > buy);
                prop_assert!(sell <= HIGHEST_PRICE);
            }
        }

        #[test]
        fn a_tick_moves_at_most_the_step(
            seed: u64,
            buy in 10_000..10_000_000_i64,
            spread in 1..10_000_i64,
            basis_points in 1..=MAX_STEP_BASIS_POINTS,
        ) {
            let step = Step { basis_points };
            let before = quote(buy + spread, buy);
            let after = next_quotes(&mut SplitMix64::new(seed), &[before], step)[0];
            let moved = (after.buy.ten_thousandths() - buy).abs();
            // Rounding to the nearest ten-thousandth adds at most one.
            prop_assert!(i128::from(moved) * 10_000 <= i128::from(buy) * i128::from(basis_points) + 10_000);
            prop_assert_eq!(after.sell.ten_thousandths() - after.buy.ten_thousandths(), spread);
        }

        #[test]
        fn the_same_seed_makes_the_same_walk(seed: u64, buy in 1..1_000_000_i64) {
            let start = vec![quote(buy + 100, buy); 4];
            let walk = |seed| {
                let mut random = SplitMix64::new(seed);
                (0..20)
                    .scan(start.clone(), |quotes, _| {
                        *quotes = next_quotes(&mut random, quotes, Step { basis_points: 250 });
                        Some(quotes.clone())
                    })
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(walk(seed), walk(seed));
        }
    }
}
