//! What traders and boards read: rates, quotes, portfolios, the ranking,
//! the tape, an account's history, the audit and the status. Each is built
//! from one lock-free [`super::snapshot`], so it is consistent, never
//! waits for a writer, and works on an exchange attached read-only.
#![forbid(unsafe_code)]

use super::snapshot::{AccountCopy, EntryCopy, Parts, Snapshot};
use super::{overflow, Exchange};
use crate::domain::{
    AccountId, Audit, CurrencyCount, CurrencyId, History, MoneyCount, Portfolio, Rate, Side,
    Status, TapeKind, TapeRow, CLOSED,
};
use crate::error::{Error, Result};
use crate::money::{Money, Price};
use crate::shm::layout::entry;

impl Exchange {
    /// The last `limit` entries of the tape, oldest first.
    pub fn tape(&self, limit: usize) -> Result<Vec<TapeRow>> {
        let snapshot = self.snapshot(Parts::ALL)?;
        let entries = snapshot.tape_entries();
        let skip = entries.len().saturating_sub(limit);
        Ok(entries[skip..]
            .iter()
            .filter_map(|entry| self.tape_row(&snapshot, entry))
            .collect())
    }

    /// An account's last `limit` trades on the tape, with its count of
    /// trades in all.
    pub fn history(&self, account: AccountId, limit: usize) -> Result<History> {
        let snapshot = self.snapshot(Parts::ALL)?;
        let slot = open_slot(&snapshot, account)?;
        let mine: Vec<TapeRow> = snapshot
            .tape_entries()
            .iter()
            .filter(|entry| {
                matches!(entry.kind, entry::BUY | entry::SELL)
                    && entry.account == account.index
                    && entry.serial == account.serial
            })
            .filter_map(|entry| self.tape_row(&snapshot, entry))
            .collect();
        let skip = mine.len().saturating_sub(limit);
        Ok(History {
            name: self.copied_name(slot)?,
            rows: mine[skip..].to_vec(),
            trades: slot.trades,
            last_trade: (slot.trades > 0).then_some(slot.last_trade),
        })
    }

    /// One tape entry for people; `None` for an entry that fails a check.
    fn tape_row(&self, snapshot: &Snapshot, entry: &EntryCopy) -> Option<TapeRow> {
        let account_name = || {
            snapshot
                .account(entry.account)
                .filter(|slot| slot.serial == entry.serial)
                .and_then(AccountCopy::name)
                .unwrap_or_else(|| CLOSED.to_owned())
        };
        let currency = || {
            self.currencies
                .get(entry.currency as usize)
                .map(|currency| currency.name.clone())
        };
        let kind = match entry.kind {
            entry::BUY | entry::SELL => TapeKind::Trade {
                account: account_name(),
                side: if entry.kind == entry::BUY {
                    Side::Buy
                } else {
                    Side::Sell
                },
                currency: currency()?,
                amount: Money::from_hundredths(entry.amount),
                price: Price::from_ten_thousandths(entry.price),
                total: Money::from_hundredths(entry.total),
            },
            entry::PRICE => TapeKind::Price {
                currency: currency()?,
                sell: Price::from_ten_thousandths(entry.price),
                buy: Price::from_ten_thousandths(entry.total),
            },
            entry::HALT => TapeKind::Halt,
            entry::RESUME => TapeKind::Resume,
            entry::RESET => TapeKind::Reset,
            entry::CLOSE => TapeKind::Close {
                account: account_name(),
                balance: Money::from_hundredths(entry.total),
            },
            entry::TICK => TapeKind::Tick {
                moves: u32::try_from(entry.amount).ok()?,
            },
            _ => return None,
        };
        Some(TapeRow {
            seq: entry.seq,
            kind,
        })
    }

    /// The live quotes and the exchange's stock.
    pub fn rates(&self) -> Result<Vec<Rate>> {
        Ok(self.rates_of(&self.snapshot(Parts::MARKET)?))
    }

    fn rates_of(&self, snapshot: &Snapshot) -> Vec<Rate> {
        self.currencies
            .iter()
            .zip(snapshot.currencies())
            .map(|(currency, copy)| Rate {
                name: currency.name.clone(),
                sell: Price::from_ten_thousandths(copy.sell),
                buy: Price::from_ten_thousandths(copy.buy),
                stock: Money::from_hundredths(copy.stock),
            })
            .collect()
    }

    /// An account's balance and holdings, valued at the live buy prices.
    pub fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        let snapshot = self.snapshot(Parts::account(account.index))?;
        self.portfolio_of(&snapshot, open_slot(&snapshot, account)?)
    }

    /// Every open account's portfolio, ranked by net worth (balance plus
    /// holdings at the current buy price), richest first; ties by name.
    pub fn traders(&self) -> Result<Vec<Portfolio>> {
        let snapshot = self.snapshot(Parts::ACCOUNTS)?;
        let mut traders = snapshot
            .accounts
            .iter()
            .filter(|slot| slot.is_open())
            .map(|slot| self.portfolio_of(&snapshot, slot))
            .collect::<Result<Vec<_>>>()?;
        traders.sort_by(|a, b| b.net_worth.cmp(&a.net_worth).then(a.name.cmp(&b.name)));
        Ok(traders)
    }

    fn copied_name(&self, slot: &AccountCopy) -> Result<String> {
        slot.name()
            .ok_or_else(|| self.corrupted("an account name is invalid"))
    }

    fn portfolio_of(&self, snapshot: &Snapshot, slot: &AccountCopy) -> Result<Portfolio> {
        let holdings = self
            .currencies
            .iter()
            .zip(snapshot.currencies())
            .zip(slot.holdings)
            .map(|((currency, copy), held)| {
                (
                    currency.name.clone(),
                    Money::from_hundredths(held),
                    Price::from_ten_thousandths(copy.buy),
                )
            });
        Ok(Portfolio::valued(
            self.copied_name(slot)?,
            Money::from_hundredths(slot.balance),
            holdings,
            Money::from_hundredths(snapshot.starting_balance),
        ))
    }

    /// What each new account starts with, from a snapshot.
    pub fn starting_balance(&self) -> Result<Money> {
        let snapshot = self.snapshot(Parts::MARKET)?;
        Ok(Money::from_hundredths(snapshot.starting_balance))
    }

    /// The price and total of a trade at the live quote, without trading.
    pub fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        self.known_currency(currency)?;
        let snapshot = self.snapshot(Parts::MARKET)?;
        let copy = snapshot
            .currencies()
            .get(currency.0)
            .ok_or_else(|| self.corrupted("no such currency slot"))?;
        let (price, total) = match side {
            Side::Buy => {
                let price = Price::from_ten_thousandths(copy.sell);
                (price, price.cost_of(amount))
            }
            Side::Sell => {
                let price = Price::from_ten_thousandths(copy.buy);
                (price, price.proceeds_of(amount))
            }
        };
        Ok((price, total.ok_or_else(overflow)?))
    }

    /// Checks both conservation laws on one snapshot. The starting
    /// balances are those handed out since creation or the last reset,
    /// closed accounts' included: their balance went to the cash.
    pub fn audit(&self) -> Result<Audit> {
        let snapshot = self.snapshot(Parts::ACCOUNTS)?;
        let currencies = self
            .currencies
            .iter()
            .zip(snapshot.currencies())
            .enumerate()
            .map(|(index, (currency, copy))| CurrencyCount {
                name: currency.name.clone(),
                stock: copy.stock,
                initial: copy.initial_stock,
                held: snapshot
                    .accounts
                    .iter()
                    .map(|slot| i128::from(slot.holdings[index]))
                    .sum(),
            });
        Ok(Audit::of(
            currencies,
            MoneyCount {
                cash: snapshot.cash,
                balances: snapshot
                    .accounts
                    .iter()
                    .map(|slot| i128::from(slot.balance))
                    .sum(),
                initial_cash: snapshot.initial_cash,
                starting_balance: snapshot.starting_balance,
                accounts: open_count(&snapshot),
                handed_out: snapshot.handed_out,
            },
        ))
    }

    /// The header, sizes and what the operating system says, without the
    /// lock.
    pub fn status(&self) -> Result<Status> {
        let backing = self.check_backing()?;
        let snapshot = self.snapshot(Parts::ACCOUNTS)?;
        Ok(Status {
            address: self.address.to_string(),
            size: backing.size,
            mode: format!("{:04o}", backing.mode),
            owner_uid: backing.uid,
            // Not counting this process, which is attached to ask.
            attached: backing.attached.map(|count| count.saturating_sub(1)),
            layout_version: self
                .header()
                .layout_version
                .load(std::sync::atomic::Ordering::Relaxed),
            accounts: open_count(&snapshot),
            account_capacity: self.capacity,
            cash: Money::from_hundredths(snapshot.cash),
            trades: snapshot.trade_seq,
            halted: snapshot.halted(),
            unlocked_trades: u64::from(
                self.header()
                    .unlocked_trades
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            currencies: self.rates_of(&snapshot),
        })
    }
}

/// The account's slot in the snapshot, if it is still that account.
fn open_slot(snapshot: &Snapshot, account: AccountId) -> Result<&AccountCopy> {
    snapshot
        .account(account.index)
        .filter(|slot| slot.is_open() && slot.serial == account.serial)
        .ok_or(Error::AccountClosed)
}

fn open_count(snapshot: &Snapshot) -> u32 {
    snapshot
        .accounts
        .iter()
        .filter(|slot| slot.is_open())
        .count() as u32
}
