//! Opening accounts and trading: each an optimistic update (read, decide
//! in Rust, commit with the compare-and-set script). The decisions are the
//! segment's: the trade itself is `rules::trade`.
#![forbid(unsafe_code)]

use super::commit::{Kind, Plan, Writes, META};
use super::keys::{self, account, currency, meta};
use super::{value, AccountId, CurrencyId, Fill, RedisMarket};
use crate::error::{Error, Result};
use crate::market::rules;
use crate::market::TAPE_LEN;
use crate::market::{Currency, Receipt, Side};
use crate::money::{Money, Price};
use crate::names::is_account_name;

impl RedisMarket {
    /// The currencies, in the market's order, as of the attach.
    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    /// Finds a currency by name, ignoring case.
    pub fn currency(&self, name: &str) -> Result<CurrencyId> {
        self.currencies
            .iter()
            .position(|currency| currency.name.eq_ignore_ascii_case(name))
            .map(CurrencyId)
            .ok_or_else(|| Error::UnknownCurrency {
                name: name.to_owned(),
                suggestion: crate::suggest::closest(
                    name,
                    self.currencies.iter().map(|c| c.name.as_str()),
                )
                .map(str::to_owned),
            })
    }

    /// A currency's name and quote as of the attach.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        self.currencies
            .get(currency.0)
            .ok_or_else(|| self.link.corrupted("no such currency slot"))
    }

    /// Opens the named account, or finds it if it already exists.
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        let names = &self.link.keys;
        let mut watch = self.watch();
        let count_at = watch.field(META, meta::ACCOUNT_COUNT);
        let index = watch.key(names.accounts(), Kind::Hash);
        let found_at = watch.field(index, name);
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            let count = self.account_count(values, count_at)?;
            if let Some(found) = value(values, found_at) {
                return match found.parse::<u32>() {
                    Ok(slot) if slot < count => Ok(Plan::Done(AccountId::from_index(slot))),
                    _ => Err(self
                        .link
                        .corrupted(format!("the account {name} has the index {found:?}"))),
                };
            }
            if count >= self.capacity {
                return Err(Error::AccountTableFull {
                    capacity: self.capacity,
                });
            }
            let mut writes = Writes::new(&watch);
            let slot = writes.key(names.account(count), Kind::Hash);
            writes.delete(slot);
            writes.set(slot, account::NAME, name);
            writes.set(slot, account::BALANCE, self.starting_balance.hundredths());
            for currency in 0..self.currencies.len() {
                writes.set(slot, keys::holding(currency), 0);
            }
            writes.set(index, name, count);
            writes.set(META, meta::ACCOUNT_COUNT, count + 1);
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
        let count_at = watch.field(META, meta::ACCOUNT_COUNT);
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
        let count = self.account_count(&values, count_at)?;
        if count as usize + missing > self.capacity as usize {
            return Err(Error::AccountTableFull {
                capacity: self.capacity,
            });
        }
        names.iter().map(|name| self.open_account(name)).collect()
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.account(account.index()), Kind::Hash);
        let name_at = watch.field(key, account::NAME);
        let values = self.read(&watch)?;
        value(&values, name_at)
            .map(str::to_owned)
            .ok_or_else(|| self.link.corrupted("an account vanished"))
    }

    fn account_count(&self, values: &[Option<String>], at: usize) -> Result<u32> {
        u32::try_from(self.integer(values, at, "the account count")?)
            .ok()
            .filter(|count| *count <= self.capacity)
            .ok_or_else(|| self.link.corrupted("more accounts than slots"))
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
        let cash_at = watch.field(META, meta::CASH);
        let seq_at = watch.field(META, meta::TRADE_SEQ);
        let quote_key = watch.key(names.currency(currency.0), Kind::Hash);
        let sell_at = watch.field(quote_key, currency::SELL);
        let buy_at = watch.field(quote_key, currency::BUY);
        let stock_at = watch.field(quote_key, currency::STOCK);
        let account_key = watch.key(names.account(account.index()), Kind::Hash);
        let name_at = watch.field(account_key, account::NAME);
        let balance_at = watch.field(account_key, account::BALANCE);
        let holding_field = keys::holding(currency.0);
        let holding_at = watch.field(account_key, holding_field.as_str());
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            let trader =
                value(values, name_at).ok_or_else(|| self.link.corrupted("an account vanished"))?;
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
            let seq = u64::try_from(self.integer(values, seq_at, "the trade counter")?)
                .map_err(|_| self.link.corrupted("the trade counter is negative"))?
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
            let tape = writes.key(names.tape(), Kind::List);
            let entry = TapeEntry {
                seq,
                account: trader.to_owned(),
                side,
                currency: currency.0,
                amount,
                price: outcome.price,
                total: outcome.total,
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
        Receipt {
            side: fill.side,
            currency: self.currencies[fill.currency.0].name.clone(),
            amount: fill.amount,
            price: fill.price,
            total: fill.total,
            balance: fill.balance,
        }
    }
}

/// One line of the tape list: `SEQ ACCOUNT SIDE CURRENCY AMOUNT PRICE
/// TOTAL`, with the currency as its index and numbers as integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TapeEntry {
    pub seq: u64,
    pub account: String,
    pub side: Side,
    pub currency: usize,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
}

impl std::fmt::Display for TapeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        };
        write!(
            f,
            "{} {} {side} {} {} {} {}",
            self.seq,
            self.account,
            self.currency,
            self.amount.hundredths(),
            self.price.ten_thousandths(),
            self.total.hundredths()
        )
    }
}

impl TapeEntry {
    /// Parses a line; `None` for anything malformed, which readers skip.
    pub fn parse(line: &str) -> Option<TapeEntry> {
        let mut words = line.split(' ');
        let mut next = || words.next();
        let entry = TapeEntry {
            seq: next()?.parse().ok()?,
            account: next().filter(|name| is_account_name(name))?.to_owned(),
            side: match next()? {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                _ => return None,
            },
            currency: next()?.parse().ok()?,
            amount: Money::from_hundredths(next()?.parse().ok()?),
            price: Price::from_ten_thousandths(next()?.parse().ok()?),
            total: Money::from_hundredths(next()?.parse().ok()?),
        };
        next().is_none().then_some(entry)
    }
}
