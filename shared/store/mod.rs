//! One market, two stores: a shared-memory segment on this host
//! ([`Exchange`]) or a Redis server for a class that outgrows one host
//! ([`RedisMarket`]). Both apply the same rules (`domain::rules`); this
//! module only chooses between them, so the command language, the drivers
//! and the instruments are written once.
//!
//! [`MarketAddress`] is what `--segment` parses into; [`Market`]
//! (`market.rs`) is what a market is, implemented once by each store;
//! [`Store`] is the opened market, which derefs to it. What only one store
//! can do (file modes, class mode, the unlocked race demonstration) is an
//! [`Error::Unsupported`] on the other. Neither store imports the other.
#![forbid(unsafe_code)]

mod address;
mod market;
pub mod redis;
pub mod shm;

use std::ops::Deref;

use crate::config::MarketConfig;
use crate::domain::{AccountId, CurrencyId, Fill, Side};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::store::redis::{RedisAddress, RedisMarket};
use crate::store::shm::{Exchange, UnlockedDemo};

pub use address::{MarketAddress, MarketAddressError};
pub use market::{Market, StoreKind};

/// The permission bits of a new segment when `--mode` is not given.
pub const DEFAULT_MODE: u32 = 0o600;

/// A market attached in this process, in either store. It derefs to
/// [`Market`], so `store.rates()` and the rest are the trait's.
pub enum Store {
    Segment(Exchange),
    /// Boxed: its connections make it several times a segment's size.
    Redis(Box<RedisMarket>),
}

impl Deref for Store {
    type Target = dyn Market;

    fn deref(&self) -> &(dyn Market + 'static) {
        self.market()
    }
}

impl Store {
    /// Creates and seeds a market. `mode` (default [`DEFAULT_MODE`]) sets a
    /// segment's permission bits; Redis has none, so a mode given for it is
    /// refused rather than silently ignored.
    pub fn create(
        address: &MarketAddress,
        config: &MarketConfig,
        mode: Option<u32>,
    ) -> Result<Store> {
        match address {
            MarketAddress::Segment(address) => {
                Exchange::create(address, config, mode.unwrap_or(DEFAULT_MODE)).map(Store::Segment)
            }
            MarketAddress::Redis(address) => {
                refuse_mode(address, mode)?;
                RedisMarket::create(address, config)
                    .map(Box::new)
                    .map(Store::Redis)
            }
        }
    }

    /// Replaces whatever market is at the address; its traders stop.
    /// Also returns what was there when it was not a sound exchange (see
    /// [`Exchange::remove_reporting`]).
    pub fn replace(
        address: &MarketAddress,
        config: &MarketConfig,
        mode: Option<u32>,
    ) -> Result<(Store, Option<String>)> {
        match address {
            MarketAddress::Segment(address) => {
                Exchange::replace(address, config, mode.unwrap_or(DEFAULT_MODE))
                    .map(|(exchange, found)| (Store::Segment(exchange), found))
            }
            MarketAddress::Redis(address) => {
                refuse_mode(address, mode)?;
                RedisMarket::replace(address, config)
                    .map(|market| (Store::Redis(Box::new(market)), None))
            }
        }
    }

    /// Retires the market, so attached traders stop, and removes it; says
    /// what was there when it was not a sound exchange (see
    /// [`Exchange::remove_reporting`]).
    pub fn remove(address: &MarketAddress) -> Result<Option<String>> {
        match address {
            MarketAddress::Segment(address) => Exchange::remove_reporting(address),
            MarketAddress::Redis(address) => RedisMarket::remove(address).map(|()| None),
        }
    }

    /// Creates a market in class mode (a group's segment, account names
    /// bound to logins). Shared memory only: on a Redis server the class is
    /// guarded by the server's password or ACLs.
    pub fn create_for_class(
        address: &MarketAddress,
        config: &MarketConfig,
        group: u32,
    ) -> Result<Store> {
        let segment = class_segment(address)?;
        Exchange::create_for_class(segment, config, group).map(Store::Segment)
    }

    /// [`Store::replace`] in class mode; shared memory only.
    pub fn replace_for_class(
        address: &MarketAddress,
        config: &MarketConfig,
        group: u32,
    ) -> Result<(Store, Option<String>)> {
        let segment = class_segment(address)?;
        Exchange::replace_for_class(segment, config, group)
            .map(|(exchange, found)| (Store::Segment(exchange), found))
    }

    /// Attaches to an existing market, checking it before trusting it.
    pub fn attach(address: &MarketAddress) -> Result<Store> {
        match address {
            MarketAddress::Segment(address) => Exchange::attach(address).map(Store::Segment),
            MarketAddress::Redis(address) => {
                // No open of a Redis market needs a class right.
                crate::privilege::drop_for_good()?;
                RedisMarket::attach(address).map(Box::new).map(Store::Redis)
            }
        }
    }

    /// Attaches read-write, or read-only where this user may only read a
    /// segment. A Redis server decides what a login may do itself, so a
    /// Redis market is attached as any other.
    pub fn attach_or_read_only(address: &MarketAddress) -> Result<Store> {
        match address {
            MarketAddress::Segment(address) => {
                Exchange::attach_or_read_only(address).map(Store::Segment)
            }
            MarketAddress::Redis(_) => Store::attach(address),
        }
    }

    /// The market, whichever store holds it: every method but the trade
    /// goes through this (and [`Deref`]).
    pub fn market(&self) -> &(dyn Market + 'static) {
        match self {
            Store::Segment(exchange) => exchange,
            Store::Redis(market) => market.as_ref(),
        }
    }

    /// Buys or sells for an account, all or nothing: [`Market::trade`],
    /// dispatched by a match so a segment's trade is a direct, inlined call
    /// on the hot path.
    #[inline]
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        match self {
            Store::Segment(exchange) => exchange.trade(account, side, currency, amount),
            Store::Redis(market) => market.trade(account, side, currency, amount),
        }
    }

    /// The race demonstration's unlocked trades, with the library's checks
    /// of who may race and on which market ([`Exchange::unlocked_demo`]).
    /// Redis has no lock to skip: its commits compare and set, so there is
    /// no race to show.
    pub fn unlocked_demo(&self) -> Result<UnlockedDemo<'_>> {
        match self {
            Store::Segment(exchange) => exchange.unlocked_demo(),
            Store::Redis(market) => Err(Error::Unsupported {
                what: "trading without the lock (--unlocked)".into(),
                address: market.address().to_string(),
                way_out: "a Redis market has no lock to skip; run the race demonstration on a shared-memory segment",
            }),
        }
    }
}

/// `--mode` means file permissions, which a Redis market does not have.
fn refuse_mode(address: &RedisAddress, mode: Option<u32>) -> Result<()> {
    match mode {
        None => Ok(()),
        Some(_) => Err(Error::Unsupported {
            what: "--mode".into(),
            address: address.to_string(),
            way_out: "a Redis market has no file mode; guard it with the server's password (redis://:PASSWORD@HOST:PORT/NAME) or ACLs",
        }),
    }
}

/// The segment of a class-mode market: Redis has no class mode (its
/// server's password or ACLs guard it), and System V is refused later.
fn class_segment(address: &MarketAddress) -> Result<&crate::address::SegmentAddress> {
    match address {
        MarketAddress::Segment(segment) => Ok(segment),
        MarketAddress::Redis(redis) => Err(Error::Unsupported {
            what: "class mode (--group)".to_owned(),
            address: redis.to_string(),
            way_out: "it works on a posix:/NAME or file:PATH segment; on Redis, the server's password or ACLs guard the market",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_is_refused_on_redis() {
        let address: RedisAddress = "redis://127.0.0.1:6390/m".parse().unwrap();
        assert!(refuse_mode(&address, None).is_ok());
        let error = refuse_mode(&address, Some(0o644)).unwrap_err().to_string();
        assert!(
            error.starts_with("--mode is not available on redis://"),
            "{error}"
        );
    }
}
