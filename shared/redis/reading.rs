//! The read commands. Each reads one consistent snapshot in MULTI/EXEC and
//! never blocks trading; a read that needs every account reads the count
//! and the accounts together, and reads again if the count moved.
#![forbid(unsafe_code)]

use super::commit::{Kind, Watch, META};
use super::keys::{self, account, currency, meta};
use super::trading::TapeEntry;
use super::{value, AccountId, RedisMarket};
use crate::error::{Error, Result};
use crate::market::TAPE_LEN;
use crate::market::{Audit, CurrencyAudit, MoneyAudit, Portfolio, Rate, TapeRow};
use crate::money::{Money, Price};

/// Reads of every account before one whose count held still is given up.
const MAX_SNAPSHOT_ATTEMPTS: u32 = 50;

/// Every account and currency, read at one instant.
struct Everyone {
    cash: Money,
    initial_cash: Money,
    /// Per currency: buy price, stock, initial stock.
    currencies: Vec<(Price, Money, Money)>,
    /// Per account: name, balance, holdings in currency order.
    accounts: Vec<(String, Money, Vec<Money>)>,
}

impl RedisMarket {
    /// The quotes and the exchange's stock.
    pub fn rates(&self) -> Result<Vec<Rate>> {
        let mut watch = self.watch();
        let quotes = self.watch_quotes(&mut watch);
        let values = self.read(&watch)?;
        self.rates_from(&values, &quotes)
    }

    /// An account's balance and holdings, valued at today's buy prices.
    pub fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        let mut watch = self.watch();
        let quotes = self.watch_quotes(&mut watch);
        let (name_at, balance_at, holdings_at) = self.watch_account(&mut watch, account.0);
        let values = self.read(&watch)?;
        let rates = self.rates_from(&values, &quotes)?;
        let name =
            value(&values, name_at).ok_or_else(|| self.link.corrupted("an account vanished"))?;
        let holdings = holdings_at
            .iter()
            .map(|at| self.money(&values, *at, "a holding"))
            .collect::<Result<Vec<_>>>()?;
        let buys: Vec<Price> = rates.iter().map(|rate| rate.buy).collect();
        self.valued(
            name,
            self.money(&values, balance_at, "a balance")?,
            &holdings,
            &buys,
        )
    }

    /// Every account's portfolio, in the order they were opened.
    pub fn traders(&self) -> Result<Vec<Portfolio>> {
        let everyone = self.everyone()?;
        let buys: Vec<Price> = everyone.currencies.iter().map(|row| row.0).collect();
        everyone
            .accounts
            .iter()
            .map(|(name, balance, holdings)| self.valued(name, *balance, holdings, &buys))
            .collect()
    }

    /// The last `limit` trades, oldest first; only `account`'s if given.
    /// Entries that fail a check are skipped.
    pub fn tape(&self, limit: usize, account: Option<AccountId>) -> Result<Vec<TapeRow>> {
        let names = &self.link.keys;
        let mut watch = self.watch();
        let name_at = account.map(|id| {
            let key = watch.key(names.account(id.0), Kind::Hash);
            watch.field(key, account::NAME)
        });
        let (values, lines) = self
            .link
            .with_connection("reading from redis", |connection| {
                let (values, extra) = watch.read_with(connection, |pipe| {
                    pipe.lrange(names.tape(), 0, TAPE_LEN as isize - 1);
                })?;
                let lines: Vec<String> = match extra.first() {
                    Some(reply) => redis::from_redis_value(reply)?,
                    None => Vec::new(),
                };
                Ok((values, lines))
            })?;
        self.check_live(&values)?;
        let only = match name_at {
            Some(at) => {
                Some(value(&values, at).ok_or_else(|| self.link.corrupted("an account vanished"))?)
            }
            None => None,
        };
        let mut rows: Vec<TapeRow> = lines
            .iter()
            .filter_map(|line| TapeEntry::parse(line))
            .filter(|entry| only.map_or(true, |name| entry.account == name))
            .filter_map(|entry| {
                Some(TapeRow {
                    seq: entry.seq,
                    currency: self.currencies.get(entry.currency)?.name.clone(),
                    account: entry.account,
                    side: entry.side,
                    amount: entry.amount,
                    price: entry.price,
                    total: entry.total,
                })
            })
            .take(limit)
            .collect();
        rows.reverse();
        Ok(rows)
    }

    /// Checks both conservation laws on one snapshot, with i128 sums.
    pub fn audit(&self) -> Result<Audit> {
        let everyone = self.everyone()?;
        let wide = |money: Money| i128::from(money.hundredths());
        let fit = |value: i128| {
            i64::try_from(value)
                .map(Money::from_hundredths)
                .map_err(|_| Error::Overflow)
        };
        let mut consistent = true;
        let mut currencies = Vec::with_capacity(self.currencies.len());
        for (index, (known, (_, stock, initial))) in
            self.currencies.iter().zip(&everyone.currencies).enumerate()
        {
            let held: i128 = everyone
                .accounts
                .iter()
                .map(|(_, _, holdings)| wide(holdings[index]))
                .sum();
            let discrepancy = wide(*stock) + held - wide(*initial);
            consistent &= discrepancy == 0;
            currencies.push(CurrencyAudit {
                name: known.name.clone(),
                stock: *stock,
                held: fit(held)?,
                initial: *initial,
                discrepancy: fit(discrepancy)?,
            });
        }
        let balances: i128 = everyone.accounts.iter().map(|row| wide(row.1)).sum();
        let count = everyone.accounts.len();
        let starting_balances = wide(self.starting_balance) * count as i128;
        let discrepancy =
            wide(everyone.cash) + balances - wide(everyone.initial_cash) - starting_balances;
        consistent &= discrepancy == 0;
        Ok(Audit {
            consistent,
            currencies,
            money: MoneyAudit {
                cash: everyone.cash,
                balances: fit(balances)?,
                initial_cash: everyone.initial_cash,
                accounts: count as u32,
                starting_balances: fit(starting_balances)?,
                discrepancy: fit(discrepancy)?,
            },
        })
    }

    /// Adds an account's name, balance and holdings to a watch.
    fn watch_account(&self, watch: &mut Watch, index: u32) -> (usize, usize, Vec<usize>) {
        let key = watch.key(self.link.keys.account(index), Kind::Hash);
        let name = watch.field(key, account::NAME);
        let balance = watch.field(key, account::BALANCE);
        let holdings = (0..self.currencies.len())
            .map(|currency| watch.field(key, keys::holding(currency)))
            .collect();
        (name, balance, holdings)
    }

    /// Every account, with the count they were read with unchanged.
    fn everyone(&self) -> Result<Everyone> {
        let mut count = 0;
        for _ in 0..MAX_SNAPSHOT_ATTEMPTS {
            let mut watch = self.watch();
            let [count_at, cash_at, initial_cash_at] =
                [meta::ACCOUNT_COUNT, meta::CASH, meta::INITIAL_CASH]
                    .map(|field| watch.field(META, field));
            let currency_at: Vec<[usize; 3]> = (0..self.currencies.len())
                .map(|index| {
                    let key = watch.key(self.link.keys.currency(index), Kind::Hash);
                    [currency::BUY, currency::STOCK, currency::INITIAL_STOCK]
                        .map(|field| watch.field(key, field))
                })
                .collect();
            let accounts_at: Vec<_> = (0..count)
                .map(|index| self.watch_account(&mut watch, index))
                .collect();
            let values = self.read(&watch)?;
            let now = u32::try_from(self.integer(&values, count_at, "the account count")?)
                .ok()
                .filter(|now| *now <= self.capacity)
                .ok_or_else(|| self.link.corrupted("more accounts than slots"))?;
            if now != count {
                count = now;
                continue;
            }
            let currencies = currency_at
                .iter()
                .map(|[buy, stock, initial]| {
                    Ok((
                        self.price(&values, *buy, "a buy price")?,
                        self.money(&values, *stock, "a stock")?,
                        self.money(&values, *initial, "an initial stock")?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let accounts = accounts_at
                .iter()
                .map(|(name, balance, holdings)| {
                    let name = value(&values, *name)
                        .ok_or_else(|| self.link.corrupted("an account has no name"))?;
                    let holdings = holdings
                        .iter()
                        .map(|at| self.money(&values, *at, "a holding"))
                        .collect::<Result<Vec<_>>>()?;
                    Ok((
                        name.to_owned(),
                        self.money(&values, *balance, "a balance")?,
                        holdings,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Everyone {
                cash: self.money(&values, cash_at, "the cash")?,
                initial_cash: self.money(&values, initial_cash_at, "the initial cash")?,
                currencies,
                accounts,
            });
        }
        // Accounts kept opening while every account was read.
        Err(Error::Busy {
            address: self.link.address.to_string(),
            attempts: MAX_SNAPSHOT_ATTEMPTS,
        })
    }

    /// A portfolio valued at the given buy prices: what each holding would
    /// fetch now.
    fn valued(
        &self,
        name: &str,
        balance: Money,
        holdings: &[Money],
        buys: &[Price],
    ) -> Result<Portfolio> {
        let overflow = || Error::Overflow;
        let named = |amounts: &[Money]| -> Vec<(String, Money)> {
            self.currencies
                .iter()
                .zip(amounts)
                .map(|(currency, amount)| (currency.name.clone(), *amount))
                .collect()
        };
        let values = holdings
            .iter()
            .zip(buys)
            .map(|(amount, buy)| buy.proceeds_of(*amount).ok_or_else(overflow))
            .collect::<Result<Vec<_>>>()?;
        let net_worth = values
            .iter()
            .try_fold(balance, |sum, value| sum.checked_add(*value))
            .ok_or_else(overflow)?;
        Ok(Portfolio {
            name: name.to_owned(),
            balance,
            holdings: named(holdings),
            values: named(&values),
            net_worth,
            starting_balance: self.starting_balance,
            profit: net_worth
                .checked_sub(self.starting_balance)
                .ok_or_else(overflow)?,
        })
    }
}
