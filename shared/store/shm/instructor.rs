//! The owner's commands: set a quote, halt and resume trading, reset the
//! market, close an account. Each checks the caller is the exchange's
//! owner (or root) before it takes the lock, so a refused one changes
//! nothing; each is one change through the journal, all-or-nothing
//! against a SIGKILL at any instruction, and each leaves an entry on the
//! tape.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;

use super::accounts::find_open;
use super::record::Redo;
use super::rules::closing_past_limit;
use super::tape::EntryValues;
use super::{overflow, rules, CurrencyId, Exchange};
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::money::{Money, Price};
use crate::shm::layout::{account, entry, flags, MAX_CURRENCIES};

impl Exchange {
    /// Sets a currency's quote: what the exchange sells one unit for and
    /// what it pays for one. Both must be positive and `buy <= sell`: a
    /// crossed quote would let anyone make money on a round trip. Owner
    /// only.
    pub fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()> {
        self.require_owner("set prices")?;
        rules::check_quote(&self.known_currency(currency)?.name, sell, buy)?;
        self.instructor_change(|| {
            let change = Redo::Price {
                currency: currency.0 as u32,
                seq: 0,
                sell: sell.ten_thousandths(),
                buy: buy.ten_thousandths(),
            };
            let entry = EntryValues {
                kind: entry::PRICE,
                currency: currency.0 as u32,
                price: sell.ten_thousandths(),
                total: buy.ten_thousandths(),
                ..EntryValues::default()
            };
            Ok((change, entry, ()))
        })
    }

    /// One tick of the ticker: sets every quote in `quotes` (checked as
    /// [`Exchange::set_price`] checks one, all before any is set), under
    /// one hold of the lock, and leaves ONE tape entry for them all, so a
    /// tick does not push the students' trades off the tape. Each quote is
    /// its own journaled change, all-or-nothing; the tick's entry comes
    /// with the last, so a ticker killed half-way leaves the quotes it set
    /// and no entry. Owner only.
    pub fn tick(&self, quotes: &[(CurrencyId, Price, Price)]) -> Result<()> {
        self.require_owner("run the ticker")?;
        for &(currency, sell, buy) in quotes {
            rules::check_quote(&self.known_currency(currency)?.name, sell, buy)?;
        }
        let Some((last, before)) = quotes.split_last() else {
            return Ok(());
        };
        let mut locked = self.lock()?;
        crash_point(Step::AfterLock);
        let table = self.table()?;
        for &(currency, sell, buy) in before {
            // No entry: the record keeps `trade_seq` where it is.
            let change = Redo::Price {
                currency: currency.0 as u32,
                seq: self.header().lock.trade_seq.load(Relaxed),
                sell: sell.ten_thousandths(),
                buy: buy.ten_thousandths(),
            };
            locked.commit(table, change, None);
        }
        let &(currency, sell, buy) = last;
        let change = Redo::Price {
            currency: currency.0 as u32,
            seq: 0,
            sell: sell.ten_thousandths(),
            buy: buy.ten_thousandths(),
        };
        let entry = EntryValues {
            kind: entry::TICK,
            amount: i64::try_from(quotes.len()).map_err(|_| overflow())?,
            ..EntryValues::default()
        };
        locked.commit(table, change, Some(entry));
        crash_point(Step::BeforeUnlock);
        drop(locked);
        self.wake_watchers();
        Ok(())
    }

    /// Stops trading: trades are refused with "trading is halted" until
    /// [`Exchange::resume`]; reads go on. Owner only.
    pub fn halt(&self) -> Result<()> {
        self.require_owner("halt trading")?;
        self.set_halted(true)
    }

    /// Lets trading go on after [`Exchange::halt`]. Owner only.
    pub fn resume(&self) -> Result<()> {
        self.require_owner("resume trading")?;
        self.set_halted(false)
    }

    fn set_halted(&self, halted: bool) -> Result<()> {
        self.instructor_change(|| {
            let current = self.header().flags.load(Relaxed);
            let (flags, kind) = if halted {
                (current | flags::HALTED, entry::HALT)
            } else {
                (current & !flags::HALTED, entry::RESUME)
            };
            let entry = EntryValues {
                kind,
                ..EntryValues::default()
            };
            Ok((Redo::Flags { seq: 0, flags }, entry, ()))
        })
    }

    /// Puts every account back to the starting balance with no holdings,
    /// the stock and cash to their initial values, and clears the tape
    /// (the reset's own entry starts it again). Accounts stay open. Owner
    /// only.
    pub fn reset(&self) -> Result<()> {
        self.require_owner("reset the market")?;
        self.instructor_change(|| {
            let open = self
                .accounts_in_use()?
                .iter()
                .filter(|slot| slot.status.load(Relaxed) == account::OPEN)
                .count();
            let change = Redo::Reset {
                seq: 0,
                handed_out: u32::try_from(open).map_err(|_| overflow())?,
            };
            let entry = EntryValues {
                kind: entry::RESET,
                ..EntryValues::default()
            };
            Ok((change, entry, ()))
        })
    }

    /// Closes an account: its holdings go back to the stock and its
    /// balance to the cash, and its slot may later hold a new account.
    /// Returns the balance given back. Owner only.
    pub fn close_account(&self, name: &str) -> Result<Money> {
        self.require_owner("close accounts")?;
        self.instructor_change(|| {
            let header = self.header();
            let in_use = self.accounts_in_use()?;
            let index = find_open(in_use, name).ok_or_else(|| Error::UnknownAccount {
                name: name.to_owned(),
            })?;
            let slot = &in_use[index];
            let mut stocks = [0; MAX_CURRENCIES];
            for (((stock, currency), holding), info) in stocks
                .iter_mut()
                .zip(&header.currencies[..self.currencies.len()])
                .zip(&slot.holdings)
                .zip(&self.currencies)
            {
                *stock = currency
                    .stock
                    .load(Relaxed)
                    .checked_add(holding.load(Relaxed))
                    .ok_or_else(|| {
                        closing_past_limit(name, &format!("the stock of {}", info.name))
                    })?;
            }
            let balance = slot.balance.load(Relaxed);
            let cash = header
                .lock
                .cash
                .load(Relaxed)
                .checked_add(balance)
                .ok_or_else(|| closing_past_limit(name, "the exchange's cash"))?;
            let change = Redo::Close {
                account: index as u32,
                seq: 0,
                cash,
                stocks,
            };
            let entry = EntryValues {
                kind: entry::CLOSE,
                account: index as u32,
                serial: slot.serial.load(Relaxed),
                total: balance,
                ..EntryValues::default()
            };
            Ok((change, entry, Money::from_hundredths(balance)))
        })
    }

    /// Takes the lock, builds one of the owner's changes from what it reads
    /// under it, commits it with its tape entry, and wakes the boards.
    fn instructor_change<T>(
        &self,
        build: impl FnOnce() -> Result<(Redo, EntryValues, T)>,
    ) -> Result<T> {
        let mut locked = self.lock()?;
        crash_point(Step::AfterLock);
        let (change, entry, outcome) = build()?;
        locked.commit(self.table()?, change, Some(entry));
        crash_point(Step::BeforeUnlock);
        drop(locked);
        self.wake_watchers();
        Ok(outcome)
    }
}
