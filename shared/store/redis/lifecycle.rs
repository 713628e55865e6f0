//! Creating, attaching to, describing and removing a market. Creating is
//! one commit that insists the meta key does not exist; removing first
//! retires the market (so attached traders stop), then deletes its keys in
//! one commit.
#![forbid(unsafe_code)]

use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use super::commit::{Committed, Kind, Plan, Watch, Writes, META};
use super::keys::{self, currency, meta};
use super::notify;
use super::{integer, value, Link, RedisAddress, RedisMarket};
use crate::config::MarketConfig;
use crate::domain::{Currency, Rate, Status};
use crate::domain::{MAX_ACCOUNTS, MAX_CURRENCIES};
use crate::error::{Error, Result};
use crate::money::{Money, Price};
use crate::names::is_currency_name;

/// The meta fields an attach checks, in this order.
const ATTACH_FIELDS: [&str; 8] = [
    meta::MAGIC,
    meta::LAYOUT,
    meta::EPOCH,
    meta::STATE,
    meta::CAPACITY,
    meta::CURRENCIES,
    meta::STARTING_BALANCE,
    meta::OWNER_UID,
];

impl RedisMarket {
    /// Creates and seeds a new market. Fails, changing nothing, if a market
    /// (or anything else) is at its meta key, or the config is invalid.
    pub fn create(address: &RedisAddress, config: &MarketConfig) -> Result<RedisMarket> {
        config.validate().map_err(|reason| Error::Config {
            path: "(given)".into(),
            reason,
        })?;
        let link = Link::connect(address)?;
        let names = &link.keys;
        let watch = Watch::new(names.meta(), Kind::Absent);
        let mut writes = Writes::new(&watch);
        let epoch = format!("{:016x}", RandomState::new().hash_one(std::process::id()));
        let owner_uid = crate::caller::uid();
        for (field, value) in [
            (meta::MAGIC, keys::MAGIC.to_owned()),
            (meta::LAYOUT, keys::LAYOUT_VERSION.to_string()),
            (meta::EPOCH, epoch),
            (meta::STATE, keys::READY.to_owned()),
            (meta::OWNER_UID, owner_uid.to_string()),
            (meta::CASH, config.cash.hundredths().to_string()),
            (meta::INITIAL_CASH, config.cash.hundredths().to_string()),
            (
                meta::STARTING_BALANCE,
                config.starting_balance.hundredths().to_string(),
            ),
            (meta::CAPACITY, config.accounts.to_string()),
            (meta::CURRENCIES, config.currencies.len().to_string()),
            (meta::ACCOUNT_COUNT, "0".to_owned()),
            (meta::ACCOUNT_SERIAL, "0".to_owned()),
            (meta::OPEN_ACCOUNTS, "0".to_owned()),
            (meta::HANDED_OUT, "0".to_owned()),
            (meta::HALTED, "0".to_owned()),
            (meta::ROUND_END, "0".to_owned()),
            (meta::TRADE_SEQ, "0".to_owned()),
            (meta::CHANGE_SEQ, "0".to_owned()),
        ] {
            writes.set(META, field, value);
        }
        // Leftovers of an earlier market under this name go first.
        for key in [
            writes.key(names.accounts(), Kind::Hash),
            writes.key(names.serials(), Kind::Hash),
            writes.key(names.tape(), Kind::List),
        ] {
            writes.delete(key);
        }
        for (index, seed) in config.currencies.iter().enumerate() {
            let key = writes.key(names.currency(index), Kind::Hash);
            writes.delete(key);
            writes.set(key, currency::NAME, &seed.name);
            writes.set(key, currency::SELL, seed.sell.ten_thousandths());
            writes.set(key, currency::BUY, seed.buy.ten_thousandths());
            writes.set(key, currency::STOCK, seed.stock.hundredths());
            writes.set(key, currency::INITIAL_STOCK, seed.stock.hundredths());
        }
        match link.commit(&watch, &[], &writes)? {
            Committed::Written => RedisMarket::attach_with(link),
            Committed::Conflict(_) => Err(match RedisMarket::attach_with(link) {
                Err(error @ Error::NotAnExchange { .. }) => error,
                _ => Error::AlreadyExists {
                    address: address.to_string(),
                },
            }),
        }
    }

    /// Replaces whatever market is at the address with a new one; the old
    /// one is retired first, so traders attached to it stop.
    pub fn replace(address: &RedisAddress, config: &MarketConfig) -> Result<RedisMarket> {
        match RedisMarket::create(address, config) {
            Err(Error::AlreadyExists { .. }) => {
                RedisMarket::remove(address)?;
                RedisMarket::create(address, config)
            }
            other => other,
        }
    }

    /// Retires the market, so attached traders stop, then deletes its keys.
    /// Owner only, as the uid recorded at creation says. A key that is not
    /// an exchange's is never touched.
    pub fn remove(address: &RedisAddress) -> Result<()> {
        match RedisMarket::attach(address) {
            Ok(market) => {
                market.require_owner("remove or replace it")?;
                market.retire_and_delete()
            }
            // A damaged, outdated or half-removed market is still ours.
            Err(Error::Corrupted { .. } | Error::Incompatible { .. } | Error::Retired { .. }) => {
                delete_whatever_is_left(&Link::connect(address)?)
            }
            Err(error) => Err(error),
        }
    }

    /// Attaches to an existing market, checking its meta hash and
    /// currencies before trusting any of it.
    pub fn attach(address: &RedisAddress) -> Result<RedisMarket> {
        RedisMarket::attach_with(Link::connect(address)?)
    }

    fn attach_with(link: Link) -> Result<RedisMarket> {
        let text = || link.address.to_string();
        let meta_key = link.keys.meta();
        let (kind, fields): (String, Vec<Option<String>>) =
            link.with_connection("reading from redis", |connection| {
                redis::pipe()
                    .atomic()
                    .cmd("TYPE")
                    .arg(&meta_key)
                    .cmd("HMGET")
                    .arg(&meta_key)
                    .arg(&ATTACH_FIELDS[..])
                    .query(connection)
            })?;
        match kind.as_str() {
            "none" => return Err(Error::NoExchange { address: text() }),
            "hash" => {}
            other => {
                return Err(Error::NotAnExchange {
                    address: text(),
                    reason: format!("its key {meta_key} is a {other}, not an exchange's hash"),
                })
            }
        }
        if value(&fields, 0) != Some(keys::MAGIC) {
            return Err(Error::NotAnExchange {
                address: text(),
                reason: format!("no exchange magic in {meta_key}"),
            });
        }
        let layout = value(&fields, 1).unwrap_or("none");
        if layout != keys::LAYOUT_VERSION.to_string() {
            return Err(Error::Incompatible {
                address: text(),
                reason: format!(
                    "layout version {layout}, this build reads {}",
                    keys::LAYOUT_VERSION
                ),
            });
        }
        match value(&fields, 3) {
            Some(keys::READY) => {}
            Some(keys::RETIRED) => return Err(Error::Retired { address: text() }),
            other => return Err(link.corrupted(format!("unknown state {:?}", other.unwrap_or("")))),
        }
        let epoch = value(&fields, 2)
            .ok_or_else(|| link.corrupted("no epoch"))?
            .to_owned();
        let capacity = integer(&fields, 4)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=MAX_ACCOUNTS).contains(n))
            .ok_or_else(|| link.corrupted("the account capacity is out of range"))?;
        let count = integer(&fields, 5)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_CURRENCIES).contains(n))
            .ok_or_else(|| link.corrupted("the currency count is out of range"))?;
        let starting_balance = integer(&fields, 6)
            .map(Money::from_hundredths)
            .ok_or_else(|| link.corrupted("no starting balance"))?;
        let owner_uid = integer(&fields, 7)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| link.corrupted("no owner uid"))?;
        crate::trace!(
            "redis: meta checked: magic, layout {layout}, epoch {epoch}, state ready, {count} currencies"
        );
        let currencies = read_currencies(&link, count)?;
        let wake_channel = notify::private_channel(&link.keys.changes());
        Ok(RedisMarket {
            link,
            epoch,
            capacity,
            starting_balance,
            owner_uid,
            caller: crate::caller::uid(),
            currencies,
            trade_reads: Mutex::default(),
            watcher: Mutex::new(None),
            wake_channel,
        })
    }

    /// Marks the market retired, which stops every commit and wakes every
    /// board, then deletes all its keys at once.
    fn retire_and_delete(&self) -> Result<()> {
        let mut watch = self.watch();
        let count_at = watch.field(META, meta::ACCOUNT_COUNT);
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            let mut writes = Writes::new(&watch);
            writes.set(META, meta::STATE, keys::RETIRED);
            Ok(Plan::Write(writes, ()))
        })?;
        // Retired: nothing opens an account any more, so the count holds.
        let values = self
            .link
            .with_connection("reading from redis", |connection| watch.read(connection))?;
        let count = self.integer(&values, count_at, "the account count")?;
        let accounts = u32::try_from(count).unwrap_or(0).min(MAX_ACCOUNTS);
        delete_keys(&self.link, self.currencies.len(), accounts)
    }

    /// The uid recorded as the market's creator. A Redis server cannot say
    /// which uid owns a key, so this is only what the creator wrote.
    pub fn owner_uid(&self) -> u32 {
        self.owner_uid
    }

    /// Refuses, changing nothing, unless this process runs as the uid
    /// recorded at creation or as root; `action` completes "only the owner
    /// of this exchange may ...".
    ///
    /// A uid names a user on one machine only: on a class's laptops, uid
    /// 1000 is a different person on each. So this guards against slips,
    /// not against students, who can run as any uid on their own machines;
    /// what guards a Redis market is the server's password or ACLs (see
    /// docs/REDIS.md).
    pub fn require_owner(&self, action: &str) -> Result<()> {
        let caller = nix::unistd::Uid::from_raw(crate::caller::uid());
        if caller.is_root() || caller.as_raw() == self.owner_uid {
            return Ok(());
        }
        Err(Error::NotOwner {
            action: action.to_owned(),
            owner: self.owner_uid,
        })
    }

    /// The meta hash, the stock, and the memory the market's keys use.
    pub fn status(&self) -> Result<Status> {
        let mut watch = self.watch();
        let fields = [
            meta::LAYOUT,
            meta::ACCOUNT_COUNT,
            meta::OPEN_ACCOUNTS,
            meta::CASH,
            meta::TRADE_SEQ,
        ]
        .map(|field| watch.field(META, field));
        let halted_at = watch.field(META, meta::HALTED);
        let quotes = self.watch_quotes(&mut watch);
        let values = self.read(&watch)?;
        let [layout, slots, accounts, cash, trades] =
            fields.map(|at| self.integer(&values, at, "a meta field"));
        let slots = u32::try_from(slots?).unwrap_or(0).min(MAX_ACCOUNTS);
        let accounts = u32::try_from(accounts?).unwrap_or(u32::MAX);
        let currencies = self.rates_from(&values, &quotes)?;
        let names = &self.link.keys;
        let mut all = vec![
            names.meta(),
            names.accounts(),
            names.serials(),
            names.tape(),
        ];
        all.extend((0..self.currencies.len()).map(|index| names.currency(index)));
        all.extend((0..slots).map(|index| names.account(index)));
        let sizes: Vec<Option<u64>> =
            self.link
                .with_connection("reading from redis", |connection| {
                    let mut pipe = redis::pipe();
                    for key in &all {
                        pipe.cmd("MEMORY").arg("USAGE").arg(key);
                    }
                    pipe.query(connection)
                })?;
        Ok(Status {
            address: self.link.address.to_string(),
            size: sizes.into_iter().flatten().sum(),
            mode: "none (redis: guard it with a password or ACLs)".into(),
            owner_uid: self.owner_uid,
            attached: None,
            layout_version: u32::try_from(layout?).unwrap_or(0),
            accounts,
            account_capacity: self.capacity,
            cash: Money::from_hundredths(cash?),
            trades: u64::try_from(trades?).unwrap_or(0),
            // The race demonstration runs on shared memory only.
            unlocked_trades: 0,
            halted: self.halted(&values, halted_at)?,
            currencies,
        })
    }

    /// Adds each currency's sell, buy and stock to a watch; returns where
    /// they are.
    pub(super) fn watch_quotes(&self, watch: &mut Watch) -> Vec<[usize; 3]> {
        (0..self.currencies.len())
            .map(|index| {
                let key = watch.key(self.link.keys.currency(index), Kind::Hash);
                [currency::SELL, currency::BUY, currency::STOCK]
                    .map(|field| watch.field(key, field))
            })
            .collect()
    }

    /// The rates from values read with [`RedisMarket::watch_quotes`].
    pub(super) fn rates_from(
        &self,
        values: &[Option<String>],
        quotes: &[[usize; 3]],
    ) -> Result<Vec<Rate>> {
        self.currencies
            .iter()
            .zip(quotes)
            .map(|(currency, [sell, buy, stock])| {
                Ok(Rate {
                    name: currency.name.clone(),
                    sell: self.price(values, *sell, "a sell price")?,
                    buy: self.price(values, *buy, "a buy price")?,
                    stock: self.money(values, *stock, "a stock")?,
                })
            })
            .collect()
    }
}

/// Reads and checks every currency's name and quote.
fn read_currencies(link: &Link, count: usize) -> Result<Vec<Currency>> {
    let rows: Vec<Vec<Option<String>>> =
        link.with_connection("reading from redis", |connection| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for index in 0..count {
                pipe.cmd("HMGET")
                    .arg(link.keys.currency(index))
                    .arg(&[currency::NAME, currency::SELL, currency::BUY][..]);
            }
            pipe.query(connection)
        })?;
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            let name = value(row, 0)
                .filter(|name| is_currency_name(name))
                .ok_or_else(|| link.corrupted(format!("currency {index} has no valid name")))?
                .to_owned();
            let (Some(sell), Some(buy)) = (integer(row, 1), integer(row, 2)) else {
                return Err(link.corrupted(format!("{name} has no quote")));
            };
            let (sell, buy) = (
                Price::from_ten_thousandths(sell),
                Price::from_ten_thousandths(buy),
            );
            if buy.ten_thousandths() <= 0 || buy > sell {
                return Err(link.corrupted(format!("{name} has the quote sell {sell} buy {buy}")));
            }
            Ok(Currency { name })
        })
        .collect()
}

/// Deletes what a damaged market may have left: every key it could have,
/// as far as its own counts can be believed.
fn delete_whatever_is_left(link: &Link) -> Result<()> {
    let names = &link.keys;
    let (count, indexed): (Option<String>, u32) =
        link.with_connection("reading from redis", |connection| {
            redis::pipe()
                .cmd("HGET")
                .arg(names.meta())
                .arg(meta::ACCOUNT_COUNT)
                .cmd("HLEN")
                .arg(names.accounts())
                .query(connection)
        })?;
    let counted = count.and_then(|text| text.parse::<u32>().ok()).unwrap_or(0);
    delete_keys(link, MAX_CURRENCIES, counted.max(indexed).min(MAX_ACCOUNTS))
}

/// Deletes the meta hash, `currencies` currency hashes, `accounts` account
/// hashes, the account index, the slots' serials and the tape, in one
/// commit.
fn delete_keys(link: &Link, currencies: usize, accounts: u32) -> Result<()> {
    let names = &link.keys;
    let watch = Watch::new(names.meta(), Kind::Hash);
    let mut writes = Writes::new(&watch);
    writes.delete(META);
    let mut keys = vec![
        writes.key(names.accounts(), Kind::Hash),
        writes.key(names.serials(), Kind::Hash),
        writes.key(names.tape(), Kind::List),
    ];
    keys.extend((0..currencies).map(|index| writes.key(names.currency(index), Kind::Hash)));
    keys.extend((0..accounts).map(|index| writes.key(names.account(index), Kind::Hash)));
    for key in keys {
        writes.delete(key);
    }
    match link.commit(&watch, &[], &writes)? {
        Committed::Written => Ok(()),
        // Only an `Absent` key or a failed check conflicts; there is none.
        Committed::Conflict(_) => Err(link.corrupted("its keys changed while being removed")),
    }
}
