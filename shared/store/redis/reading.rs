//! The read commands. Each reads one consistent snapshot in MULTI/EXEC and
//! never blocks trading; a read that needs every account reads the count
//! and the accounts together, and reads again if the count moved.
#![forbid(unsafe_code)]

use super::commit::{Kind, Watch, META};
use super::keys::{self, account, currency, meta};
use super::tape::Entry;
use super::{AccountId, RedisMarket};
use crate::domain::TAPE_LEN;
use crate::domain::{Audit, CurrencyCount, History, MoneyCount, Portfolio, Rate, TapeRow};
use crate::error::{Error, Result};
use crate::money::{Money, Price};

/// Each used slot's index and the serial of the account in it.
type Serials = std::collections::HashMap<u32, u32>;

/// Reads of every account before one whose count held still is given up.
const MAX_SNAPSHOT_ATTEMPTS: u32 = 50;

/// Every account and currency, read at one instant.
struct Everyone {
    cash: Money,
    initial_cash: Money,
    /// Starting balances handed out since creation or the last reset.
    handed_out: u32,
    /// Per currency: buy price, stock, initial stock.
    currencies: Vec<(Price, Money, Money)>,
    /// Per account slot, closed ones included.
    accounts: Vec<AccountRow>,
}

/// One account slot as [`RedisMarket::everyone`] read it.
struct AccountRow {
    name: String,
    open: bool,
    balance: Money,
    /// In currency order.
    holdings: Vec<Money>,
}

/// Where a watch put one account's fields.
struct AccountFields {
    name: usize,
    status: usize,
    serial: usize,
    balance: usize,
    holdings: Vec<usize>,
}

impl RedisMarket {
    /// The quotes and the exchange's stock.
    pub fn rates(&self) -> Result<Vec<Rate>> {
        let mut watch = self.watch();
        let quotes = self.watch_quotes(&mut watch);
        let values = self.read(&watch)?;
        self.rates_from(&values, &quotes)
    }

    /// What each new account starts with (read at attach).
    pub fn starting_balance(&self) -> Result<Money> {
        Ok(self.starting_balance)
    }

    /// An account's balance and holdings, valued at today's buy prices.
    pub fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        let mut watch = self.watch();
        let quotes = self.watch_quotes(&mut watch);
        let fields = self.watch_account(&mut watch, account.index());
        let values = self.read(&watch)?;
        let rates = self.rates_from(&values, &quotes)?;
        self.check_account(&values, fields.status, fields.serial, account)?;
        let row = self.account_row(&values, &fields)?;
        let buys: Vec<Price> = rates.iter().map(|rate| rate.buy).collect();
        Ok(self.valued(&row.name, row.balance, &row.holdings, &buys))
    }

    /// Every open account's portfolio, ranked by net worth (balance plus
    /// holdings at the current buy price), richest first; ties by name.
    pub fn traders(&self) -> Result<Vec<Portfolio>> {
        let everyone = self.everyone()?;
        let buys: Vec<Price> = everyone.currencies.iter().map(|row| row.0).collect();
        let mut traders = everyone
            .accounts
            .iter()
            .filter(|row| row.open)
            .map(|row| self.valued(&row.name, row.balance, &row.holdings, &buys))
            .collect::<Vec<_>>();
        traders.sort_by(|a, b| b.net_worth.cmp(&a.net_worth).then(a.name.cmp(&b.name)));
        Ok(traders)
    }

    /// The last `limit` entries of the tape, oldest first. Entries that
    /// fail a check are skipped.
    pub fn tape(&self, limit: usize) -> Result<Vec<TapeRow>> {
        let (_, entries, serials) = self.read_tape(&self.watch())?;
        Ok(self.rows(
            entries,
            |slot, serial| serials.get(&slot) == Some(&serial),
            limit,
        ))
    }

    /// An account's last `limit` trades on the tape, with its count of
    /// trades in all (the tape keeps only the last entries).
    pub fn history(&self, account: AccountId, limit: usize) -> Result<History> {
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.account(account.index()), Kind::Hash);
        let [name_at, status_at, serial_at, trades_at, last_at] = [
            account::NAME,
            account::STATUS,
            account::SERIAL,
            account::TRADES,
            account::LAST_TRADE,
        ]
        .map(|field| watch.field(key, field));
        let (values, entries, _) = self.read_tape(&watch)?;
        self.check_account(&values, status_at, serial_at, account)?;
        let trades = self.counter(&values, trades_at, "a trade count")?;
        let last_trade = u64::try_from(self.integer(&values, last_at, "a last trade")?)
            .map_err(|_| self.link.corrupted("a last trade is negative"))?;
        let mine = entries
            .into_iter()
            .filter(|entry| entry.trader() == Some((account.index(), account.serial())));
        Ok(History {
            name: self.account_named(&values, name_at)?,
            // Its own trades, while it is open: every one is named.
            rows: self.rows(mine, |_, _| true, limit),
            trades,
            last_trade: (trades > 0).then_some(last_trade),
        })
    }

    /// Reads a watch's fields, the whole tape (newest first) and the
    /// slots' serials, in one snapshot.
    fn read_tape(&self, watch: &Watch) -> Result<(Vec<Option<String>>, Vec<Entry>, Serials)> {
        let tape = self.link.keys.tape();
        let serials = self.link.keys.serials();
        let (values, lines, serials) =
            self.link
                .with_connection("reading from redis", |connection| {
                    let (values, extra) = watch.read_with(connection, |pipe| {
                        pipe.lrange(&tape, 0, TAPE_LEN as isize - 1);
                        pipe.hgetall(&serials);
                    })?;
                    let lines: Vec<String> = match extra.first() {
                        Some(reply) => redis::from_redis_value(reply)?,
                        None => Vec::new(),
                    };
                    let serials: Vec<(String, String)> = match extra.get(1) {
                        Some(reply) => redis::from_redis_value(reply)?,
                        None => Vec::new(),
                    };
                    Ok((values, lines, serials))
                })?;
        self.check_live(&values)?;
        let entries = lines.iter().filter_map(|line| Entry::parse(line)).collect();
        let serials = serials
            .iter()
            .filter_map(|(slot, serial)| Some((slot.parse().ok()?, serial.parse().ok()?)))
            .collect();
        Ok((values, entries, serials))
    }

    /// The newest `limit` of `entries` (newest first), oldest first; an
    /// account for which `holds(slot, serial)` is false shows as closed.
    fn rows(
        &self,
        entries: impl IntoIterator<Item = Entry>,
        holds: impl Fn(u32, u32) -> bool,
        limit: usize,
    ) -> Vec<TapeRow> {
        let mut rows: Vec<TapeRow> = entries
            .into_iter()
            .filter_map(|entry| entry.row(&self.currencies, &holds))
            .take(limit)
            .collect();
        rows.reverse();
        rows
    }

    /// Checks both conservation laws on one snapshot, with i128 sums.
    pub fn audit(&self) -> Result<Audit> {
        let everyone = self.everyone()?;
        let currencies = self
            .currencies
            .iter()
            .zip(&everyone.currencies)
            .enumerate()
            .map(|(index, (known, (_, stock, initial)))| CurrencyCount {
                name: known.name.clone(),
                stock: stock.hundredths(),
                initial: initial.hundredths(),
                held: everyone
                    .accounts
                    .iter()
                    .map(|row| i128::from(row.holdings[index].hundredths()))
                    .sum(),
            });
        Ok(Audit::of(
            currencies,
            MoneyCount {
                cash: everyone.cash.hundredths(),
                balances: everyone
                    .accounts
                    .iter()
                    .map(|row| i128::from(row.balance.hundredths()))
                    .sum(),
                initial_cash: everyone.initial_cash.hundredths(),
                starting_balance: self.starting_balance.hundredths(),
                accounts: everyone.accounts.iter().filter(|row| row.open).count() as u32,
                handed_out: everyone.handed_out,
            },
        ))
    }

    /// Adds an account's name, status, balance and holdings to a watch.
    fn watch_account(&self, watch: &mut Watch, index: u32) -> AccountFields {
        let key = watch.key(self.link.keys.account(index), Kind::Hash);
        AccountFields {
            name: watch.field(key, account::NAME),
            status: watch.field(key, account::STATUS),
            serial: watch.field(key, account::SERIAL),
            balance: watch.field(key, account::BALANCE),
            holdings: (0..self.currencies.len())
                .map(|currency| watch.field(key, keys::holding(currency)))
                .collect(),
        }
    }

    /// The account read with [`RedisMarket::watch_account`].
    fn account_row(&self, values: &[Option<String>], fields: &AccountFields) -> Result<AccountRow> {
        let open = match self.check_open(values, fields.status) {
            Ok(()) => true,
            Err(Error::AccountClosed) => false,
            Err(error) => return Err(error),
        };
        Ok(AccountRow {
            name: self.account_named(values, fields.name)?,
            open,
            balance: self.money(values, fields.balance, "a balance")?,
            holdings: fields
                .holdings
                .iter()
                .map(|at| self.money(values, *at, "a holding"))
                .collect::<Result<Vec<_>>>()?,
        })
    }

    /// Every account, with the count they were read with unchanged.
    fn everyone(&self) -> Result<Everyone> {
        let mut count = 0;
        for _ in 0..MAX_SNAPSHOT_ATTEMPTS {
            let mut watch = self.watch();
            let [count_at, cash_at, initial_cash_at, handed_out_at] = [
                meta::ACCOUNT_COUNT,
                meta::CASH,
                meta::INITIAL_CASH,
                meta::HANDED_OUT,
            ]
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
            let now = self.slots_used(&values, count_at)?;
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
                .map(|fields| self.account_row(&values, fields))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Everyone {
                cash: self.money(&values, cash_at, "the cash")?,
                initial_cash: self.money(&values, initial_cash_at, "the initial cash")?,
                handed_out: self.counter(&values, handed_out_at, "the handed-out count")?,
                currencies,
                accounts,
            });
        }
        // Accounts kept opening while every account was read.
        Err(Error::Busy {
            address: self.link.address.to_string(),
        })
    }

    /// A portfolio valued at the given buy prices: what each holding would
    /// fetch now.
    fn valued(&self, name: &str, balance: Money, holdings: &[Money], buys: &[Price]) -> Portfolio {
        let holdings = self
            .currencies
            .iter()
            .zip(holdings)
            .zip(buys)
            .map(|((currency, held), buy)| (currency.name.clone(), *held, *buy));
        Portfolio::valued(name.to_owned(), balance, holdings, self.starting_balance)
    }
}
