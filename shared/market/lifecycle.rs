//! An exchange's life: created and seeded, attached and checked (nothing in
//! a segment is trusted before it is checked), replaced or removed (retired
//! first, so attached traders stop instead of trading on an orphan), and
//! inspected.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;

use super::journal::replay;
use super::{money, watchers, Currency, Exchange, Status};
use crate::address::SegmentAddress;
use crate::config::MarketConfig;
use crate::error::{Error, Result};
use crate::money::Price;
use crate::names::is_currency_name_byte;
use crate::shm::layout::{
    self, Header, ABI_FINGERPRINT, LAYOUT_VERSION, MAGIC, MAX_ACCOUNTS, MAX_CURRENCIES,
};
use crate::shm::{self, Backing, Exclusive, Mapping, Opened, Ready};

impl Exchange {
    /// Creates and seeds a new exchange. Fails, changing nothing, if one
    /// already exists at the address or the config is invalid.
    pub fn create(address: &SegmentAddress, config: &MarketConfig, mode: u32) -> Result<Exchange> {
        config.validate().map_err(|reason| Error::Config {
            path: "(given)".into(),
            reason,
        })?;
        let mapping = match Mapping::create(address, layout::segment_size(config.accounts), mode) {
            // A file that is not an exchange (or a symbolic link) is never
            // overwritten, so "pass --force" would be the wrong way out:
            // say what is there instead.
            Err(exists @ Error::AlreadyExists { .. })
                if matches!(address, SegmentAddress::File { .. }) =>
            {
                return Err(match Exchange::attach(address) {
                    Err(error @ Error::NotAnExchange { .. }) => error,
                    _ => exists,
                });
            }
            other => other?,
        };
        seed(&mapping, config);
        Exchange::validate(address.clone(), mapping.publish(address)?)
    }

    /// Replaces whatever exchange is at the address with a new one. The old
    /// one is retired first, so traders attached to it stop.
    pub fn replace(address: &SegmentAddress, config: &MarketConfig, mode: u32) -> Result<Exchange> {
        match Exchange::create(address, config, mode) {
            Err(Error::AlreadyExists { .. }) => {
                Exchange::remove(address)?;
                Exchange::create(address, config, mode)
            }
            other => other,
        }
    }

    /// Retires the exchange, so attached traders stop, then removes its
    /// name. A file that is not an exchange is never removed.
    pub fn remove(address: &SegmentAddress) -> Result<()> {
        match Exchange::attach(address) {
            Ok(exchange) => exchange.retire()?,
            // A damaged or outdated exchange is still ours to remove; an
            // object that is no exchange at all (another program's
            // segment, a stray file) is never touched.
            Err(Error::Corrupted { .. } | Error::Incompatible { .. } | Error::Retired { .. }) => {}
            Err(error) => return Err(error),
        }
        shm::remove(address)
    }

    /// Attaches to an existing exchange, checking everything in its header
    /// before trusting any of it.
    pub fn attach(address: &SegmentAddress) -> Result<Exchange> {
        let mapping = match Mapping::open(address)? {
            Opened::Shared(mapping) => mapping.verify(address)?,
            Opened::Sole(mapping) => recover_unattended(address, mapping)?,
        };
        Exchange::validate(address.clone(), mapping)
    }

    fn validate(address: SegmentAddress, mapping: Mapping<Ready>) -> Result<Exchange> {
        let (capacity, currency_count) = check_ranges(&address, mapping.header())?;
        let corrupted = |reason: String| Error::Corrupted {
            address: address.to_string(),
            reason,
        };
        let mut currencies = Vec::with_capacity(currency_count);
        for (index, slot) in mapping.header().currencies[..currency_count]
            .iter()
            .enumerate()
        {
            let name = layout::load_name(&slot.name, is_currency_name_byte)
                .ok_or_else(|| corrupted(format!("currency {index} has no valid name")))?;
            let sell = Price::from_ten_thousandths(slot.sell.load(Relaxed));
            let buy = Price::from_ten_thousandths(slot.buy.load(Relaxed));
            if buy.ten_thousandths() <= 0 || buy > sell {
                return Err(corrupted(format!(
                    "{name} has the quote sell {sell} buy {buy}"
                )));
            }
            currencies.push(Currency { name, sell, buy });
        }
        Ok(Exchange {
            address,
            mapping,
            capacity,
            currencies,
        })
    }

    /// Checks with the operating system that the segment is still there
    /// and still whole. The trader calls this before every command, so a
    /// segment removed behind its back, or shrunk, is reported instead of
    /// traded on (or faulted on).
    pub fn check_backing(&self) -> Result<Backing> {
        let backing = self.mapping.backing(&self.address)?;
        if backing.removed {
            return Err(Error::Retired {
                address: self.address.to_string(),
            });
        }
        if backing.size < self.mapping.mapped_len() as u64 {
            return Err(self.corrupted(format!(
                "it shrank to {} bytes from {} while attached",
                backing.size,
                self.mapping.mapped_len()
            )));
        }
        Ok(backing)
    }

    /// The header, sizes and what the operating system says.
    pub fn status(&self) -> Result<Status> {
        let backing = self.check_backing()?;
        let _locked = self.lock()?;
        let header = self.header();
        Ok(Status {
            address: self.address.to_string(),
            size: backing.size,
            mode: format!("{:04o}", backing.mode),
            owner_uid: backing.uid,
            // Not counting this process, which is attached to ask.
            attached: backing.attached.map(|count| count.saturating_sub(1)),
            layout_version: header.layout_version.load(Relaxed),
            accounts: self.accounts_in_use()?.len() as u32,
            account_capacity: self.capacity,
            cash: money(&header.cash),
            trades: header.trade_seq.load(Relaxed),
            currencies: self.rates_locked(),
        })
    }

    /// The uid that owns the exchange: the one recorded at creation, if the
    /// operating system agrees that it owns the object. A segment whose
    /// recorded owner differs (chowned, or written by someone else) has no
    /// owner but root.
    pub fn owner_uid(&self) -> Result<Option<u32>> {
        let recorded = self.header().owner_uid.load(Relaxed);
        Ok((self.check_backing()?.uid == recorded).then_some(recorded))
    }

    /// Refuses, changing nothing, unless this process runs as the
    /// exchange's owner or as root. `action` completes "only the owner of
    /// this exchange may ...".
    pub fn require_owner(&self, action: &str) -> Result<()> {
        let caller = nix::unistd::geteuid();
        let owner = self.owner_uid()?;
        if caller.is_root() || owner == Some(caller.as_raw()) {
            return Ok(());
        }
        Err(Error::NotOwner {
            action: action.to_owned(),
            owner: self.header().owner_uid.load(Relaxed),
        })
    }

    /// Marks the exchange retired, so every attached trader stops at its
    /// next command instead of trading on an orphan.
    ///
    /// The one write that does not require the lock: even when it cannot be
    /// had (held by a stopped process, say), nobody may trade on an
    /// exchange whose name is about to go, and a locker checks the state
    /// after locking. The state word and the change counter are atomic
    /// read-modify-writes, so no lock is needed for them.
    fn retire(&self) -> Result<()> {
        let header = self.header();
        let locked = self.lock_any_state();
        header.state.retire();
        watchers::announce_change(header);
        drop(locked);
        self.wake_all_watchers();
        Ok(())
    }
}

/// Writes the config into a fresh segment, before it is published.
fn seed(mapping: &Mapping<Exclusive>, config: &MarketConfig) {
    let header = mapping.header();
    header.magic.store(MAGIC, Relaxed);
    header.layout_version.store(LAYOUT_VERSION, Relaxed);
    header.abi.store(ABI_FINGERPRINT, Relaxed);
    header
        .owner_uid
        .store(nix::unistd::geteuid().as_raw(), Relaxed);
    header
        .total_size
        .store(mapping.mapped_len() as u64, Relaxed);
    header.account_capacity.store(config.accounts, Relaxed);
    header
        .currency_count
        .store(config.currencies.len() as u32, Relaxed);
    header.initial_cash.store(config.cash.hundredths(), Relaxed);
    header.cash.store(config.cash.hundredths(), Relaxed);
    header
        .starting_balance
        .store(config.starting_balance.hundredths(), Relaxed);
    for (slot, currency) in header.currencies.iter().zip(&config.currencies) {
        layout::store_name(&slot.name, &currency.name);
        slot.sell.store(currency.sell.ten_thousandths(), Relaxed);
        slot.buy.store(currency.buy.ten_thousandths(), Relaxed);
        slot.stock.store(currency.stock.hundredths(), Relaxed);
        slot.initial_stock
            .store(currency.stock.hundredths(), Relaxed);
    }
}

/// Checks the counts the rest of the market indexes with; returns the
/// account capacity and currency count, both in range. (The identity, the
/// state and the size were checked by the mapping.)
fn check_ranges(address: &SegmentAddress, header: &Header) -> Result<(u32, usize)> {
    let corrupted = |reason: String| Error::Corrupted {
        address: address.to_string(),
        reason,
    };
    let declared = header.total_size.load(Relaxed);
    let capacity = header.account_capacity.load(Relaxed);
    if !(1..=MAX_ACCOUNTS).contains(&capacity) || layout::segment_size(capacity) as u64 != declared
    {
        return Err(corrupted(format!(
            "an account capacity of {capacity} does not fit {declared} bytes"
        )));
    }
    let currency_count = header.currency_count.load(Relaxed) as usize;
    if !(1..=MAX_CURRENCIES).contains(&currency_count) {
        return Err(corrupted(format!("{currency_count} currencies")));
    }
    if header.account_count.load(Relaxed) > capacity {
        return Err(corrupted("more accounts than slots".into()));
    }
    crate::trace!(
        "header ranges checked: {currency_count} currencies, {} of {capacity} account slots in use",
        header.account_count.load(Relaxed)
    );
    Ok((capacity, currency_count))
}

/// Repairs a file segment that no other process has open: its lock word may
/// belong to a process from before a reboot, which the kernel will never
/// mark dead. Checks the header, replays any pending change, then lets
/// `publish` re-initialize the lock.
fn recover_unattended(
    address: &SegmentAddress,
    mapping: Mapping<Exclusive>,
) -> Result<Mapping<Ready>> {
    mapping.check_identity(address, true)?;
    let header = mapping.header();
    let (capacity, currency_count) = check_ranges(address, header)?;
    replay(header, mapping.accounts(capacity), currency_count).map_err(|reason| {
        Error::Corrupted {
            address: address.to_string(),
            reason,
        }
    })?;
    mapping.publish(address)
}
