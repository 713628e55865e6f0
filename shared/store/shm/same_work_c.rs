//! [`Exchange::run_in_c`]: runs of the trade done by the hand-written C of
//! `exchange-lab/bench/c/trade.c` (through `shm::c_trade`), looped in C,
//! the anchor of `exchange-lab bench`'s rows (a) and (b). Same segment,
//! same lock, same checks, refusals, journal and wake-up as
//! [`Exchange::trade`], so that the ratio between the two is what the Rust
//! costs. Only the lab calls it; the tests below hold the C to the trade's
//! outcomes, order by order and run by run.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;

use super::rules::{smallest_paying, Refusal};
use super::{check_positive, AccountId, CurrencyId, Exchange, Fill, Side};
use crate::error::{Error, Result};
use crate::money::{Money, Price};
use crate::shm::c_trade::{outcome, CFill, CTrader, CWork};

/// What [`Exchange::run_in_c`] trades.
#[derive(Debug, Clone, Copy)]
pub enum CWorkload {
    /// A buy and a sell of `amount` of `currency`, in turn: bench row (a).
    Alternate { currency: CurrencyId, amount: Money },
    /// A buy of 0.01 to 1.00 of a random currency drawn from `seed`, then
    /// the sell of it, as a stress worker does: bench row (b).
    Pairs { seed: u64 },
}

/// What a run of [`Exchange::run_in_c`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CRun {
    pub traded: u64,
    /// Trades the market's rules refused (a pairs run goes on after them).
    pub refused: u64,
}

impl Exchange {
    /// [`Exchange::trade`], done by the same-work C: the same outcome and
    /// the same errors (a lock error's reason is shorter: the C says only
    /// that the lock could not be taken), on the caller's own accounts.
    #[cfg(test)]
    fn trade_in_c(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        check_positive(amount)?;
        self.known_currency(currency)?;
        let order = crate::shm::c_trade::COrder {
            account: account.index,
            serial: account.serial,
            currency: currency.0 as u32,
            buy: side == Side::Buy,
            amount: amount.hundredths(),
        };
        let (code, fill) = self.writable()?.c_trade(self.c_trader(), order);
        self.c_outcome(code, fill, account, side, currency, amount)
    }

    /// A run of `trades` same-work C trades on `account`, looped in C, so
    /// that its timing holds no Rust: the bench's anchor. Stops at the
    /// first error (for [`CWorkload::Alternate`], at any refusal too, as the
    /// bench's loop over [`Exchange::trade`] does).
    pub fn run_in_c(&self, account: AccountId, workload: CWorkload, trades: u64) -> Result<CRun> {
        let mapping = self.writable()?;
        let (currency, amount, seed, pairs) = match workload {
            CWorkload::Alternate { currency, amount } => {
                check_positive(amount)?;
                self.known_currency(currency)?;
                (currency, amount, 0, 0)
            }
            CWorkload::Pairs { seed } => (CurrencyId(0), Money::ZERO, seed, 1),
        };
        let work = CWork {
            account: account.index,
            serial: account.serial,
            currency: currency.0 as u32,
            pairs,
            amount: amount.hundredths(),
            seed,
            trades,
        };
        let (code, tally) = mapping.c_run(self.c_trader(), work);
        let run = CRun {
            traded: tally.traded,
            refused: tally.refused,
        };
        if code == outcome::TRADED {
            return Ok(run);
        }
        // Only an alternating run stops at a refusal, which names its trade.
        let side = if run.traded % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        self.c_outcome(code, tally.fill, account, side, currency, amount)
            .map(|_| run)
    }

    /// This process as the C trades.
    fn c_trader(&self) -> CTrader {
        CTrader {
            capacity: self.capacity,
            currencies: self.currencies.len(),
            caller: self.caller,
        }
    }

    /// The C's outcome `code` of a trade, as [`Exchange::trade`] reports it.
    fn c_outcome(
        &self,
        code: i32,
        fill: CFill,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        let name = &self.known_currency(currency)?.name;
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

    /// Two fresh default markets, the first for the Rust and the second
    /// for the C, removed when dropped, even by a failing test.
    struct TwoMarkets(Vec<(SegmentAddress, Exchange)>);

    impl TwoMarkets {
        fn new(test: &str) -> TwoMarkets {
            TwoMarkets(
                ["rust", "c"]
                    .iter()
                    .map(|tag| {
                        let address: SegmentAddress =
                            format!("posix:/shmx-{test}-{tag}-{}", std::process::id())
                                .parse()
                                .unwrap();
                        let _ = Exchange::remove(&address);
                        let exchange =
                            Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap();
                        (address, exchange)
                    })
                    .collect(),
            )
        }
    }

    impl Drop for TwoMarkets {
        fn drop(&mut self) {
            for (address, _) in &self.0 {
                let _ = Exchange::remove(address);
            }
        }
    }

    /// The same orders on two markets, one traded by the Rust and one by
    /// the C: the same fills and refusals, the same tape, portfolio, audit
    /// and change counter.
    #[test]
    fn the_c_trade_does_what_the_trade_does() {
        let markets = TwoMarkets::new("same-work");
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
        for (index, (_, exchange)) in markets.0.iter().enumerate() {
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

    /// A run looped in C makes the stress worker's trades: the same
    /// generator, the same pairs, so the same portfolio, tape and audit as
    /// the Rust making them one by one; and an alternating run stops at a
    /// refusal with the error the trade gives.
    #[test]
    fn a_run_in_c_trades_as_the_rust_loop_does() {
        let markets = TwoMarkets::new("c-run");
        let (trades, seed) = (2_001, 7);
        let mut seen = Vec::new();
        for (index, (_, exchange)) in markets.0.iter().enumerate() {
            let account = exchange.open_account("alice").unwrap();
            let run = if index == 0 {
                let currencies: Vec<_> = (0..exchange.currencies().len()).map(CurrencyId).collect();
                let mut random = crate::stress::SplitMix64::new(seed);
                let mut bought = None;
                let mut run = CRun {
                    traded: 0,
                    refused: 0,
                };
                for _ in 0..trades {
                    let (side, currency, amount) = match bought.take() {
                        Some((currency, amount)) => (Side::Sell, currency, amount),
                        None => {
                            let currency = currencies[random.below(4) as usize];
                            let amount = Money::from_hundredths(1 + random.below(100) as i64);
                            (Side::Buy, currency, amount)
                        }
                    };
                    match exchange.trade(account, side, currency, amount) {
                        Ok(_) => {
                            run.traded += 1;
                            if side == Side::Buy {
                                bought = Some((currency, amount));
                            }
                        }
                        Err(error) if error.is_refusal() => run.refused += 1,
                        Err(error) => panic!("{error}"),
                    }
                }
                run
            } else {
                exchange
                    .run_in_c(account, CWorkload::Pairs { seed }, trades)
                    .unwrap()
            };
            let pound = exchange.currency("POUND").unwrap();
            let alternate = CWorkload::Alternate {
                currency: pound,
                amount: Money::from_hundredths(10_000_000),
            };
            let refused = if index == 0 {
                let amount = Money::from_hundredths(10_000_000);
                format!(
                    "{:?}",
                    exchange.trade(account, Side::Buy, pound, amount).err()
                )
            } else {
                format!("{:?}", exchange.run_in_c(account, alternate, 2).err())
            };
            seen.push((
                run,
                refused,
                format!("{:?}", exchange.portfolio(account).unwrap()),
                format!("{:?}", exchange.tape(50).unwrap()),
                exchange.audit().unwrap(),
                exchange.change_seq(),
            ));
        }
        assert_eq!(seen[0], seen[1]);
        assert!(seen[0].0.traded > 1_000);
        assert!(seen[0].1.contains("InsufficientBalance"), "{}", seen[0].1);
        assert!(seen[0].4.consistent);
    }
}
