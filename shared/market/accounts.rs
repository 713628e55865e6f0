//! Trader accounts: opening them (a write, under the lock), finding their
//! slots, and reading their names back from memory another process may
//! have scribbled on.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;

use super::journal::Locked;
use super::{watchers, AccountId, Exchange};
use crate::error::{Error, Result};
use crate::names::{is_account_name, is_account_name_byte};
use crate::shm::layout::{self, flag, AccountSlot};

impl Exchange {
    /// Opens the named account, or finds it if it already exists.
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        self.check_class_name(name)?;
        let mut locked = self.lock()?;
        locked.open_account(name)
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
        let accounts = self.accounts_in_use()?;
        let missing = names
            .iter()
            .filter(|name| find(accounts, name).is_none())
            .count();
        if accounts.len() + missing > self.capacity as usize {
            return Err(Error::AccountTableFull {
                capacity: self.capacity,
            });
        }
        names.iter().map(|name| locked.open_account(name)).collect()
    }

    /// In class mode, an account name must be the login name of the real
    /// user (not `$USER`, which the user sets), or begin with it and `-` or
    /// `.`; the owner and root may open any.
    fn check_class_name(&self, name: &str) -> Result<()> {
        if self.header().flags.load(Relaxed) & flag::CLASS_MODE == 0 {
            return Ok(());
        }
        let caller = nix::unistd::getuid();
        if caller.is_root() || self.owner_uid()? == Some(caller.as_raw()) {
            return Ok(());
        }
        let login = nix::unistd::User::from_uid(caller)
            .ok()
            .flatten()
            .map(|user| user.name)
            .ok_or_else(|| Error::ClassMode {
                reason: format!("uid {caller} has no login name, so it has no account here"),
            })?;
        let bound = name
            .strip_prefix(login.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.']));
        if bound {
            return Ok(());
        }
        Err(Error::ClassMode {
            reason: format!(
                "the account {name} is not yours; use --name {login}, or a name like {login}-2 or {login}.test"
            ),
        })
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        let _locked = self.lock()?;
        self.name_of(self.account_slot(account)?)
    }

    pub(super) fn name_of(&self, slot: &AccountSlot) -> Result<String> {
        layout::load_name(&slot.name, is_account_name_byte)
            .ok_or_else(|| self.corrupted("an account name is invalid"))
    }

    /// The account slots in use, after a range check of the count.
    #[inline]
    pub(super) fn accounts_in_use(&self) -> Result<&[AccountSlot]> {
        let table = self
            .mapping
            .accounts(self.capacity)
            .ok_or_else(|| self.corrupted("the account table is cut short"))?;
        let count = self.header().account_count.load(Acquire);
        table
            .get(..count as usize)
            .ok_or_else(|| self.corrupted(format!("{count} accounts in {} slots", self.capacity)))
    }

    #[inline]
    pub(super) fn account_slot(&self, account: AccountId) -> Result<&AccountSlot> {
        self.accounts_in_use()?
            .get(account.0 as usize)
            .ok_or_else(|| self.corrupted("an account vanished"))
    }
}

impl Locked<'_> {
    /// Finds the account, or fills the next free slot and then publishes
    /// it by bumping the count. A death before the bump leaves the slot
    /// unused, to be overwritten, so no journal record is needed.
    fn open_account(&mut self, name: &str) -> Result<AccountId> {
        let exchange = self.exchange();
        let accounts = exchange.accounts_in_use()?;
        if let Some(index) = find(accounts, name) {
            return Ok(AccountId(index as u32));
        }
        let table = exchange
            .mapping
            .accounts(exchange.capacity)
            .unwrap_or_default();
        let Some(slot) = table.get(accounts.len()) else {
            return Err(Error::AccountTableFull {
                capacity: exchange.capacity,
            });
        };
        let header = self.header();
        layout::store_name(&slot.name, name);
        slot.balance
            .store(header.starting_balance.load(Relaxed), Relaxed);
        for holding in &slot.holdings {
            holding.store(0, Relaxed);
        }
        header
            .account_count
            .store(accounts.len() as u32 + 1, Release);
        watchers::announce_change(header);
        Ok(AccountId(accounts.len() as u32))
    }
}

/// The slot holding `name`, compared exactly.
fn find(accounts: &[AccountSlot], name: &str) -> Option<usize> {
    accounts
        .iter()
        .position(|slot| layout::name_equals(&slot.name, name, false))
}
