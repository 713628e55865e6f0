//! The same market on a Redis server, for a class that outgrows one host:
//! `redis://[:PASSWORD@]HOST:PORT/NAME`.
//!
//! # One set of rules
//!
//! A trade reads the values it needs (the quote, stock, holding, balance,
//! cash, the account's status and serial: one `HMGET` per key, in one
//! round trip), computes the outcome with the same pure functions as the
//! segment (`rules::trade`), and commits with the trade script,
//! [`delta::SCRIPT`]. The script compares only what the outcome depends on
//! (the quote, the halted flag, the account) and applies the four changes
//! as deltas, each guarded so it cannot go negative or past `i64::MAX`:
//! exactly the conditions under which the rules accept. So trades on
//! different accounts and currencies never conflict. If a check fails the
//! script writes nothing and returns the values now, and the trader
//! decides again from them. Either way it returns the values, and the
//! trader's next trade on the same account and currency decides from them
//! without reading: one round trip. No market rule is written in Lua.
//!
//! Opening and closing accounts, moving cash and the owner's commands
//! (price, halt, resume, reset, close) commit with the general
//! compare-and-set script, [`commit::SCRIPT`], which writes only if every
//! value they read is unchanged (else they decide again, up to
//! [`commit::MAX_ATTEMPTS`] times with a growing random pause), each with
//! its tape entry, and validate with the segment's functions too
//! (`rules::check_quote`). The owner is the uid recorded at creation: see
//! [`RedisMarket::require_owner`] for what a uid can and cannot prove
//! across machines.
//!
//! Why optimistic scripts rather than a lock: a Redis lock held by a
//! trader that dies (or whose connection drops) stays held until it times
//! out, and every step under it is a round trip. A script runs whole or
//! not at all, so a killed trader leaves no half trade and no lock; a lost
//! race costs one retry.
//!
//! # Keys (see [`keys`])
//!
//! | key | type | holds |
//! |---|---|---|
//! | `exchange:{NAME}:meta` | hash | magic, layout, epoch, state, owner_uid, cash, initial_cash, starting_balance, capacity, currencies, account_count, account_serial, open_accounts, handed_out, halted, round_end, trade_seq, change_seq |
//! | `exchange:{NAME}:currency:<i>` | hash | name, sell, buy, stock, initial_stock |
//! | `exchange:{NAME}:accounts` | hash | an open account's name to its slot |
//! | `exchange:{NAME}:serials` | hash | a used slot to the serial of the account in it |
//! | `exchange:{NAME}:account:<i>` | hash | name, owner, status, serial, balance, trades, last_trade, holding:<currency index> |
//! | `exchange:{NAME}:tape` | list | the last 256 entries (trades and the owner's commands), newest first |
//! | `exchange:{NAME}:changes` | channel | the change counter after each commit |
//!
//! Money is in hundredths and prices in ten-thousandths, as decimal
//! integers: exact, like the segment. Every key carries the hash tag
//! `{NAME}`, so Redis Cluster keeps a market in one slot and the script
//! may touch any of its keys.
//!
//! # Trusting what is there
//!
//! A `meta` key that is not a hash or lacks the magic is
//! [`Error::NotAnExchange`] and is never written or removed; another
//! layout version is [`Error::Incompatible`]. `epoch` is random per
//! creation and every read and commit checks it with `state`, so a trader
//! whose market was removed or replaced gets [`Error::Retired`].
#![forbid(unsafe_code)]

mod address;
mod commit;
mod connection;
mod delta;
mod instructor;
mod keys;
mod lifecycle;
mod market;
mod notify;
mod reading;
mod round;
mod tape;
mod trading;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

pub use crate::domain::{AccountId, CurrencyId, Fill};
pub use address::{RedisAddress, RedisAddressError, DEFAULT_PORT};

use self::commit::{Kind, Watch, META};
use self::keys::Keys;
use crate::domain::Currency;
use crate::error::{Error, Result};
use crate::money::{Money, Price};

/// Hash fields as read, in the order a [`Watch`] asked for them.
type Values = Vec<Option<String>>;

/// One connection to the server, and the market's key names.
struct Link {
    address: RedisAddress,
    keys: Keys,
    connection: Mutex<redis::Connection>,
    /// Commits that lost a race and were computed again.
    conflicts: AtomicU64,
}

impl Link {
    fn connect(address: &RedisAddress) -> Result<Link> {
        Ok(Link {
            address: address.clone(),
            keys: Keys::new(&address.name),
            connection: Mutex::new(connection::connect(address)?),
            conflicts: AtomicU64::new(0),
        })
    }

    /// Runs commands on the connection; `what` names them in an error.
    fn with_connection<T>(
        &self,
        what: &'static str,
        run: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        run(&mut connection).map_err(|error| connection::failure(&self.address, what, error))
    }

    fn corrupted(&self, reason: impl Into<String>) -> Error {
        Error::Corrupted {
            address: self.address.to_string(),
            reason: reason.into(),
        }
    }
}

/// A market on a Redis server, attached in this process. Each value holds
/// its own connection; use one per thread for parallel trading.
pub struct RedisMarket {
    link: Link,
    /// Which creation of the market this is attached to.
    epoch: String,
    capacity: u32,
    starting_balance: Money,
    /// The uid recorded at creation as the market's owner.
    owner_uid: u32,
    /// The real uid of this process, which owns the accounts it opens.
    caller: u32,
    /// The currencies' names, fixed at creation.
    currencies: Vec<Currency>,
    /// What the trade script returned after this value's last trade on
    /// each (account slot, currency): the next trade there decides from it
    /// and needs no read. Stale values cost nothing: the script checks what
    /// the decision depends on and returns the values now if it moved.
    trade_reads: Mutex<HashMap<(u32, usize), Values>>,
    /// A second connection for pub/sub, made on the first wait.
    watcher: Mutex<Option<redis::Connection>>,
    /// Where [`RedisMarket::wake_watchers`] wakes this value's waiter.
    wake_channel: String,
}

/// Positions of the identity fields in every [`RedisMarket::watch`].
const EPOCH_AT: usize = 0;
const STATE_AT: usize = 1;

impl RedisMarket {
    /// The address, its password masked when displayed.
    pub fn address(&self) -> &RedisAddress {
        &self.link.address
    }

    /// How many commits lost a race with another trader and were retried.
    pub fn conflicts(&self) -> u64 {
        self.link.conflicts.load(Relaxed)
    }

    /// A watch on the meta hash's identity; add the fields an operation
    /// reads.
    fn watch(&self) -> Watch {
        let mut watch = Watch::new(self.link.keys.meta(), Kind::Hash);
        watch.field(META, keys::meta::EPOCH);
        watch.field(META, keys::meta::STATE);
        watch
    }

    /// Checks the identity fields of a [`RedisMarket::watch`]'s values:
    /// the market is still the one attached to, and trading.
    fn check_live(&self, values: &[Option<String>]) -> Result<()> {
        let retired = || Error::Retired {
            address: self.link.address.to_string(),
        };
        if value(values, EPOCH_AT) != Some(self.epoch.as_str()) {
            return Err(retired());
        }
        match value(values, STATE_AT) {
            Some(keys::READY) => Ok(()),
            Some(keys::RETIRED) => Err(retired()),
            other => Err(self
                .link
                .corrupted(format!("unknown state {:?}", other.unwrap_or("")))),
        }
    }

    /// Reads a watch's fields in one consistent snapshot, and checks that
    /// the market is live.
    fn read(&self, watch: &Watch) -> Result<Vec<Option<String>>> {
        let values = self
            .link
            .with_connection("reading from redis", |connection| watch.read(connection))?;
        self.check_live(&values)?;
        Ok(values)
    }

    fn integer(&self, values: &[Option<String>], at: usize, what: &str) -> Result<i64> {
        integer(values, at).ok_or_else(|| {
            self.link
                .corrupted(format!("{what} is missing or not a whole number"))
        })
    }

    fn money(&self, values: &[Option<String>], at: usize, what: &str) -> Result<Money> {
        self.integer(values, at, what).map(Money::from_hundredths)
    }

    fn price(&self, values: &[Option<String>], at: usize, what: &str) -> Result<Price> {
        self.integer(values, at, what)
            .map(Price::from_ten_thousandths)
    }

    /// The halted flag read at `at`.
    fn halted(&self, values: &[Option<String>], at: usize) -> Result<bool> {
        match value(values, at) {
            Some("0") => Ok(false),
            Some("1") => Ok(true),
            _ => Err(self.link.corrupted("the halted flag is neither 0 nor 1")),
        }
    }

    /// The round's end read at `at`: `None` when no round is set.
    fn round_end_at(&self, values: &[Option<String>], at: usize) -> Result<Option<u64>> {
        match value(values, at).map(str::parse::<u64>) {
            Some(Ok(0)) => Ok(None),
            Some(Ok(end)) => Ok(Some(end)),
            _ => Err(self
                .link
                .corrupted("the round's end is missing or not a whole number")),
        }
    }

    /// The sequence number after the tape's last, read at `at`.
    fn next_seq(&self, values: &[Option<String>], at: usize) -> Result<u64> {
        u64::try_from(self.integer(values, at, "the trade counter")?)
            .map_err(|_| self.link.corrupted("the trade counter is negative"))?
            .checked_add(1)
            .ok_or(Error::Overflow)
    }
}

/// The value at a position, if there is one.
fn value(values: &[Option<String>], at: usize) -> Option<&str> {
    values.get(at).and_then(Option::as_deref)
}

/// The integer at a position, if there is a valid one.
fn integer(values: &[Option<String>], at: usize) -> Option<i64> {
    value(values, at)?.parse().ok()
}
