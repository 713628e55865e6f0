//! An exchange's life: created and seeded, attached and checked (nothing in
//! a segment is trusted before it is checked), read-write or, for a user
//! who may only read it, read-only; replaced or removed (retired first, so
//! attached traders stop instead of trading on an orphan), and inspected.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use super::journal::replay;
use super::record::Limits;
use super::{Attachment, Currency, Exchange};
use crate::address::SegmentAddress;
use crate::config::MarketConfig;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::names::is_currency_name_byte;
use crate::shm::layout::{
    self, flags, Header, ABI_FINGERPRINT, LAYOUT_VERSION, MAGIC, MAX_ACCOUNTS, MAX_CURRENCIES,
};
use crate::shm::{self, Access, Backing, Exclusive, Mapping, Opened, Ready};

/// How long an attach waits for an `exchange-init` that is creating the
/// exchange right now.
pub const CREATION_WAIT: Duration = Duration::from_secs(2);

impl Exchange {
    /// Creates and seeds a new exchange. Fails, changing nothing, if one
    /// already exists at the address or the config is invalid.
    pub fn create(address: &SegmentAddress, config: &MarketConfig, mode: u32) -> Result<Exchange> {
        Exchange::create_with(address, config, Access { mode, group: None })
    }

    /// Creates an exchange in class mode (see DESIGN.md): mode 0660, owned
    /// by `group`, which only the class `trader` has, and with account
    /// names bound to logins. POSIX and file segments only: a System V
    /// segment would have to be checked with IPC_STAT, which needs the
    /// group's rights that the trader gives up after attaching.
    pub fn create_for_class(
        address: &SegmentAddress,
        config: &MarketConfig,
        group: u32,
    ) -> Result<Exchange> {
        Exchange::create_with(address, config, class_access(address, group)?)
    }

    /// [`Exchange::replace`] for class mode, see [`Exchange::create_for_class`].
    pub fn replace_for_class(
        address: &SegmentAddress,
        config: &MarketConfig,
        group: u32,
    ) -> Result<(Exchange, Option<String>)> {
        Exchange::replace_with(address, config, class_access(address, group)?)
    }

    fn create_with(
        address: &SegmentAddress,
        config: &MarketConfig,
        access: Access,
    ) -> Result<Exchange> {
        config.validate().map_err(|reason| Error::Config {
            path: "(given)".into(),
            reason,
        })?;
        let size = layout::segment_size(config.accounts);
        let mapping = match Mapping::create(address, size, access) {
            // Say what is there when it is not a finished exchange: one
            // being created, or left half-created, so that both binaries
            // name the same cause. A file that is not an exchange (or a
            // symbolic link) is never overwritten, so "pass --force" would
            // be the wrong way out for it.
            Err(exists @ Error::AlreadyExists { .. }) => {
                return Err(match Exchange::attach(address) {
                    Err(error @ (Error::HalfCreated { .. } | Error::BeingCreated { .. })) => error,
                    Err(error @ Error::NotAnExchange { .. })
                        if matches!(address, SegmentAddress::File { .. }) =>
                    {
                        error
                    }
                    _ => exists,
                });
            }
            other => other?,
        };
        seed(&mapping, config, access.group.is_some());
        crash_point(Step::AfterSeed);
        let mapping = mapping.publish(address)?;
        Exchange::validate(address.clone(), Attachment::Writable(mapping))
    }

    /// Replaces whatever is at the address with a new exchange: an exchange
    /// (retired first, so traders attached to it stop), or, for its owner,
    /// any object at all (see [`Exchange::remove_reporting`]). Returns the
    /// new exchange and what was there when it was not a sound exchange.
    pub fn replace(
        address: &SegmentAddress,
        config: &MarketConfig,
        mode: u32,
    ) -> Result<(Exchange, Option<String>)> {
        Exchange::replace_with(address, config, Access { mode, group: None })
    }

    fn replace_with(
        address: &SegmentAddress,
        config: &MarketConfig,
        access: Access,
    ) -> Result<(Exchange, Option<String>)> {
        match Exchange::create_with(address, config, access) {
            Err(
                Error::AlreadyExists { .. }
                | Error::HalfCreated { .. }
                | Error::NotAnExchange { .. }
                | Error::Corrupted { .. }
                | Error::Incompatible { .. }
                | Error::Retired { .. },
            ) => {
                let found = Exchange::remove_reporting(address)?;
                Ok((Exchange::create_with(address, config, access)?, found))
            }
            other => other.map(|exchange| (exchange, None)),
        }
    }

    /// [`Exchange::remove_reporting`], without the report.
    pub fn remove(address: &SegmentAddress) -> Result<()> {
        Exchange::remove_reporting(address).map(drop)
    }

    /// Retires the exchange, so attached traders stop, then removes its
    /// name. Only its owner (or root) may: permission is checked before
    /// anything is retired, so a refused removal changes nothing.
    ///
    /// An object that is not a sound exchange (truncated, scribbled,
    /// half-created, another program's, empty) is removed too when the
    /// caller owns it, as the operating system says without opening it for
    /// writing; the answer then says what it was, like `not an exchange (12
    /// bytes)`. `None`: it was an exchange. One being created right now is
    /// left alone.
    pub fn remove_reporting(address: &SegmentAddress) -> Result<Option<String>> {
        let found = match Exchange::attach(address) {
            Ok(exchange) => {
                exchange.require_owner(REMOVE_ACTION)?;
                exchange.retire()?;
                None
            }
            Err(error @ (Error::NoExchange { .. } | Error::BeingCreated { .. })) => {
                return Err(error)
            }
            // Not the caller's to open: theirs to remove only if they own it.
            Err(error @ Error::PermissionDenied { .. }) => {
                let owned =
                    shm::object_owner(address).is_ok_and(|owner| owner == crate::caller::uid());
                if !owned || !shm::object_kind(address).0 {
                    return Err(error);
                }
                Some(found_there(address, "an object this user cannot open"))
            }
            // A link, folder, device or FIFO is never the owner's segment.
            Err(error @ Error::NotAnExchange { .. }) if !shm::object_kind(address).0 => {
                return Err(error)
            }
            Err(
                error @ (Error::Corrupted { .. }
                | Error::Incompatible { .. }
                | Error::Retired { .. }
                | Error::HalfCreated { .. }
                | Error::NotAnExchange { .. }),
            ) => {
                require_object_owner(address)?;
                Some(match error {
                    Error::Corrupted { reason, .. } => format!("a damaged exchange: {reason}"),
                    Error::Incompatible { reason, .. } => {
                        format!("an incompatible exchange: {reason}")
                    }
                    Error::Retired { .. } => "an exchange already retired".into(),
                    Error::HalfCreated { .. } => found_there(address, "a half-created exchange"),
                    _ => found_there(address, "not an exchange"),
                })
            }
            Err(error) => return Err(error),
        };
        shm::remove(address)?;
        Ok(found)
    }

    /// Attaches to an existing exchange, checking everything in its header
    /// before trusting any of it. One still being created is waited for, at
    /// most [`CREATION_WAIT`]; one whose creator died is reported as such
    /// (after a second look, in case its creator had only just opened it).
    ///
    /// A class `trader` gives up its privileges for good here, attached or
    /// not (see [`crate::privilege`]).
    pub fn attach(address: &SegmentAddress) -> Result<Exchange> {
        settle(address, Exchange::attach_waiting(address))
    }

    fn attach_waiting(address: &SegmentAddress) -> Result<Exchange> {
        let deadline = Instant::now() + CREATION_WAIT;
        let mut looked_twice = false;
        loop {
            match Exchange::attach_once(address) {
                Err(Error::BeingCreated { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(Error::HalfCreated { .. }) if !looked_twice => {
                    looked_twice = true;
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn attach_once(address: &SegmentAddress) -> Result<Exchange> {
        let mapping = match Mapping::open(address)? {
            Opened::Shared(mapping) => mapping.verify(address)?,
            Opened::Sole(mapping) => recover_unattended(address, mapping)?,
        };
        Exchange::validate(address.clone(), Attachment::Writable(mapping))
    }

    /// Attaches read-only (`O_RDONLY` + `PROT_READ`, or `SHM_RDONLY`), with
    /// the caller's own rights: every read works, every write is refused
    /// with [`Error::ReadOnly`].
    fn attach_read_only(address: &SegmentAddress) -> Result<Exchange> {
        let mapping = Mapping::open_read_only(address)?;
        Exchange::validate(address.clone(), Attachment::ReadOnly(mapping))
    }

    /// Attaches read-write, or read-only when this user may only read the
    /// segment: what the trader and the board use, so that with `--mode
    /// 0644` everyone can watch and read. Both opens come before a class
    /// `trader` gives up its privileges.
    pub fn attach_or_read_only(address: &SegmentAddress) -> Result<Exchange> {
        let attached = match Exchange::attach_waiting(address) {
            Err(Error::PermissionDenied { .. }) => Exchange::attach_read_only(address),
            other => other,
        };
        settle(address, attached)
    }

    fn validate(address: SegmentAddress, attachment: Attachment) -> Result<Exchange> {
        let (capacity, currency_count) = check_ranges(&address, attachment.header())?;
        let corrupted = |reason: String| Error::Corrupted {
            address: address.to_string(),
            reason,
        };
        let mut currencies = Vec::with_capacity(currency_count);
        for (index, slot) in attachment.header().currencies[..currency_count]
            .iter()
            .enumerate()
        {
            let name = layout::load_name(&slot.name, is_currency_name_byte)
                .ok_or_else(|| corrupted(format!("currency {index} has no valid name")))?;
            currencies.push(Currency { name });
        }
        Ok(Exchange {
            address,
            attachment,
            capacity,
            currencies,
            caller: crate::caller::uid(),
        })
    }

    /// Checks with the operating system that the segment is still there
    /// and still whole. The trader calls this before every command, so a
    /// segment removed behind its back, or shrunk, is reported instead of
    /// traded on (or faulted on).
    pub fn check_backing(&self) -> Result<Backing> {
        let backing = self.attachment.backing(&self.address)?;
        if backing.removed {
            return Err(Error::Retired {
                address: self.address.to_string(),
            });
        }
        if backing.size < self.attachment.mapped_len() as u64 {
            return Err(self.corrupted(format!(
                "it shrank to {} bytes from {} while attached",
                backing.size,
                self.attachment.mapped_len()
            )));
        }
        Ok(backing)
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
        let caller = nix::unistd::Uid::from_raw(crate::caller::uid());
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
    /// after locking. With the lock, the readers' counter moves too, so
    /// readers copying now see the retirement and watchers about to sleep
    /// do not; without it, the counter is the holder's to move.
    fn retire(&self) -> Result<()> {
        // Retirement's own unlocked path (see `Mapping::write_unlocked`).
        let write = self.writable()?.write_unlocked();
        let header = self.header();
        let locked = self.lock_any_state();
        header.state.retire(write);
        if let Ok(locked) = &locked {
            locked.announce_change();
        }
        drop(locked);
        self.wake_all_watchers();
        Ok(())
    }
}

/// What `--remove` and `--force` need the owner for, completing "only the
/// owner of this exchange may ...".
const REMOVE_ACTION: &str = "remove or replace it";

/// Ends the attach of a class `trader`: its privileges are given up for
/// good, whatever came of it. An object it could open only with the class
/// group and that did not prove to be a sound exchange gets the answer the
/// caller would get without the group: permission denied, and nothing
/// about its size or content.
fn settle(address: &SegmentAddress, attached: Result<Exchange>) -> Result<Exchange> {
    crate::privilege::drop_for_good()?;
    match attached {
        Err(
            Error::NotAnExchange { .. }
            | Error::Incompatible { .. }
            | Error::HalfCreated { .. }
            | Error::Corrupted { .. },
        ) if crate::privilege::opened_with_class_group() => Err(Error::PermissionDenied {
            address: address.to_string(),
        }),
        other => other,
    }
}

/// `what` was at `address`, and its size when the operating system says.
fn found_there(address: &SegmentAddress, what: &str) -> String {
    match shm::object_kind(address).1 {
        Some(size) => format!("{what} ({size} bytes)"),
        None => what.to_owned(),
    }
}

/// Refuses unless the caller is root or owns the object at `address`,
/// asking the operating system without opening it for writing.
fn require_object_owner(address: &SegmentAddress) -> Result<()> {
    if crate::caller::is_root() {
        return Ok(());
    }
    let owner = shm::object_owner(address)?;
    if owner == crate::caller::uid() {
        return Ok(());
    }
    Err(Error::NotOwner {
        action: REMOVE_ACTION.to_owned(),
        owner,
    })
}

/// Class mode's access: group read and write, nobody else.
fn class_access(address: &SegmentAddress, group: u32) -> Result<Access> {
    if let SegmentAddress::SysV { .. } = address {
        return Err(Error::ClassMode {
            reason: format!(
                "{address} is a System V segment, which a trader without the group's rights cannot check; use a posix: or file: --segment"
            ),
        });
    }
    Ok(Access {
        mode: 0o660,
        group: Some(group),
    })
}

/// Writes the config into a fresh segment, before it is published.
fn seed(mapping: &Mapping<Exclusive>, config: &MarketConfig, class_mode: bool) {
    let header = mapping.header();
    let write = mapping.write();
    header.flags.store(
        if class_mode { flags::CLASS_MODE } else { 0 },
        Relaxed,
        write,
    );
    header.magic.store(MAGIC, Relaxed, write);
    header.layout_version.store(LAYOUT_VERSION, Relaxed, write);
    header.abi.store(ABI_FINGERPRINT, Relaxed, write);
    header.owner_uid.store(crate::caller::uid(), Relaxed, write);
    header
        .total_size
        .store(mapping.mapped_len() as u64, Relaxed, write);
    header
        .account_capacity
        .store(config.accounts, Relaxed, write);
    header
        .currency_count
        .store(config.currencies.len() as u32, Relaxed, write);
    header
        .initial_cash
        .store(config.cash.hundredths(), Relaxed, write);
    header
        .lock
        .cash
        .store(config.cash.hundredths(), Relaxed, write);
    header
        .starting_balance
        .store(config.starting_balance.hundredths(), Relaxed, write);
    for (slot, currency) in header.currencies.iter().zip(&config.currencies) {
        layout::store_name(&slot.name, &currency.name, write);
        slot.sell
            .store(currency.sell.ten_thousandths(), Relaxed, write);
        slot.buy
            .store(currency.buy.ten_thousandths(), Relaxed, write);
        slot.stock
            .store(currency.stock.hundredths(), Relaxed, write);
        slot.initial_stock
            .store(currency.stock.hundredths(), Relaxed, write);
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
    // Proven an exchange: only now is anything allocated or written.
    mapping.allocate(address)?;
    let limits = Limits {
        capacity,
        in_use: header.account_count.load(Relaxed),
        currencies: currency_count,
    };
    replay(header, mapping.accounts(capacity), limits, mapping.write()).map_err(|reason| {
        Error::Corrupted {
            address: address.to_string(),
            reason,
        }
    })?;
    mapping.publish(address)
}
