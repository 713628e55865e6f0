//! The SQLite rival: the same market in a SQLite database, as a user who
//! reached for an embedded database would build it. WAL mode on a tmpfs
//! path (`/dev/shm`), `synchronous = OFF`, and one `BEGIN IMMEDIATE`
//! transaction per trade that reads the four values, applies the market's
//! own [`rules::trade`] (the same checks and rounding), writes the new
//! values and a tape row, and commits. Every process opens the file itself.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

use shm_exchange::domain::rules::{self, Position, Quote};
use shm_exchange::{Error, MarketConfig, Money, Price, Result, Side};

use super::venue::Venue;
use crate::stress::os_error;

/// The tape keeps this many trades, like the segment's ring.
const TAPE_LEN: i64 = 256;

/// A SQLite market on `/dev/shm`, its files removed when dropped.
pub struct SqliteMarket {
    path: PathBuf,
}

fn sql_error<'a>(path: &'a Path, what: &'static str) -> impl Fn(rusqlite::Error) -> Error + 'a {
    move |error| {
        os_error(
            path.display(),
            what,
            std::io::Error::other(error.to_string()),
        )
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path).map_err(sql_error(path, "opening"))?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .and_then(|()| connection.pragma_update(None, "journal_mode", "WAL"))
        .and_then(|()| connection.pragma_update(None, "synchronous", "OFF"))
        .map_err(sql_error(path, "setting up"))?;
    Ok(connection)
}

impl SqliteMarket {
    /// Creates the database at `path` with `config`'s market and
    /// `accounts` accounts.
    pub fn create(path: PathBuf, config: &MarketConfig, accounts: usize) -> Result<SqliteMarket> {
        let market = SqliteMarket { path };
        market.remove_files();
        let path = market.path.as_path();
        let mut connection = connect(path)?;
        let transaction = connection
            .transaction()
            .map_err(sql_error(path, "creating"))?;
        transaction
            .execute_batch(
                "CREATE TABLE market (id INTEGER PRIMARY KEY, cash INTEGER NOT NULL, trades INTEGER NOT NULL);
                 CREATE TABLE currency (id INTEGER PRIMARY KEY, name TEXT NOT NULL, sell INTEGER NOT NULL, buy INTEGER NOT NULL, stock INTEGER NOT NULL);
                 CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
                 CREATE TABLE holding (account INTEGER, currency INTEGER, amount INTEGER NOT NULL, PRIMARY KEY (account, currency)) WITHOUT ROWID;
                 CREATE TABLE tape (slot INTEGER PRIMARY KEY, seq INTEGER, account INTEGER, side INTEGER, currency INTEGER, amount INTEGER, price INTEGER, total INTEGER);",
            )
            .and_then(|()| {
                transaction.execute(
                    "INSERT INTO market VALUES (0, ?1, 0)",
                    params![config.cash.hundredths()],
                )
            })
            .and_then(|_| {
                for (id, currency) in config.currencies.iter().enumerate() {
                    transaction.execute(
                        "INSERT INTO currency VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            id as i64,
                            currency.name,
                            currency.sell.ten_thousandths(),
                            currency.buy.ten_thousandths(),
                            currency.stock.hundredths()
                        ],
                    )?;
                }
                for account in 0..accounts {
                    transaction.execute(
                        "INSERT INTO account VALUES (?1, ?2)",
                        params![account as i64, config.starting_balance.hundredths()],
                    )?;
                    for currency in 0..config.currencies.len() {
                        transaction.execute(
                            "INSERT INTO holding VALUES (?1, ?2, 0)",
                            params![account as i64, currency as i64],
                        )?;
                    }
                }
                Ok(())
            })
            .and_then(|()| transaction.commit())
            .map_err(sql_error(path, "creating"))?;
        Ok(market)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Units of each currency (stock plus holdings) and all the money
    /// (cash plus balances): what the audit compares with the start.
    pub fn totals(&self) -> Result<(Vec<i64>, i64)> {
        let path = self.path.as_path();
        let connection = connect(path)?;
        let mut units = connection
            .prepare(
                "SELECT c.stock + (SELECT COALESCE(SUM(amount), 0) FROM holding WHERE currency = c.id)
                 FROM currency c ORDER BY c.id",
            )
            .map_err(sql_error(path, "auditing"))?;
        let units = units
            .query_map([], |row| row.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<i64>>>())
            .map_err(sql_error(path, "auditing"))?;
        let money = connection
            .query_row(
                "SELECT cash + (SELECT SUM(balance) FROM account) FROM market",
                [],
                |row| row.get(0),
            )
            .map_err(sql_error(path, "auditing"))?;
        Ok((units, money))
    }

    fn remove_files(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

impl Drop for SqliteMarket {
    fn drop(&mut self) {
        self.remove_files();
    }
}

/// One process's connection, trading for one account.
pub struct SqliteTrader {
    connection: Connection,
    path: PathBuf,
    account: i64,
    quotes: Vec<Quote>,
}

impl SqliteTrader {
    pub fn open(path: &Path, account: usize) -> Result<SqliteTrader> {
        let connection = connect(path)?;
        let quotes = connection
            .prepare("SELECT sell, buy FROM currency ORDER BY id")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| {
                        Ok(Quote {
                            sell: Price::from_ten_thousandths(row.get(0)?),
                            buy: Price::from_ten_thousandths(row.get(1)?),
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sql_error(path, "reading the quotes"))?;
        Ok(SqliteTrader {
            connection,
            path: path.to_owned(),
            account: account as i64,
            quotes,
        })
    }

    pub fn currencies(&self) -> usize {
        self.quotes.len()
    }

    fn transact(
        &mut self,
        side: Side,
        currency: usize,
        quote: Quote,
        amount: Money,
    ) -> rusqlite::Result<bool> {
        let currency = currency as i64;
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let money = |row: &rusqlite::Row<'_>, index| row.get(index).map(Money::from_hundredths);
        let stock = transaction
            .prepare_cached("SELECT stock FROM currency WHERE id = ?1")?
            .query_row([currency], |row| money(row, 0))?;
        let holding = transaction
            .prepare_cached("SELECT amount FROM holding WHERE account = ?1 AND currency = ?2")?
            .query_row([self.account, currency], |row| money(row, 0))?;
        let balance = transaction
            .prepare_cached("SELECT balance FROM account WHERE id = ?1")?
            .query_row([self.account], |row| money(row, 0))?;
        let (cash, seq) = transaction
            .prepare_cached("SELECT cash, trades FROM market WHERE id = 0")?
            .query_row([], |row| Ok((money(row, 0)?, row.get::<_, i64>(1)? + 1)))?;
        let before = Position {
            stock,
            holding,
            balance,
            cash,
        };
        // A refusal changes nothing: the transaction rolls back when dropped.
        let Ok(outcome) = rules::trade(side, quote, amount, before) else {
            return Ok(false);
        };
        let after = outcome.after;
        transaction
            .prepare_cached("UPDATE currency SET stock = ?1 WHERE id = ?2")?
            .execute(params![after.stock.hundredths(), currency])?;
        transaction
            .prepare_cached("UPDATE holding SET amount = ?1 WHERE account = ?2 AND currency = ?3")?
            .execute(params![after.holding.hundredths(), self.account, currency])?;
        transaction
            .prepare_cached("UPDATE account SET balance = ?1 WHERE id = ?2")?
            .execute(params![after.balance.hundredths(), self.account])?;
        transaction
            .prepare_cached("UPDATE market SET cash = ?1, trades = ?2 WHERE id = 0")?
            .execute(params![after.cash.hundredths(), seq])?;
        transaction
            .prepare_cached("INSERT OR REPLACE INTO tape VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?
            .execute(params![
                seq % TAPE_LEN,
                seq,
                self.account,
                side == Side::Buy,
                currency,
                amount.hundredths(),
                outcome.price.ten_thousandths(),
                outcome.total.hundredths()
            ])?;
        transaction.commit().map(|()| true)
    }
}

impl Venue for SqliteTrader {
    fn trade(&mut self, side: Side, currency: usize, amount: Money) -> Result<bool> {
        let Some(&quote) = self.quotes.get(currency) else {
            return Err(Error::UnknownCurrency {
                name: currency.to_string(),
                suggestion: None,
            });
        };
        let traded = self.transact(side, currency, quote, amount);
        traded.map_err(sql_error(&self.path, "trading"))
    }
}
