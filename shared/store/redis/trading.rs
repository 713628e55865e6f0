//! Opening and finding accounts, trading, and moving the exchange's cash
//! to an account: each write an optimistic update (decide in Rust from
//! values read, commit with a script that checks they still allow it).
//! The decisions are the segment's: the trade itself is `rules::trade`,
//! committed by the trade script ([`super::delta`]); the others by the
//! compare-and-set script.
//!
//! An account belongs to the uid that opened it (as the segment's do):
//! another uid may read it, but only its owner, the market's owner and
//! root may trade on it. Slots are taken as on a segment: a new account
//! takes a never-used slot while there is one, else the first closed one.
//! A closed account's hash keeps its name (the tape names it) until then,
//! and its name may be opened afresh at once. Each opening gets a new
//! serial, so an id of a closed account is refused even once its slot
//! holds another.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;
use std::sync::PoisonError;

use super::commit::{Kind, Plan, Writes, MAX_ATTEMPTS, META};
use super::delta::{self, Delta, TradeWrite, Traded};
use super::keys::{self, account, currency, meta};
use super::tape::EntryKind;
use super::{value, AccountId, CurrencyId, Fill, RedisMarket};
use crate::domain::rules;
use crate::domain::MAX_ACCOUNTS;
use crate::domain::TAPE_LEN;
use crate::domain::{Currency, Receipt, Side};
use crate::error::{Error, Result};
use crate::money::{Money, Price};
use crate::names::is_account_name;

impl RedisMarket {
    /// The currencies, in the market's order.
    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    /// Finds a currency by name, ignoring case.
    pub fn currency(&self, name: &str) -> Result<CurrencyId> {
        crate::domain::find_currency(&self.currencies, name)
    }

    /// A currency's name.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        self.currencies
            .get(currency.0)
            .ok_or_else(|| self.link.corrupted("no such currency slot"))
    }

    /// [`RedisMarket::open_account`]: on Redis nothing holds a lock to
    /// wait for, so it opens (or finds) the account, unless the market is
    /// halted and the caller is not its owner: then `None`, and a read
    /// shows the account as not open yet.
    pub fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>> {
        match self.open_account(name) {
            Err(Error::Halted) => Ok(None),
            opened => opened.map(Some),
        }
    }

    /// Opens the named account for this process's uid, or finds it if it
    /// is open already (whoever owns it). A new account takes a never-used
    /// slot, else the first closed one, as on a segment.
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        self.rebuilding(|| {
            if let Some(found) = self.find_account(name)? {
                return Ok(Some(found));
            }
            let (slot, count) = self.free_slot()?;
            let names = &self.link.keys;
            let mut watch = self.watch();
            let [count_at, open_at, handed_out_at, serial_at, halted_at] = [
                meta::ACCOUNT_COUNT,
                meta::OPEN_ACCOUNTS,
                meta::HANDED_OUT,
                meta::ACCOUNT_SERIAL,
                meta::HALTED,
            ]
            .map(|field| watch.field(META, field));
            let index = watch.key(names.accounts(), Kind::Hash);
            let found_at = watch.field(index, name);
            let key = watch.key(names.account(slot), Kind::Hash);
            let status_at = watch.field(key, account::STATUS);
            self.link.optimistic(&watch, |values| {
                self.check_live(values)?;
                // Opened meanwhile, or the slot was taken: look again.
                if value(values, found_at).is_some()
                    || self.slots_used(values, count_at)? != count
                    || (slot < count && value(values, status_at) != Some(keys::CLOSED))
                {
                    return Ok(Plan::Done(None));
                }
                // A halted market opens none but the owner's: opening hands
                // out a starting balance.
                if self.halted(values, halted_at)? && self.require_owner("open an account").is_err()
                {
                    return Err(Error::Halted);
                }
                let open = self.counter(values, open_at, "the open account count")?;
                if open >= self.capacity {
                    return Err(Error::AccountTableFull {
                        capacity: self.capacity,
                    });
                }
                let handed_out = self.counter(values, handed_out_at, "the handed-out count")?;
                let serial = self
                    .counter(values, serial_at, "the account serial")?
                    .checked_add(1)
                    .ok_or(Error::Overflow)?;
                let mut writes = Writes::new(&watch);
                writes.delete(key);
                writes.set(key, account::NAME, name);
                writes.set(key, account::OWNER, self.caller);
                writes.set(key, account::STATUS, keys::OPEN);
                writes.set(key, account::SERIAL, serial);
                writes.set(key, account::BALANCE, self.starting_balance.hundredths());
                writes.set(key, account::TRADES, 0);
                writes.set(key, account::LAST_TRADE, 0);
                for currency in 0..self.currencies.len() {
                    writes.set(key, keys::holding(currency), 0);
                }
                let serials = writes.key(names.serials(), Kind::Hash);
                writes.set(serials, slot.to_string(), serial);
                writes.set(index, name, slot);
                writes.set(META, meta::ACCOUNT_COUNT, count.max(slot + 1));
                writes.set(META, meta::OPEN_ACCOUNTS, open + 1);
                writes.set(META, meta::ACCOUNT_SERIAL, serial);
                writes.set(
                    META,
                    meta::HANDED_OUT,
                    handed_out.checked_add(1).ok_or(Error::Overflow)?,
                );
                Ok(Plan::Write(writes, Some(AccountId::in_slot(slot, serial))))
            })
        })
    }

    /// The slot a new account would take, with the count of slots used it
    /// was chosen from: the next never-used one while there is one, else
    /// the first closed one.
    fn free_slot(&self) -> Result<(u32, u32)> {
        let mut watch = self.watch();
        let count_at = watch.field(META, meta::ACCOUNT_COUNT);
        let count = self.slots_used(&self.read(&watch)?, count_at)?;
        if count < self.capacity {
            return Ok((count, count));
        }
        let statuses: Vec<usize> = (0..count)
            .map(|slot| {
                let key = watch.key(self.link.keys.account(slot), Kind::Hash);
                watch.field(key, account::STATUS)
            })
            .collect();
        let values = self.read(&watch)?;
        let count = self.slots_used(&values, count_at)?;
        statuses
            .iter()
            .position(|at| value(&values, *at) == Some(keys::CLOSED))
            .map(|slot| (slot as u32, count))
            .ok_or(Error::AccountTableFull {
                capacity: self.capacity,
            })
    }

    /// Opens (or finds) every named account, or none of them: fails with
    /// [`Error::AccountTableFull`] before opening any if they do not all fit.
    pub fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>> {
        if let Some(name) = names.iter().find(|name| !is_account_name(name)) {
            return Err(Error::AccountName { name: name.clone() });
        }
        let mut watch = self.watch();
        let open_at = watch.field(META, meta::OPEN_ACCOUNTS);
        let index = watch.key(self.link.keys.accounts(), Kind::Hash);
        let positions: Vec<usize> = names
            .iter()
            .map(|name| watch.field(index, name.as_str()))
            .collect();
        let values = self.read(&watch)?;
        let missing = positions
            .iter()
            .filter(|at| value(&values, **at).is_none())
            .count();
        let open = self.counter(&values, open_at, "the open account count")?;
        if open as usize + missing > self.capacity as usize {
            return Err(Error::AccountTableFull {
                capacity: self.capacity,
            });
        }
        names.iter().map(|name| self.open_account(name)).collect()
    }

    /// The open account called `name`, if there is one.
    pub fn find_account(&self, name: &str) -> Result<Option<AccountId>> {
        let mut watch = self.watch();
        let count_at = watch.field(META, meta::ACCOUNT_COUNT);
        let index = watch.key(self.link.keys.accounts(), Kind::Hash);
        let found_at = watch.field(index, name);
        let values = self.read(&watch)?;
        let count = self.slots_used(&values, count_at)?;
        let Some(found) = value(&values, found_at) else {
            return Ok(None);
        };
        let slot = match found.parse::<u32>() {
            Ok(slot) if slot < count => slot,
            _ => {
                return Err(self
                    .link
                    .corrupted(format!("the account {name} has the index {found:?}")))
            }
        };
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.account(slot), Kind::Hash);
        let [name_at, status_at, serial_at] =
            [account::NAME, account::STATUS, account::SERIAL].map(|f| watch.field(key, f));
        let values = self.read(&watch)?;
        // Closed or replaced since the index was read: not open under it.
        if value(&values, name_at) != Some(name) || value(&values, status_at) != Some(keys::OPEN) {
            return Ok(None);
        }
        let serial = self.counter(&values, serial_at, "an account serial")?;
        Ok(Some(AccountId::in_slot(slot, serial)))
    }

    /// The account's name; refused once the owner closed it.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.account(account.index()), Kind::Hash);
        let [name_at, status_at, serial_at] =
            [account::NAME, account::STATUS, account::SERIAL].map(|f| watch.field(key, f));
        let values = self.read(&watch)?;
        self.check_account(&values, status_at, serial_at, account)?;
        self.account_named(&values, name_at)
    }

    /// Account slots ever used, in range.
    pub(super) fn slots_used(&self, values: &[Option<String>], at: usize) -> Result<u32> {
        u32::try_from(self.integer(values, at, "the account count")?)
            .ok()
            .filter(|count| *count <= MAX_ACCOUNTS)
            .ok_or_else(|| self.link.corrupted("more accounts than slots"))
    }

    /// A count that must be a non-negative 32-bit number.
    pub(super) fn counter(&self, values: &[Option<String>], at: usize, what: &str) -> Result<u32> {
        u32::try_from(self.integer(values, at, what)?)
            .map_err(|_| self.link.corrupted(format!("{what} is out of range")))
    }

    /// Refuses an account the owner closed since its id was handed out,
    /// whether its slot went to another account or not.
    pub(super) fn check_account(
        &self,
        values: &[Option<String>],
        status_at: usize,
        serial_at: usize,
        account: AccountId,
    ) -> Result<()> {
        self.check_open(values, status_at)?;
        if self.counter(values, serial_at, "an account serial")? != account.serial() {
            return Err(Error::AccountClosed);
        }
        Ok(())
    }

    /// Refuses an account whose status is not open.
    pub(super) fn check_open(&self, values: &[Option<String>], status_at: usize) -> Result<()> {
        match value(values, status_at) {
            Some(keys::OPEN) => Ok(()),
            Some(keys::CLOSED) => Err(Error::AccountClosed),
            _ => Err(self.link.corrupted("an account vanished")),
        }
    }

    /// The account name read at `at`.
    pub(super) fn account_named(&self, values: &[Option<String>], at: usize) -> Result<String> {
        value(values, at)
            .filter(|name| is_account_name(name))
            .map(str::to_owned)
            .ok_or_else(|| self.link.corrupted("an account has no valid name"))
    }

    /// Refuses a trade on another user's account, unless this process runs
    /// as the market's owner or root.
    fn check_may_trade(&self, owner: Option<&str>, name: &str) -> Result<()> {
        let owner: u32 = owner.and_then(|owner| owner.parse().ok()).ok_or_else(|| {
            self.link
                .corrupted(format!("the account {name} has no owner"))
        })?;
        if owner == self.caller || self.require_owner("trade").is_ok() {
            return Ok(());
        }
        Err(Error::NotYourAccount {
            name: name.to_owned(),
        })
    }

    /// Buys or sells `amount` of a currency for an account, all or nothing:
    /// the values (remembered from this value's last trade on the same
    /// account and currency, else read with an `HMGET` per key), the rules,
    /// and one commit of the trade script ([`super::delta`]), which applies
    /// the outcome as deltas if the values it depends on still allow it.
    /// A trade that follows one on the same account and currency is one
    /// round trip.
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        if !amount.is_positive() {
            return Err(Error::Amount {
                text: amount.to_string(),
                reason: "it must be positive".into(),
            });
        }
        let info = self.currency_info(currency)?;
        let names = &self.link.keys;
        // The fields in the trade script's order: see `delta::*_FIELDS`.
        let mut watch = self.watch();
        let [halted_at, cash_at, round_end_at] = [
            delta::META_FIELDS[2],
            delta::META_FIELDS[3],
            delta::META_FIELDS[4],
        ]
        .map(|field| watch.field(META, field));
        let quote_key = watch.key(names.currency(currency.0), Kind::Hash);
        let [sell_at, buy_at, stock_at] =
            delta::QUOTE_FIELDS.map(|field| watch.field(quote_key, field));
        let account_key = watch.key(names.account(account.index()), Kind::Hash);
        let [name_at, owner_at, status_at, serial_at, balance_at] =
            delta::ACCOUNT_FIELDS.map(|field| watch.field(account_key, field));
        let holding_field = keys::holding(currency.0);
        let holding_at = watch.field(account_key, holding_field.as_str());
        let (meta_key, quote_name, account_name, tape) = (
            names.meta(),
            names.currency(currency.0),
            names.account(account.index()),
            names.tape(),
        );
        let read = || {
            self.link
                .with_connection("reading from redis", |connection| watch.read(connection))
        };
        let remembered = self
            .trade_reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(account.index(), currency.0));
        // Remembered values may be stale: a decision from them that refuses
        // is made again from a fresh read, so nothing is refused on values
        // that are gone. One that trades is checked by the script.
        let (mut values, mut fresh) = match remembered {
            Some(values) => (values, false),
            None => (read()?, true),
        };
        for _ in 0..MAX_ATTEMPTS {
            let decided = (|| {
                self.check_live(&values)?;
                if self.halted(&values, halted_at)? {
                    return Err(Error::Halted);
                }
                crate::round::check_open(self.round_end_at(&values, round_end_at)?)?;
                self.check_account(&values, status_at, serial_at, account)?;
                let trader = self.account_named(&values, name_at)?;
                self.check_may_trade(value(&values, owner_at), &trader)?;
                let quote = rules::Quote {
                    sell: self.price(&values, sell_at, "a sell price")?,
                    buy: self.price(&values, buy_at, "a buy price")?,
                };
                let before = rules::Position {
                    stock: self.money(&values, stock_at, "a stock")?,
                    holding: self.money(&values, holding_at, "a holding")?,
                    balance: self.money(&values, balance_at, "a balance")?,
                    cash: self.money(&values, cash_at, "the cash")?,
                };
                let outcome = rules::trade(side, quote, amount, before)
                    .map_err(|refusal| refusal.into_error(&info.name))?;
                Ok((trader, before, outcome))
            })();
            let (trader, before, outcome) = match decided {
                Ok(decided) => decided,
                Err(_) if !fresh => {
                    (values, fresh) = (read()?, true);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let change = |after: Money, before: Money| {
                Delta::by(Money::from_hundredths(
                    after.hundredths() - before.hundredths(),
                ))
            };
            let after = outcome.after;
            let entry = EntryKind::Trade {
                account: account.index(),
                serial: account.serial(),
                name: trader,
                side,
                currency: currency.0,
                amount,
                price: outcome.price,
                total: outcome.total,
            };
            let read = |at: usize| value(&values, at).unwrap_or_default();
            let write = TradeWrite {
                epoch: read(super::EPOCH_AT),
                sell: read(sell_at),
                buy: read(buy_at),
                serial: read(serial_at),
                holding_field: &holding_field,
                cash: change(after.cash, before.cash),
                stock: change(after.stock, before.stock),
                balance: change(after.balance, before.balance),
                holding: change(after.holding, before.holding),
                entry: entry.to_string(),
                tape_cap: TAPE_LEN,
            };
            match self
                .link
                .commit_trade([&meta_key, &quote_name, &account_name, &tape], &write)?
            {
                Traded::Written(now) => {
                    let balance = self.money(&now, balance_at, "a balance")?;
                    self.trade_reads
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((account.index(), currency.0), now);
                    return Ok(Fill {
                        side,
                        currency,
                        amount,
                        price: outcome.price,
                        total: outcome.total,
                        balance,
                    });
                }
                Traded::Conflict(now) => {
                    crate::trace!("redis: conflict: the quote or a guard moved; decide again");
                    self.link.conflicts.fetch_add(1, Relaxed);
                    (values, fresh) = (now, true);
                }
            }
        }
        Err(Error::Busy {
            address: self.link.address.to_string(),
        })
    }

    /// Moves `amount` from the exchange's cash to an account's balance, all
    /// or nothing; the audit stays consistent, since cash plus balances is
    /// unchanged. Owner only. Returns the account's new balance.
    pub fn transfer_from_cash(&self, account: AccountId, amount: Money) -> Result<Money> {
        if !amount.is_positive() {
            return Err(Error::Amount {
                text: amount.to_string(),
                reason: "it must be positive".into(),
            });
        }
        self.require_owner("move the exchange's cash to an account")?;
        let mut watch = self.watch();
        let cash_at = watch.field(META, meta::CASH);
        let key = watch.key(self.link.keys.account(account.index()), Kind::Hash);
        let [status_at, serial_at, balance_at] =
            [account::STATUS, account::SERIAL, account::BALANCE].map(|f| watch.field(key, f));
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            self.check_account(values, status_at, serial_at, account)?;
            let cash = self.money(values, cash_at, "the cash")?;
            let left = cash
                .checked_sub(amount)
                .filter(|left| *left >= Money::ZERO)
                .ok_or(Error::InsufficientCash {
                    proceeds: amount,
                    cash,
                })?;
            let balance = self
                .money(values, balance_at, "a balance")?
                .checked_add(amount)
                .ok_or(Error::Overflow)?;
            let mut writes = Writes::new(&watch);
            writes.set(META, meta::CASH, left.hundredths());
            writes.set(key, account::BALANCE, balance.hundredths());
            Ok(Plan::Write(writes, balance))
        })
    }

    /// The price and total of a trade now, without trading.
    pub fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        self.currency_info(currency)?;
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.currency(currency.0), Kind::Hash);
        let at = watch.field(
            key,
            match side {
                Side::Buy => currency::SELL,
                Side::Sell => currency::BUY,
            },
        );
        let values = self.read(&watch)?;
        let price = self.price(&values, at, "a price")?;
        let total = match side {
            Side::Buy => price.cost_of(amount),
            Side::Sell => price.proceeds_of(amount),
        };
        Ok((price, total.ok_or(Error::Overflow)?))
    }

    /// Names the currency of a [`Fill`].
    pub fn receipt(&self, fill: Fill) -> Receipt {
        fill.named(&self.currencies)
    }
}
