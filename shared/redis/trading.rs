//! Opening and finding accounts, trading, and moving the exchange's cash
//! to an account: each write an optimistic update (read, decide in Rust,
//! commit with the compare-and-set script). The decisions are the
//! segment's: the trade itself is `rules::trade`.
//!
//! An account belongs to the uid that opened it (as the segment's do):
//! another uid may read it, but only its owner, the market's owner and
//! root may trade on it. Its slot is never reused: a closed account's hash
//! stays as a tombstone with its name, and the name may be opened afresh
//! in a new slot.
#![forbid(unsafe_code)]

use super::commit::{Kind, Plan, Writes, META};
use super::keys::{self, account, currency, meta};
use super::tape::{Entry, EntryKind};
use super::{value, AccountId, CurrencyId, Fill, RedisMarket};
use crate::error::{Error, Result};
use crate::market::rules;
use crate::market::TAPE_LEN;
use crate::market::{Currency, Receipt, Side};
use crate::money::{Money, Price};
use crate::names::is_account_name;
use crate::shm::layout::MAX_ACCOUNTS;

impl RedisMarket {
    /// The currencies, in the market's order.
    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    /// Finds a currency by name, ignoring case.
    pub fn currency(&self, name: &str) -> Result<CurrencyId> {
        crate::market::find_currency(&self.currencies, name)
    }

    /// A currency's name.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        self.currencies
            .get(currency.0)
            .ok_or_else(|| self.link.corrupted("no such currency slot"))
    }

    /// [`RedisMarket::open_account`]: on Redis nothing holds a lock to
    /// wait for, so it always opens (or finds) the account.
    pub fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>> {
        self.open_account(name).map(Some)
    }

    /// Opens the named account for this process's uid, or finds it if it
    /// is open already (whoever owns it).
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        let names = &self.link.keys;
        let mut watch = self.watch();
        let [count_at, open_at, handed_out_at] =
            [meta::ACCOUNT_COUNT, meta::OPEN_ACCOUNTS, meta::HANDED_OUT]
                .map(|field| watch.field(META, field));
        let index = watch.key(names.accounts(), Kind::Hash);
        let found_at = watch.field(index, name);
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            let count = self.slots_used(values, count_at)?;
            if let Some(found) = value(values, found_at) {
                return self.indexed(name, found, count).map(Plan::Done);
            }
            let open = self.counter(values, open_at, "the open account count")?;
            if open >= self.capacity {
                return Err(Error::AccountTableFull {
                    capacity: self.capacity,
                });
            }
            if count >= MAX_ACCOUNTS {
                // Slots are never reused: recreate a market whose owner
                // closed this many accounts.
                return Err(Error::AccountTableFull {
                    capacity: MAX_ACCOUNTS,
                });
            }
            let handed_out = self.counter(values, handed_out_at, "the handed-out count")?;
            let mut writes = Writes::new(&watch);
            let slot = writes.key(names.account(count), Kind::Hash);
            writes.delete(slot);
            writes.set(slot, account::NAME, name);
            writes.set(slot, account::OWNER, self.caller);
            writes.set(slot, account::STATUS, keys::OPEN);
            writes.set(slot, account::BALANCE, self.starting_balance.hundredths());
            writes.set(slot, account::TRADES, 0);
            writes.set(slot, account::LAST_TRADE, 0);
            for currency in 0..self.currencies.len() {
                writes.set(slot, keys::holding(currency), 0);
            }
            writes.set(index, name, count);
            writes.set(META, meta::ACCOUNT_COUNT, count + 1);
            writes.set(META, meta::OPEN_ACCOUNTS, open + 1);
            writes.set(
                META,
                meta::HANDED_OUT,
                handed_out.checked_add(1).ok_or(Error::Overflow)?,
            );
            Ok(Plan::Write(writes, AccountId::from_index(count)))
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
        value(&values, found_at)
            .map(|found| self.indexed(name, found, count))
            .transpose()
    }

    /// The account's name; refused once the owner closed it.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.account(account.index()), Kind::Hash);
        let [name_at, status_at] = [account::NAME, account::STATUS].map(|f| watch.field(key, f));
        let values = self.read(&watch)?;
        self.check_open(&values, status_at)?;
        self.account_named(&values, name_at)
    }

    /// The index the account index gives `name`, checked against the
    /// slots used.
    fn indexed(&self, name: &str, found: &str, count: u32) -> Result<AccountId> {
        match found.parse::<u32>() {
            Ok(slot) if slot < count => Ok(AccountId::from_index(slot)),
            _ => Err(self
                .link
                .corrupted(format!("the account {name} has the index {found:?}"))),
        }
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

    /// Refuses an account the owner closed since its id was handed out.
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

    /// Buys or sells `amount` of a currency for an account, all or nothing.
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
        let mut watch = self.watch();
        let [cash_at, seq_at, halted_at] =
            [meta::CASH, meta::TRADE_SEQ, meta::HALTED].map(|field| watch.field(META, field));
        let quote_key = watch.key(names.currency(currency.0), Kind::Hash);
        let sell_at = watch.field(quote_key, currency::SELL);
        let buy_at = watch.field(quote_key, currency::BUY);
        let stock_at = watch.field(quote_key, currency::STOCK);
        let account_key = watch.key(names.account(account.index()), Kind::Hash);
        let [name_at, owner_at, status_at, balance_at, trades_at] = [
            account::NAME,
            account::OWNER,
            account::STATUS,
            account::BALANCE,
            account::TRADES,
        ]
        .map(|field| watch.field(account_key, field));
        let holding_field = keys::holding(currency.0);
        let holding_at = watch.field(account_key, holding_field.as_str());
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            if self.halted(values, halted_at)? {
                return Err(Error::Halted);
            }
            self.check_open(values, status_at)?;
            let trader = self.account_named(values, name_at)?;
            self.check_may_trade(value(values, owner_at), &trader)?;
            let quote = rules::Quote {
                sell: self.price(values, sell_at, "a sell price")?,
                buy: self.price(values, buy_at, "a buy price")?,
            };
            let before = rules::Position {
                stock: self.money(values, stock_at, "a stock")?,
                holding: self.money(values, holding_at, "a holding")?,
                balance: self.money(values, balance_at, "a balance")?,
                cash: self.money(values, cash_at, "the cash")?,
            };
            let outcome = rules::trade(side, quote, amount, before)
                .map_err(|refusal| refusal.into_error(&info.name))?;
            let seq = self.next_seq(values, seq_at)?;
            let trades = self
                .counter(values, trades_at, "a trade count")?
                .checked_add(1)
                .ok_or(Error::Overflow)?;
            let after = outcome.after;
            let mut writes = Writes::new(&watch);
            writes.set(META, meta::CASH, after.cash.hundredths());
            writes.set(META, meta::TRADE_SEQ, seq);
            writes.set(quote_key, currency::STOCK, after.stock.hundredths());
            writes.set(account_key, account::BALANCE, after.balance.hundredths());
            writes.set(
                account_key,
                holding_field.as_str(),
                after.holding.hundredths(),
            );
            writes.set(account_key, account::TRADES, trades);
            writes.set(account_key, account::LAST_TRADE, seq);
            let tape = writes.key(names.tape(), Kind::List);
            let entry = Entry {
                seq,
                kind: EntryKind::Trade {
                    account: account.index(),
                    name: trader,
                    side,
                    currency: currency.0,
                    amount,
                    price: outcome.price,
                    total: outcome.total,
                },
            };
            writes.push(tape, entry.to_string(), TAPE_LEN);
            Ok(Plan::Write(
                writes,
                Fill {
                    side,
                    currency,
                    amount,
                    price: outcome.price,
                    total: outcome.total,
                    balance: after.balance,
                },
            ))
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
        let [status_at, balance_at] =
            [account::STATUS, account::BALANCE].map(|f| watch.field(key, f));
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            self.check_open(values, status_at)?;
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
