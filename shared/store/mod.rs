//! One market, two stores: a shared-memory segment on this host
//! ([`Exchange`]) or a Redis server for a class that outgrows one host
//! ([`RedisMarket`]). Both apply the same rules (`domain::rules`); this
//! module only chooses between them, so the command language, the drivers
//! and the instruments are written once.
//!
//! [`MarketAddress`] is what `--segment` parses into. [`Store`] has the
//! methods of [`Exchange`], by the same names, each a two-arm match. What
//! only one store can do (file modes, class mode, the unlocked race
//! demonstration) is an [`Error::Unsupported`] on the other.
#![forbid(unsafe_code)]

mod address;
pub mod redis;
pub mod shm;

use std::time::Duration;

use crate::config::MarketConfig;
use crate::domain::{
    AccountId, Audit, Currency, CurrencyId, Fill, History, Portfolio, Rate, Receipt, Side, Status,
    TapeRow,
};
use crate::error::{Error, Result};
use crate::money::{Money, Price};
use crate::store::redis::{RedisAddress, RedisMarket};
use crate::store::shm::{Exchange, UnlockedDemo};

pub use address::{MarketAddress, MarketAddressError};

/// The permission bits of a new segment when `--mode` is not given.
pub const DEFAULT_MODE: u32 = 0o600;

/// A market attached in this process, in either store.
pub enum Store {
    Segment(Exchange),
    /// Boxed: its connections make it several times a segment's size.
    Redis(Box<RedisMarket>),
}

/// Runs the same expression on whichever market a [`Store`] holds.
macro_rules! either {
    ($store:expr, $market:ident => $body:expr) => {
        match $store {
            Store::Segment($market) => $body,
            Store::Redis($market) => $body,
        }
    };
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

    /// True when this process may only read the market.
    pub fn is_read_only(&self) -> bool {
        match self {
            Store::Segment(exchange) => exchange.is_read_only(),
            Store::Redis(_) => false,
        }
    }

    /// The address this market was attached at.
    pub fn address(&self) -> MarketAddress {
        match self {
            Store::Segment(exchange) => MarketAddress::Segment(exchange.address().clone()),
            Store::Redis(market) => MarketAddress::Redis(market.address().clone()),
        }
    }

    /// The currencies, in the market's order.
    pub fn currencies(&self) -> &[Currency] {
        either!(self, market => market.currencies())
    }

    /// Finds a currency by name, ignoring case.
    pub fn currency(&self, name: &str) -> Result<CurrencyId> {
        either!(self, market => market.currency(name))
    }

    /// A currency's name.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        either!(self, market => market.currency_info(currency))
    }

    /// Names the currency of a [`Fill`].
    pub fn receipt(&self, fill: Fill) -> Receipt {
        either!(self, market => market.receipt(fill))
    }

    /// Buys or sells for an account, all or nothing.
    #[inline]
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        either!(self, market => market.trade(account, side, currency, amount))
    }

    /// Checks the market is still there and whole before a command. A
    /// segment asks the operating system; on Redis every read and commit
    /// checks the market's identity itself, so there is nothing to add.
    pub fn check_backing(&self) -> Result<()> {
        match self {
            Store::Segment(exchange) => exchange.check_backing().map(drop),
            Store::Redis(_) => Ok(()),
        }
    }

    /// What `exchange-init --status` shows.
    pub fn status(&self) -> Result<Status> {
        either!(self, market => market.status())
    }

    /// Moves `amount` of the exchange's cash to an account's balance.
    /// Owner only. Returns the account's new balance.
    pub fn transfer_from_cash(&self, account: AccountId, amount: Money) -> Result<Money> {
        either!(self, market => market.transfer_from_cash(account, amount))
    }

    /// The uid that owns the market. On Redis it is the uid recorded at
    /// creation: a server cannot say which uid owns a key.
    pub fn owner_uid(&self) -> Result<Option<u32>> {
        match self {
            Store::Segment(exchange) => exchange.owner_uid(),
            Store::Redis(market) => Ok(Some(market.owner_uid())),
        }
    }

    /// Refuses, changing nothing, unless this process runs as the owner or
    /// as root; `action` completes "only the owner of this exchange may ...".
    pub fn require_owner(&self, action: &str) -> Result<()> {
        either!(self, market => market.require_owner(action))
    }

    /// What each new account starts with.
    pub fn starting_balance(&self) -> Result<Money> {
        either!(self, market => market.starting_balance())
    }

    /// Sets a currency's quote. Owner only.
    pub fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()> {
        either!(self, market => market.set_price(currency, sell, buy))
    }

    /// One tick of the ticker: sets every `(currency, sell, buy)` quote,
    /// with one tape entry for them all. Owner only.
    pub fn tick(&self, quotes: &[(CurrencyId, Price, Price)]) -> Result<()> {
        either!(self, market => market.tick(quotes))
    }

    /// Stops trading until [`Store::resume`]; reads go on. Owner only.
    pub fn halt(&self) -> Result<()> {
        either!(self, market => market.halt())
    }

    /// Lets trading go on after [`Store::halt`]. Owner only.
    pub fn resume(&self) -> Result<()> {
        either!(self, market => market.resume())
    }

    /// Puts every account, the stock and the cash back to their starting
    /// values and starts the tape again. Owner only.
    pub fn reset(&self) -> Result<()> {
        either!(self, market => market.reset())
    }

    /// Closes an account, giving its holdings to the stock and its balance
    /// to the cash; returns that balance. Owner only.
    pub fn close_account(&self, name: &str) -> Result<Money> {
        either!(self, market => market.close_account(name))
    }

    /// Opens the named account, or finds it.
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        either!(self, market => market.open_account(name))
    }

    /// Opens (or finds) the named account if that needs no wait for the
    /// lock; `Ok(None)` when it would wait, or when this user may only read.
    pub fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>> {
        either!(self, market => market.open_account_if_free(name))
    }

    /// Opens (or finds) every named account, or none of them.
    pub fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>> {
        either!(self, market => market.open_accounts(names))
    }

    /// The open account called `name`, if there is one.
    pub fn find_account(&self, name: &str) -> Result<Option<AccountId>> {
        either!(self, market => market.find_account(name))
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        either!(self, market => market.account_name(account))
    }

    /// The last `limit` entries of the tape, oldest first.
    pub fn tape(&self, limit: usize) -> Result<Vec<TapeRow>> {
        either!(self, market => market.tape(limit))
    }

    /// An account's last `limit` trades on the tape, with its count of
    /// trades in all.
    pub fn history(&self, account: AccountId, limit: usize) -> Result<History> {
        either!(self, market => market.history(account, limit))
    }

    /// The quotes and the exchange's stock.
    pub fn rates(&self) -> Result<Vec<Rate>> {
        either!(self, market => market.rates())
    }

    /// An account's balance and holdings, valued at today's buy prices.
    pub fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        either!(self, market => market.portfolio(account))
    }

    /// Every account's portfolio.
    pub fn traders(&self) -> Result<Vec<Portfolio>> {
        either!(self, market => market.traders())
    }

    /// The price and total of a trade now, without trading.
    pub fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        either!(self, market => market.quote(side, currency, amount))
    }

    /// Both conservation laws, checked on one snapshot.
    pub fn audit(&self) -> Result<Audit> {
        either!(self, market => market.audit())
    }

    /// The change counter, bumped after every committed change. On Redis a
    /// failed read gives 0, so the next wait returns at once and the read
    /// after it reports the failure.
    pub fn change_seq(&self) -> u32 {
        match self {
            Store::Segment(exchange) => exchange.change_seq(),
            Store::Redis(market) => market.change_seq().unwrap_or(0),
        }
    }

    /// Sleeps until the change counter moves past `seen`, a
    /// [`Store::wake_watchers`], or `timeout`: a futex on a segment,
    /// pub/sub on Redis.
    pub fn wait_for_change(&self, seen: u32, timeout: Duration) {
        either!(self, market => market.wait_for_change(seen, timeout))
    }

    /// The change counter with no change half made (see
    /// [`Exchange::settled_change_seq`]); on Redis a commit moves it once.
    pub fn settled_change_seq(&self) -> u32 {
        match self {
            Store::Segment(exchange) => exchange.settled_change_seq(),
            Store::Redis(market) => market.change_seq().unwrap_or(0),
        }
    }

    /// [`Store::wait_for_change`] that hands back as soon as the counter
    /// moves, for a bot's `wait` (a board's waits rest behind a flood of
    /// changes; Redis's never do).
    pub fn wait_for_change_promptly(&self, seen: u32, timeout: Duration) {
        match self {
            Store::Segment(exchange) => exchange.wait_for_change_promptly(seen, timeout),
            Store::Redis(market) => market.wait_for_change(seen, timeout),
        }
    }

    /// Wakes the waiters in [`Store::wait_for_change`] (on Redis, only
    /// this process's).
    pub fn wake_watchers(&self) {
        either!(self, market => market.wake_watchers())
    }

    /// The Unix time in milliseconds the timed round ends, if one is set
    /// (see [`crate::round`]).
    pub fn round_end(&self) -> Result<Option<u64>> {
        match self {
            Store::Segment(exchange) => Ok(exchange.round_end()),
            Store::Redis(market) => market.round_end(),
        }
    }

    /// Sets the round's end, or clears it with `None`. Owner only.
    pub fn set_round_end(&self, end: Option<u64>) -> Result<()> {
        either!(self, market => market.set_round_end(end))
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
