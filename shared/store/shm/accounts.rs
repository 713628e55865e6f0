//! Trader accounts: opening them (a change through the journal, under the
//! lock), who may trade on them, and finding their slots.
//!
//! An account is opened only by a command that needs one, so reading the
//! market never fills the table. It belongs to the uid that opened it:
//! another uid may read it, but only the owner of the account, the owner
//! of the exchange and root may trade on it. Slots are never moved: a
//! closed account's slot keeps its name for the tape, and is reused only
//! once every slot has been used; its serial tells the two accounts apart.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;

use super::journal::Locked;
use super::record::Redo;
use super::snapshot::Parts;
use super::{overflow, AccountId, Denied, Exchange};
use crate::error::{Error, Result};
use crate::names::{belongs_to_login, is_account_name, is_account_name_byte, ACCOUNT_NAME_BYTES};
use crate::shm::layout::{self, account, flags, AccountSlot};

impl Exchange {
    /// Opens the named account for this process's uid, or finds it if it
    /// already exists (whoever owns it). Finding needs no lock, so an
    /// existing account is found on an exchange attached read-only too.
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        self.check_class_name(name)?;
        if let Some(found) = self.find_account(name)? {
            return Ok(found);
        }
        let mut locked = self.lock()?;
        locked.open_account(name)
    }

    /// [`Exchange::open_account`] without waiting: `Ok(None)` when opening
    /// would wait for the lock (another process holds it), or when this
    /// process may only read. For reads that would open an account.
    pub fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        if let Some(found) = self.find_account(name)? {
            return Ok(Some(found));
        }
        if self.is_read_only() {
            return Ok(None);
        }
        self.check_class_name(name)?;
        match self.try_lock()? {
            // A halted market opens no account but the owner's; a read
            // shows the account as not open yet.
            Some(mut locked) => match locked.open_account(name) {
                Err(Error::Halted) => Ok(None),
                opened => opened.map(Some),
            },
            None => Ok(None),
        }
    }

    /// Opens (or finds) every named account, or none of them: fails with
    /// [`Error::AccountTableFull`] before opening any if they do not all fit.
    pub fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>> {
        if let Some(name) = names.iter().find(|name| !is_account_name(name)) {
            return Err(Error::AccountName { name: name.clone() });
        }
        for name in names {
            self.check_class_name(name)?;
        }
        let mut locked = self.lock()?;
        let table = self.accounts_in_use()?;
        let missing = names
            .iter()
            .filter(|name| find_open(table, name).is_none())
            .count();
        let free = self.capacity as usize - table.len()
            + table
                .iter()
                .filter(|slot| slot.status.load(Relaxed) == account::CLOSED)
                .count();
        if missing > free {
            return Err(Error::AccountTableFull {
                capacity: self.capacity,
            });
        }
        names.iter().map(|name| locked.open_account(name)).collect()
    }

    /// In class mode, an account name must be the caller's login (from the
    /// password database, not `$USER`, which the user sets), or the login,
    /// a colon and a label (`ana:bot`); the owner and root may open any.
    fn check_class_name(&self, name: &str) -> Result<()> {
        if self.header().flags.load(Relaxed) & flags::CLASS_MODE == 0 {
            return Ok(());
        }
        let caller = crate::caller::uid();
        if crate::caller::is_root() || self.owner_uid()? == Some(caller) {
            return Ok(());
        }
        let login = crate::caller::login().ok_or_else(|| Error::ClassMode {
            reason: format!("uid {caller} has no login name, so it has no account here"),
        })?;
        if belongs_to_login(name, login) {
            return Ok(());
        }
        Err(Error::ClassMode {
            reason: format!(
                "the account {name} is not yours; use --name {login}, or {login}:LABEL (like {login}:bot)"
            ),
        })
    }

    /// The open account called `name`, if there is one, found without the
    /// lock.
    pub fn find_account(&self, name: &str) -> Result<Option<AccountId>> {
        let snapshot = self.snapshot(Parts::ACCOUNTS)?;
        Ok(snapshot
            .accounts
            .iter()
            .enumerate()
            .find(|(_, slot)| slot.is_open() && slot.name().as_deref() == Some(name))
            .map(|(index, slot)| AccountId {
                index: index as u32,
                serial: slot.serial,
            }))
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        let snapshot = self.snapshot(Parts::ACCOUNTS)?;
        snapshot
            .accounts
            .get(account.index as usize)
            .filter(|slot| slot.is_open() && slot.serial == account.serial)
            .ok_or(Error::AccountClosed)?
            .name()
            .ok_or_else(|| self.corrupted("an account name is invalid"))
    }

    pub(super) fn name_of(&self, slot: &AccountSlot) -> Result<String> {
        layout::load_name(&slot.name, is_account_name_byte)
            .ok_or_else(|| self.corrupted("an account name is invalid"))
    }

    /// The slots ever used (open or closed), after a range check of the
    /// count. Under the lock: readers use snapshots.
    #[inline]
    pub(super) fn accounts_in_use(&self) -> Result<&[AccountSlot]> {
        let count = self.header().account_count.load(Acquire);
        self.table()?
            .get(..count as usize)
            .ok_or_else(|| self.corrupted(format!("{count} accounts in {} slots", self.capacity)))
    }

    /// The account's slot in `table` (the whole account table), under the
    /// lock; refused if the account was closed since the id was handed out.
    #[inline(always)]
    pub(super) fn account_slot_in<'t>(
        &self,
        table: &'t [AccountSlot],
        account: AccountId,
    ) -> Result<&'t AccountSlot, Denied> {
        let count = self.header().account_count.load(Acquire);
        let Some(slot) = table
            .get(..count as usize)
            .and_then(|in_use| in_use.get(account.index as usize))
        else {
            return Err(self.slot_missing(count));
        };
        if slot.status.load(Relaxed) != account::OPEN || slot.serial.load(Relaxed) != account.serial
        {
            return Err(Denied::Closed);
        }
        Ok(slot)
    }

    /// Why an account's slot is not in the table.
    #[cold]
    #[inline(never)]
    fn slot_missing(&self, count: u32) -> Denied {
        let reason = if count > self.capacity {
            format!("{count} accounts in {} slots", self.capacity)
        } else {
            "an account vanished".into()
        };
        Denied::Failed(Box::new(self.corrupted(reason)))
    }

    /// Refuses a trade on another user's account, unless this process runs
    /// as the exchange's owner or root.
    #[inline(always)]
    pub(super) fn check_may_trade(&self, slot: &AccountSlot) -> Result<(), Denied> {
        if slot.owner.load(Relaxed) == self.caller {
            return Ok(());
        }
        self.check_may_trade_others(slot)
    }

    /// [`Exchange::check_may_trade`] for an account that is not the
    /// caller's: out of line, as only the owner and root pass.
    #[cold]
    #[inline(never)]
    fn check_may_trade_others(&self, slot: &AccountSlot) -> Result<(), Denied> {
        if self.require_owner("trade").is_ok() {
            return Ok(());
        }
        let error = match self.name_of(slot) {
            Ok(name) => Error::NotYourAccount { name },
            Err(error) => error,
        };
        Err(Denied::Failed(Box::new(error)))
    }
}

impl Locked<'_> {
    /// Finds the open account, or opens it in a never-used slot, else in a
    /// closed one, through the journal. A halted market opens none but
    /// the owner's (and root's): opening hands out a starting balance, and
    /// no write but the owner's goes past the halt.
    pub(super) fn open_account(&mut self, name: &str) -> Result<AccountId> {
        let exchange = self.exchange();
        let in_use = exchange.accounts_in_use()?;
        if let Some(index) = find_open(in_use, name) {
            return Ok(AccountId {
                index: index as u32,
                serial: in_use[index].serial.load(Relaxed),
            });
        }
        if self.header().flags.load(Relaxed) & flags::HALTED != 0
            && exchange.require_owner("open an account").is_err()
        {
            return Err(Error::Halted);
        }
        let (index, count) = if in_use.len() < exchange.capacity as usize {
            (in_use.len(), in_use.len() + 1)
        } else {
            let closed = in_use
                .iter()
                .position(|slot| slot.status.load(Relaxed) == account::CLOSED)
                .ok_or(Error::AccountTableFull {
                    capacity: exchange.capacity,
                })?;
            (closed, in_use.len())
        };
        let header = self.header();
        let serial = header
            .account_serial
            .load(Relaxed)
            .checked_add(1)
            .ok_or_else(overflow)?;
        let handed_out = header
            .balances_handed_out
            .load(Relaxed)
            .checked_add(1)
            .ok_or_else(overflow)?;
        let mut stored_name = [0; ACCOUNT_NAME_BYTES];
        stored_name[..name.len()].copy_from_slice(name.as_bytes());
        self.commit(
            exchange.table()?,
            Redo::Open {
                account: index as u32,
                name: stored_name,
                serial,
                owner: exchange.caller,
                balance: header.starting_balance.load(Relaxed),
                count: count as u32,
                handed_out,
            },
            None,
        );
        Ok(AccountId {
            index: index as u32,
            serial,
        })
    }
}

/// The open slot holding `name`, compared exactly.
pub(super) fn find_open(accounts: &[AccountSlot], name: &str) -> Option<usize> {
    accounts.iter().position(|slot| {
        slot.status.load(Relaxed) == account::OPEN && layout::name_equals(&slot.name, name, false)
    })
}
