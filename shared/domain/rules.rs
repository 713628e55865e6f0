//! The market rules of DESIGN.md as pure functions: given the quote and the
//! four values a trade reads (the exchange's stock and cash, the trader's
//! holding and balance), the new values, or why the trade is refused.
//!
//! No memory, no lock, no atomics: every store applies the same function.
//! The segment calls it under its mutex and commits the outcome through its
//! redo record; a Redis store reads the values, calls it, and commits the
//! outcome with a script that checks the values are unchanged. Either way
//! the rules, the rounding and the refusals are the same.
#![forbid(unsafe_code)]

use super::Side;
use crate::error::Error;
use crate::money::{Money, Price};

/// A currency's two prices: `sell` is what the exchange sells one unit
/// for, `buy` what it pays for one. Both positive, `buy <= sell`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub sell: Price,
    pub buy: Price,
}

/// The values one trade reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The exchange's stock of the currency.
    pub stock: Money,
    /// The trader's holding of the currency.
    pub holding: Money,
    /// The trader's balance.
    pub balance: Money,
    /// The exchange's cash reserve.
    pub cash: Money,
}

/// What a trade does: its price, its total (cost or proceeds) and the
/// values afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub price: Price,
    pub total: Money,
    pub after: Position,
}

/// Why a trade is refused; nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The amount (or, in a damaged store, a price) is not positive.
    NotPositive,
    /// A result would not fit in the market's integers.
    Overflow,
    /// The trader's balance does not cover the cost.
    InsufficientBalance { cost: Money, balance: Money },
    /// The exchange does not hold that much of the currency.
    InsufficientStock { amount: Money, stock: Money },
    /// The trader does not hold that much of the currency.
    InsufficientHolding { amount: Money, holding: Money },
    /// The exchange's cash does not cover the proceeds.
    InsufficientCash { proceeds: Money, cash: Money },
    /// A sell whose proceeds round down to 0.00: it would give currency
    /// away for nothing. `smallest` is the least amount that pays a cent.
    NothingPaid { smallest: Money },
}

impl Refusal {
    /// The library's error for this refusal of a trade in `currency`.
    pub fn into_error(self, currency: &str) -> Error {
        let currency = currency.to_owned();
        match self {
            Refusal::NotPositive => Error::Amount {
                text: String::new(),
                reason: "it must be positive".into(),
            },
            Refusal::Overflow => Error::Overflow,
            Refusal::InsufficientBalance { cost, balance } => {
                Error::InsufficientBalance { cost, balance }
            }
            Refusal::InsufficientStock { amount, stock } => Error::InsufficientStock {
                currency,
                amount,
                stock,
            },
            Refusal::InsufficientHolding { amount, holding } => Error::InsufficientHolding {
                currency,
                amount,
                holding,
            },
            Refusal::InsufficientCash { proceeds, cash } => {
                Error::InsufficientCash { proceeds, cash }
            }
            Refusal::NothingPaid { smallest } => Error::NothingPaid { currency, smallest },
        }
    }
}

/// One trade of `amount` units at `quote`, from `before`.
///
/// - buy: cost = amount x sell, rounded up to the cent; needs
///   `balance >= cost` and `stock >= amount`.
/// - sell: proceeds = amount x buy, rounded down to the cent; needs
///   `holding >= amount`, proceeds of at least a cent, and
///   `cash >= proceeds`.
///
/// Refusals are checked in that order. An outcome conserves
/// `stock + holding` and `cash + balance`, and from non-negative values
/// leaves every value non-negative.
#[inline(always)]
pub fn trade(
    side: Side,
    quote: Quote,
    amount: Money,
    before: Position,
) -> Result<Outcome, Refusal> {
    let positive = |price: Price| price.ten_thousandths() > 0;
    if !amount.is_positive() || !positive(quote.sell) || !positive(quote.buy) {
        return Err(Refusal::NotPositive);
    }
    match side {
        Side::Buy => buy(quote.sell, amount, before),
        Side::Sell => sell(quote.buy, amount, before),
    }
}

#[inline(always)]
fn buy(price: Price, amount: Money, before: Position) -> Result<Outcome, Refusal> {
    let cost = price.cost_of(amount).ok_or(Refusal::Overflow)?;
    if before.balance < cost {
        return Err(Refusal::InsufficientBalance {
            cost,
            balance: before.balance,
        });
    }
    if before.stock < amount {
        return Err(Refusal::InsufficientStock {
            amount,
            stock: before.stock,
        });
    }
    let after = (|| {
        Some(Position {
            stock: before.stock.checked_sub(amount)?,
            holding: before.holding.checked_add(amount)?,
            balance: before.balance.checked_sub(cost)?,
            cash: before.cash.checked_add(cost)?,
        })
    })()
    .ok_or(Refusal::Overflow)?;
    Ok(Outcome {
        price,
        total: cost,
        after,
    })
}

#[inline(always)]
fn sell(price: Price, amount: Money, before: Position) -> Result<Outcome, Refusal> {
    let proceeds = price.proceeds_of(amount).ok_or(Refusal::Overflow)?;
    if before.holding < amount {
        return Err(Refusal::InsufficientHolding {
            amount,
            holding: before.holding,
        });
    }
    if !proceeds.is_positive() {
        return Err(Refusal::NothingPaid {
            smallest: smallest_paying(price),
        });
    }
    if before.cash < proceeds {
        return Err(Refusal::InsufficientCash {
            proceeds,
            cash: before.cash,
        });
    }
    let after = (|| {
        Some(Position {
            stock: before.stock.checked_add(amount)?,
            holding: before.holding.checked_sub(amount)?,
            balance: before.balance.checked_add(proceeds)?,
            cash: before.cash.checked_sub(proceeds)?,
        })
    })()
    .ok_or(Refusal::Overflow)?;
    Ok(Outcome {
        price,
        total: proceeds,
        after,
    })
}

/// The least amount whose proceeds at a positive `price` reach one cent:
/// `amount x price >= 0.01`, in hundredths times ten-thousandths.
pub(crate) fn smallest_paying(price: Price) -> Money {
    const ONE_CENT_IN_PRODUCT_UNITS: i64 = 10_000;
    let price = price.ten_thousandths().max(1);
    Money::from_hundredths((ONE_CENT_IN_PRODUCT_UNITS + price - 1) / price)
}

/// Refuses a non-positive price or a crossed quote (`buy` above `sell`,
/// which would let anyone make money on a round trip), naming it: the
/// owner's `price` on every store.
pub fn check_quote(currency: &str, sell: Price, buy: Price) -> Result<(), Error> {
    for (what, price) in [("sell", sell), ("buy", buy)] {
        if price.ten_thousandths() <= 0 {
            return Err(Error::Price {
                text: format!("{what} {price}"),
                reason: "a price must be positive".into(),
            });
        }
    }
    if buy > sell {
        return Err(Error::CrossedQuote {
            currency: currency.to_owned(),
            sell,
            buy,
        });
    }
    Ok(())
}

/// Why closing `name` is refused when it would carry `value` past the
/// largest amount a market holds: every store says it the same way.
pub fn closing_past_limit(name: &str, value: &str) -> Error {
    Error::PastLimit {
        action: format!("closing {name}"),
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn dollar() -> Quote {
        Quote {
            sell: Price::parse("13.72").unwrap(),
            buy: Price::parse("13.40").unwrap(),
        }
    }

    fn position(stock: &str, holding: &str, balance: &str, cash: &str) -> Position {
        Position {
            stock: money(stock),
            holding: money(holding),
            balance: money(balance),
            cash: money(cash),
        }
    }

    #[test]
    fn a_buy_moves_units_one_way_and_money_the_other() {
        let before = position("10000", "0", "1000", "1000000");
        let outcome = trade(Side::Buy, dollar(), money("10"), before).unwrap();
        assert_eq!(outcome.price, dollar().sell);
        assert_eq!(outcome.total, money("137.20"));
        assert_eq!(
            outcome.after,
            position("9990", "10", "862.80", "1000137.20")
        );
    }

    #[test]
    fn a_sell_is_paid_at_the_buy_price_rounded_down() {
        let sterlin = Quote {
            sell: Price::parse("24.552").unwrap(),
            buy: Price::parse("24.551").unwrap(),
        };
        let before = position("0", "1", "0", "100");
        let outcome = trade(Side::Sell, sterlin, money("0.01"), before).unwrap();
        assert_eq!(outcome.total, money("0.24"));
        assert_eq!(outcome.after, position("0.01", "0.99", "0.24", "99.76"));
    }

    #[test]
    fn each_refusal_names_what_is_short() {
        let before = position("5", "2", "50", "10");
        let refuse = |side, amount| trade(side, dollar(), money(amount), before).unwrap_err();
        assert_eq!(
            refuse(Side::Buy, "4"),
            Refusal::InsufficientBalance {
                cost: money("54.88"),
                balance: money("50")
            }
        );
        let rich = position("1", "2", "5000", "10");
        assert_eq!(
            trade(Side::Buy, dollar(), money("3"), rich).unwrap_err(),
            Refusal::InsufficientStock {
                amount: money("3"),
                stock: money("1")
            }
        );
        assert_eq!(
            refuse(Side::Sell, "3"),
            Refusal::InsufficientHolding {
                amount: money("3"),
                holding: money("2")
            }
        );
        assert_eq!(
            refuse(Side::Sell, "1"),
            Refusal::InsufficientCash {
                proceeds: money("13.40"),
                cash: money("10")
            }
        );
        assert_eq!(refuse(Side::Buy, "0"), Refusal::NotPositive);
        assert_eq!(
            trade(
                Side::Buy,
                dollar(),
                Money::from_hundredths(i64::MAX),
                before
            )
            .unwrap_err(),
            Refusal::Overflow
        );
    }

    #[test]
    fn a_sell_that_pays_nothing_is_refused_naming_the_least_that_pays() {
        let cheap = Quote {
            sell: Price::parse("0.0007").unwrap(),
            buy: Price::parse("0.0003").unwrap(),
        };
        let before = position("0", "1000", "0", "100");
        // 33.33 x 0.0003 = 0.009999: nothing. 33.34 x 0.0003 = 0.010002.
        assert_eq!(
            trade(Side::Sell, cheap, money("33.33"), before).unwrap_err(),
            Refusal::NothingPaid {
                smallest: money("33.34")
            }
        );
        let paid = trade(Side::Sell, cheap, money("33.34"), before).unwrap();
        assert_eq!(paid.total, money("0.01"));
        let message = Refusal::NothingPaid {
            smallest: money("33.34"),
        }
        .into_error("ODD")
        .to_string();
        assert!(
            message.contains("33.34") && message.contains("ODD"),
            "{message}"
        );
    }

    use proptest::prelude::*;

    fn any_position() -> impl Strategy<Value = Position> {
        let value = || prop_oneof![0..10_000_000_i64, 0..i64::MAX / 2, Just(i64::MAX)];
        (value(), value(), value(), value()).prop_map(|(stock, holding, balance, cash)| Position {
            stock: Money::from_hundredths(stock),
            holding: Money::from_hundredths(holding),
            balance: Money::from_hundredths(balance),
            cash: Money::from_hundredths(cash),
        })
    }

    proptest! {
        #[test]
        fn trades_conserve_and_never_go_negative(
            buy_side in any::<bool>(),
            buy in 1..1_000_000_i64,
            spread in 0..1_000_000_i64,
            amount in prop_oneof![1..100_000_i64, 1..i64::MAX],
            before in any_position(),
        ) {
            let side = if buy_side { Side::Buy } else { Side::Sell };
            let quote = Quote {
                sell: Price::from_ten_thousandths(buy + spread),
                buy: Price::from_ten_thousandths(buy),
            };
            let units = |p: Position| i128::from(p.stock.hundredths()) + i128::from(p.holding.hundredths());
            let cents = |p: Position| i128::from(p.cash.hundredths()) + i128::from(p.balance.hundredths());
            if let Ok(outcome) = trade(side, quote, Money::from_hundredths(amount), before) {
                let after = outcome.after;
                prop_assert_eq!(units(after), units(before));
                prop_assert_eq!(cents(after), cents(before));
                for value in [after.stock, after.holding, after.balance, after.cash] {
                    prop_assert!(value >= Money::ZERO, "{:?}", after);
                }
                prop_assert!(outcome.total.is_positive());
            }
        }
    }
}
