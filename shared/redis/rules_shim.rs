//! A stand-in for `crate::market::rules`, which the core split introduces:
//! today's buy and sell logic of `Exchange::trade`, behind the agreed pure
//! API. Delete this file at the merge and point the one `use` in
//! `trading.rs` at `crate::market::rules`.
#![forbid(unsafe_code)]

use crate::error::Error;
use crate::market::Side;
use crate::money::{Money, Price};

/// A currency's two prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub sell: Price,
    pub buy: Price,
}

/// The four values a trade reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub stock: Money,
    pub holding: Money,
    pub balance: Money,
    pub cash: Money,
}

/// What a trade does: its price, its total and the new values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub price: Price,
    pub total: Money,
    pub after: Position,
}

/// Why a trade is refused; nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotPositive,
    Overflow,
    InsufficientBalance { cost: Money, balance: Money },
    InsufficientStock { amount: Money, stock: Money },
    InsufficientHolding { amount: Money, holding: Money },
    InsufficientCash { proceeds: Money, cash: Money },
    NothingPaid { smallest: Money },
}

impl Refusal {
    /// The library error for this refusal, naming the currency.
    pub fn into_error(self, currency: &str) -> Error {
        let currency = currency.to_owned();
        match self {
            Refusal::NotPositive => Error::Amount {
                text: Money::ZERO.to_string(),
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
            Refusal::NothingPaid { smallest } => Error::Amount {
                text: format!("less than {smallest}"),
                reason: format!(
                    "the exchange would pay 0.00 for it; the smallest amount of {currency} that pays is {smallest}"
                ),
            },
        }
    }
}

/// Buys or sells `amount` against `before`, or says why not.
pub fn trade(
    side: Side,
    quote: Quote,
    amount: Money,
    before: Position,
) -> Result<Outcome, Refusal> {
    if !amount.is_positive() {
        return Err(Refusal::NotPositive);
    }
    let Position {
        stock,
        holding,
        balance,
        cash,
    } = before;
    match side {
        Side::Buy => {
            let cost = quote.sell.cost_of(amount).ok_or(Refusal::Overflow)?;
            if balance < cost {
                return Err(Refusal::InsufficientBalance { cost, balance });
            }
            if stock < amount {
                return Err(Refusal::InsufficientStock { amount, stock });
            }
            let after = (|| {
                Some(Position {
                    stock: stock.checked_sub(amount)?,
                    holding: holding.checked_add(amount)?,
                    balance: balance.checked_sub(cost)?,
                    cash: cash.checked_add(cost)?,
                })
            })()
            .ok_or(Refusal::Overflow)?;
            Ok(Outcome {
                price: quote.sell,
                total: cost,
                after,
            })
        }
        Side::Sell => {
            let proceeds = quote.buy.proceeds_of(amount).ok_or(Refusal::Overflow)?;
            if !proceeds.is_positive() {
                return Err(Refusal::NothingPaid {
                    smallest: smallest_paying(quote.buy),
                });
            }
            if holding < amount {
                return Err(Refusal::InsufficientHolding { amount, holding });
            }
            if cash < proceeds {
                return Err(Refusal::InsufficientCash { proceeds, cash });
            }
            let after = (|| {
                Some(Position {
                    stock: stock.checked_add(amount)?,
                    holding: holding.checked_sub(amount)?,
                    balance: balance.checked_add(proceeds)?,
                    cash: cash.checked_sub(proceeds)?,
                })
            })()
            .ok_or(Refusal::Overflow)?;
            Ok(Outcome {
                price: quote.buy,
                total: proceeds,
                after,
            })
        }
    }
}

/// The smallest amount whose proceeds at `buy` are at least 0.01: amount
/// (hundredths) x buy (ten-thousandths) must reach 10,000 millionths.
fn smallest_paying(buy: Price) -> Money {
    let buy = buy.ten_thousandths().max(1);
    Money::from_hundredths((10_000 + buy - 1) / buy)
}
