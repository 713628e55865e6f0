//! [`Exchange::trade_in_c`]: the trade done by the hand-written C of
//! `exchange-lab/bench/c/trade.c` (through `shm::c_trade`), the anchor of
//! `exchange-lab bench`'s rows (a) and (b). Same segment, same lock, same
//! checks, refusals, journal and wake-up as [`Exchange::trade`], so that
//! the ratio between the two is what the Rust costs. Only the lab calls it.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;

use super::rules::{smallest_paying, Refusal};
use super::{check_positive, AccountId, CurrencyId, Exchange, Fill, Side};
use crate::error::{Error, Result};
use crate::money::{Money, Price};
use crate::shm::c_trade::{outcome, COrder, CTrader};

impl Exchange {
    /// [`Exchange::trade`], done by the same-work C: the same outcome and
    /// the same errors (a lock error's reason is shorter: the C says only
    /// that the lock could not be taken). Inlined into the caller's loop
    /// as [`Exchange::trade`] is.
    #[inline]
    pub fn trade_in_c(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        check_positive(amount)?;
        let name = &self.known_currency(currency)?.name;
        let mapping = self.writable()?;
        let order = COrder {
            account: account.index,
            serial: account.serial,
            currency: currency.0 as u32,
            buy: side == Side::Buy,
            amount: amount.hundredths(),
        };
        let mut trader = CTrader {
            capacity: self.capacity,
            currencies: self.currencies.len(),
            caller: self.caller,
            privileged: false,
        };
        let (mut code, mut fill) = mapping.c_trade(trader, order);
        // As the Rust asks whether the caller owns the exchange only for
        // another user's account: then once more, as the owner or root.
        if code == outcome::NOT_YOURS && self.require_owner("trade").is_ok() {
            trader.privileged = true;
            (code, fill) = mapping.c_trade(trader, order);
        }
        let money = Money::from_hundredths;
        let refusal = match code {
            outcome::TRADED => {
                return Ok(Fill {
                    side,
                    currency,
                    amount,
                    price: Price::from_ten_thousandths(fill.price),
                    total: money(fill.total),
                    balance: money(fill.balance),
                })
            }
            outcome::NOT_POSITIVE => Refusal::NotPositive,
            outcome::OVERFLOW => Refusal::Overflow,
            outcome::NO_BALANCE => Refusal::InsufficientBalance {
                cost: money(fill.total),
                balance: money(fill.balance),
            },
            outcome::NO_STOCK => Refusal::InsufficientStock {
                amount,
                stock: money(fill.balance),
            },
            outcome::NO_HOLDING => Refusal::InsufficientHolding {
                amount,
                holding: money(fill.balance),
            },
            outcome::NO_CASH => Refusal::InsufficientCash {
                proceeds: money(fill.total),
                cash: money(fill.balance),
            },
            outcome::NOTHING_PAID => Refusal::NothingPaid {
                smallest: smallest_paying(Price::from_ten_thousandths(fill.price)),
            },
            outcome::HALTED => return Err(Error::Halted),
            outcome::ROUND_OVER => {
                return Err(Error::RoundOver {
                    ended_at: self.header().round_end.load(Relaxed),
                })
            }
            outcome::ACCOUNT_CLOSED => return Err(Error::AccountClosed),
            outcome::NOT_YOURS => {
                let slot = self.account_slot_in(self.table()?, account)?;
                return Err(Error::NotYourAccount {
                    name: self.name_of(slot)?,
                });
            }
            outcome::NOT_READY => return Err(self.not_ready(self.header().state.load())),
            outcome::LOCK_FAILED => {
                return Err(Error::Lock {
                    address: self.address.to_string(),
                    reason: "the C trade could not take the lock".into(),
                })
            }
            outcome::REPAIR_FAILED => {
                return Err(self.corrupted("a dead owner's pending change could not be replayed"))
            }
            _ => return Err(self.corrupted("the market's tables are not what was attached")),
        };
        Err(refusal.into_error(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MarketConfig, SegmentAddress};

    /// The same orders on two markets, one traded by the Rust and one by
    /// the C: the same fills and refusals, the same tape, portfolio, audit
    /// and change counter.
    #[test]
    fn the_c_trade_does_what_the_trade_does() {
        let markets: Vec<(SegmentAddress, Exchange)> = ["rust", "c"]
            .iter()
            .map(|tag| {
                let address: SegmentAddress =
                    format!("posix:/shmx-same-work-{tag}-{}", std::process::id())
                        .parse()
                        .unwrap();
                let _ = Exchange::remove(&address);
                let exchange = Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap();
                (address, exchange)
            })
            .collect();
        let money = Money::from_hundredths;
        let orders = [
            (Side::Buy, "DOLLAR", money(150)),
            (Side::Buy, "EURO", money(1)),
            (Side::Sell, "DOLLAR", money(50)),
            (Side::Sell, "DOLLAR", money(1_000)),
            (Side::Buy, "DOLLAR", money(1_000_000_000)),
            (Side::Buy, "DOLLAR", money(i64::MAX)),
            (Side::Sell, "EURO", money(1)),
            (Side::Sell, "DOLLAR", money(100)),
        ];
        let mut seen = Vec::new();
        for (index, (_, exchange)) in markets.iter().enumerate() {
            let account = exchange.open_account("alice").unwrap();
            let mut outcomes = Vec::new();
            let mut trade = |side, name: &str, amount| {
                let currency = exchange.currency(name).unwrap();
                let outcome = if index == 0 {
                    exchange.trade(account, side, currency, amount)
                } else {
                    exchange.trade_in_c(account, side, currency, amount)
                };
                outcomes.push(format!("{outcome:?}"));
            };
            for (side, name, amount) in orders {
                trade(side, name, amount);
            }
            // A quote that pays nothing for a cent's worth.
            let euro = exchange.currency("EURO").unwrap();
            exchange
                .set_price(
                    euro,
                    Price::from_ten_thousandths(20_000),
                    Price::from_ten_thousandths(50),
                )
                .unwrap();
            trade(Side::Buy, "EURO", money(1));
            trade(Side::Sell, "EURO", money(1));
            exchange.halt().unwrap();
            trade(Side::Buy, "DOLLAR", money(1));
            seen.push((
                outcomes,
                format!("{:?}", exchange.portfolio(account).unwrap()),
                format!("{:?}", exchange.tape(20).unwrap()),
                exchange.audit().unwrap(),
                exchange.change_seq(),
            ));
        }
        for (address, _) in &markets {
            let _ = Exchange::remove(address);
        }
        let (rust, c) = (&seen[0], &seen[1]);
        assert!(rust.3.consistent && c.3.consistent);
        for (rust, c) in rust.0.iter().zip(&c.0) {
            assert_eq!(rust, c);
        }
        assert_eq!(rust, c);
        assert!(rust.0.iter().any(|outcome| outcome.starts_with("Ok")));
        assert!(
            rust.0
                .iter()
                .filter(|outcome| outcome.starts_with("Err"))
                .count()
                >= 5
        );
    }
}
