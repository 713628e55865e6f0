//! What traders and boards read: rates, quotes, portfolios, the ranking,
//! the tape and the audit. They take the lock for a consistent snapshot
//! and write nothing. (Lock-free readers on a sequence counter are a later
//! change.)
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;

use super::{
    money, overflow, AccountId, Audit, CurrencyAudit, CurrencyId, Exchange, MoneyAudit, Portfolio,
    Rate, Side, TapeRow, TAPE_LEN,
};
use crate::error::Result;
use crate::money::{Money, Price, WideMoney};
use crate::shm::layout::{side, AccountSlot};

impl Exchange {
    /// The last `limit` trades, oldest first; only `account`'s if given.
    /// Entries that fail a check (overwritten, or naming a slot that does
    /// not exist) are skipped.
    pub fn tape(&self, limit: usize, account: Option<AccountId>) -> Result<Vec<TapeRow>> {
        let _locked = self.lock()?;
        let header = self.header();
        let accounts = self.accounts_in_use()?;
        let last = header.trade_seq.load(Relaxed);
        let first = last.saturating_sub(TAPE_LEN as u64 - 1).max(1);
        let mut rows = Vec::new();
        for seq in (first..=last).rev() {
            if rows.len() >= limit {
                break;
            }
            let entry = &header.tape[((seq - 1) % TAPE_LEN as u64) as usize];
            let account_index = entry.account.load(Relaxed);
            if entry.seq.load(Relaxed) != seq || account.is_some_and(|id| id.0 != account_index) {
                continue;
            }
            let side = match entry.side.load(Relaxed) {
                side::BUY => Side::Buy,
                side::SELL => Side::Sell,
                _ => continue,
            };
            let (Some(slot), Some(currency)) = (
                accounts.get(account_index as usize),
                self.currencies.get(entry.currency.load(Relaxed) as usize),
            ) else {
                continue;
            };
            let Ok(name) = self.name_of(slot) else {
                continue;
            };
            rows.push(TapeRow {
                seq,
                account: name,
                side,
                currency: currency.name.clone(),
                amount: money(&entry.amount),
                price: Price::from_ten_thousandths(entry.price.load(Relaxed)),
                total: money(&entry.total),
            });
        }
        rows.reverse();
        Ok(rows)
    }

    /// The quotes and the exchange's stock.
    pub fn rates(&self) -> Result<Vec<Rate>> {
        let _locked = self.lock()?;
        Ok(self.rates_locked())
    }

    pub(super) fn rates_locked(&self) -> Vec<Rate> {
        self.currencies
            .iter()
            .zip(&self.header().currencies)
            .map(|(currency, slot)| Rate {
                name: currency.name.clone(),
                sell: currency.sell,
                buy: currency.buy,
                stock: money(&slot.stock),
            })
            .collect()
    }

    /// An account's balance and holdings.
    pub fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        let _locked = self.lock()?;
        self.portfolio_locked(self.account_slot(account)?)
    }

    /// Every account's portfolio, in the order they were opened.
    pub fn traders(&self) -> Result<Vec<Portfolio>> {
        let _locked = self.lock()?;
        self.accounts_in_use()?
            .iter()
            .map(|slot| self.portfolio_locked(slot))
            .collect()
    }

    fn portfolio_locked(&self, slot: &AccountSlot) -> Result<Portfolio> {
        let balance = money(&slot.balance);
        let holdings: Vec<(String, Money)> = self
            .currencies
            .iter()
            .zip(&slot.holdings)
            .map(|(currency, holding)| (currency.name.clone(), money(holding)))
            .collect();
        let values = self
            .currencies
            .iter()
            .zip(&holdings)
            .map(|(currency, (name, amount))| {
                let value = currency.buy.proceeds_of(*amount).ok_or_else(overflow)?;
                Ok((name.clone(), value))
            })
            .collect::<Result<Vec<_>>>()?;
        let net_worth = values
            .iter()
            .try_fold(balance, |sum, (_, value)| sum.checked_add(*value))
            .ok_or_else(overflow)?;
        let starting_balance = money(&self.header().starting_balance);
        Ok(Portfolio {
            name: self.name_of(slot)?,
            balance,
            holdings,
            values,
            net_worth,
            starting_balance,
            profit: net_worth
                .checked_sub(starting_balance)
                .ok_or_else(overflow)?,
        })
    }

    /// The price and total of a trade now, without trading.
    pub fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        let quote = self.known_currency(currency)?;
        let (price, total) = match side {
            Side::Buy => (quote.sell, quote.sell.cost_of(amount)),
            Side::Sell => (quote.buy, quote.buy.proceeds_of(amount)),
        };
        Ok((price, total.ok_or_else(overflow)?))
    }

    /// Checks both conservation laws on a snapshot taken under the lock.
    pub fn audit(&self) -> Result<Audit> {
        let locked = self.lock()?;
        let header = self.header();
        let accounts = self.accounts_in_use()?;
        let sum = |values: &mut dyn Iterator<Item = i64>| values.map(i128::from).sum::<i128>();
        let currency_rows: Vec<(String, i128, i128, i128)> = self
            .currencies
            .iter()
            .enumerate()
            .map(|(index, currency)| {
                let slot = &header.currencies[index];
                let held = sum(&mut accounts
                    .iter()
                    .map(|account| account.holdings[index].load(Relaxed)));
                (
                    currency.name.clone(),
                    i128::from(slot.stock.load(Relaxed)),
                    held,
                    i128::from(slot.initial_stock.load(Relaxed)),
                )
            })
            .collect();
        let cash = i128::from(header.cash.load(Relaxed));
        let balances = sum(&mut accounts.iter().map(|account| account.balance.load(Relaxed)));
        let initial_cash = i128::from(header.initial_cash.load(Relaxed));
        let starting_balances =
            i128::from(header.starting_balance.load(Relaxed)) * accounts.len() as i128;
        drop(locked);

        // Sums of up to 65,536 i64 values, in i128: they cannot overflow,
        // so every state a segment can hold gets its audit.
        let fit = WideMoney::from_hundredths;
        let mut consistent = true;
        let mut currencies = Vec::with_capacity(currency_rows.len());
        for (name, stock, held, initial) in currency_rows {
            let discrepancy = stock + held - initial;
            consistent &= discrepancy == 0;
            currencies.push(CurrencyAudit {
                name,
                stock: fit(stock),
                held: fit(held),
                initial: fit(initial),
                discrepancy: fit(discrepancy),
            });
        }
        let discrepancy = cash + balances - initial_cash - starting_balances;
        consistent &= discrepancy == 0;
        Ok(Audit {
            consistent,
            currencies,
            money: MoneyAudit {
                cash: fit(cash),
                balances: fit(balances),
                initial_cash: fit(initial_cash),
                accounts: accounts.len() as u32,
                starting_balances: fit(starting_balances),
                discrepancy: fit(discrepancy),
            },
        })
    }
}
