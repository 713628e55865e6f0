//! Lock-free, consistent reads: a copy of the market taken between two
//! reads of the writers' sequence counter `write_seq`, with the journal's
//! redo laid over it when a change was in flight (see `store::shm::journal`
//! for why that gives the state after the change). Every read command and
//! the board go through here, so a reader never takes the lock, never
//! slows a trade, needs only read permission, and still answers while a
//! writer is stopped holding the lock.
//!
//! Only plain loads (`Relaxed`, then an `Acquire` fence) are used, which
//! are sound on a read-only mapping too.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};
use std::time::{Duration, Instant};

use super::record::{ChangeTarget, Opened, RawChange, Redo};
use super::Exchange;
use crate::error::{Error, Result};
use crate::names::{is_account_name_byte, ACCOUNT_NAME_BYTES};
use crate::shm::layout::{
    account, flags, state, AccountSlot, Header, Shared, TapeEntry, MAX_CURRENCIES, TAPE_LEN,
};

/// How long a reader retries while writers keep changing the market under
/// it. Each change takes microseconds, so only a flood of them (or a
/// counter another program scribbles on) gets near this.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Which parts of the market a read copies, beside the header's values and
/// the currencies: no more than the command needs, since every byte is
/// copied again when a writer moves the counter meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parts {
    pub(super) accounts: Accounts,
    pub(super) tape: bool,
}

/// Which account slots a read copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accounts {
    None,
    /// The slot at this index: a portfolio needs no other.
    One(u32),
    /// Every slot in use.
    All,
}

impl Parts {
    pub(super) const MARKET: Parts = Parts {
        accounts: Accounts::None,
        tape: false,
    };
    pub(super) const ACCOUNTS: Parts = Parts {
        accounts: Accounts::All,
        tape: false,
    };
    pub(super) const ALL: Parts = Parts {
        accounts: Accounts::All,
        tape: true,
    };

    /// The market and one account's slot.
    pub(super) fn account(index: u32) -> Parts {
        Parts {
            accounts: Accounts::One(index),
            tape: false,
        }
    }
}

/// The market at one instant, as plain values.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub(super) flags: u32,
    pub(super) cash: i64,
    pub(super) initial_cash: i64,
    pub(super) starting_balance: i64,
    pub(super) trade_seq: u64,
    pub(super) tape_start: u64,
    pub(super) handed_out: u32,
    /// The first `currency_count` are the market's: see
    /// [`Snapshot::currencies`]. An array, so a read allocates nothing for
    /// them.
    currencies: [CurrencyCopy; MAX_CURRENCIES],
    currency_count: usize,
    /// The header's count of slots in use, clamped to the table.
    account_count: u32,
    /// Slots `0..account_count` for [`Accounts::All`]; for
    /// [`Accounts::One`], that slot alone if it is in use (see
    /// [`Snapshot::account`]).
    pub(super) accounts: Vec<AccountCopy>,
    /// The index of `accounts[0]`.
    first_account: u32,
    /// The tape's entries that were whole when copied, in ring order, if
    /// [`Parts::tape`]; see [`Snapshot::tape_entries`].
    tape: Vec<EntryCopy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct CurrencyCopy {
    pub(super) sell: i64,
    pub(super) buy: i64,
    pub(super) stock: i64,
    pub(super) initial_stock: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AccountCopy {
    pub(super) name: [u8; ACCOUNT_NAME_BYTES],
    pub(super) balance: i64,
    pub(super) last_trade: u64,
    pub(super) trades: u32,
    pub(super) status: u32,
    pub(super) owner: u32,
    pub(super) serial: u32,
    pub(super) holdings: [i64; MAX_CURRENCIES],
}

impl AccountCopy {
    /// The account's name, if the slot holds a valid one.
    pub(super) fn name(&self) -> Option<String> {
        let len = self.name.iter().position(|&byte| byte == 0)?;
        let (name, padding) = self.name.split_at(len);
        if name.is_empty()
            || !name.iter().all(|&byte| is_account_name_byte(byte))
            || padding.iter().any(|&byte| byte != 0)
        {
            return None;
        }
        String::from_utf8(name.to_vec()).ok()
    }

    pub(super) fn is_open(&self) -> bool {
        self.status == account::OPEN
    }
}

/// One tape entry, whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EntryCopy {
    pub(super) seq: u64,
    pub(super) account: u32,
    pub(super) kind: u8,
    pub(super) currency: u32,
    pub(super) serial: u32,
    pub(super) amount: i64,
    pub(super) price: i64,
    pub(super) total: i64,
}

impl Exchange {
    /// A consistent copy of `parts` of the market, without the lock:
    /// retried while writers move the counter, for at most
    /// [`READ_TIMEOUT`].
    pub(super) fn snapshot(&self, parts: Parts) -> Result<Snapshot> {
        let header = self.header();
        let table = self.table()?;
        let started = Instant::now();
        for attempt in 0_u32.. {
            let before = header.lock.write_seq.load(Relaxed);
            fence(Acquire);
            self.check_state(header)?;
            let pending = RawChange::load(header, before);
            let mut copy = copy(header, table, parts, self.currencies.len());
            fence(Acquire);
            if header.lock.write_seq.load(Relaxed) == before {
                let Some(pending) = pending else {
                    return Ok(copy);
                };
                let mut limits = self.limits_of(header);
                if parts.accounts != Accounts::None {
                    limits.in_use = copy.account_count;
                }
                let change = pending
                    .decode(limits)
                    .map_err(|_| Error::poisoned(&self.address))?;
                copy.overlay(&change, parts);
                return Ok(copy);
            }
            if attempt < 16 {
                std::hint::spin_loop();
            } else if attempt < 64 {
                std::thread::yield_now();
            } else if started.elapsed() < READ_TIMEOUT {
                std::thread::sleep(Duration::from_micros(50));
            } else {
                return Err(Error::Busy {
                    address: self.address.to_string(),
                });
            }
        }
        unreachable!("the loop returns")
    }

    /// Refuses to read an exchange that is retired, poisoned or not ready.
    fn check_state(&self, header: &Header) -> Result<()> {
        match header.state.load() {
            state::READY => Ok(()),
            state::RETIRED => Err(Error::Retired {
                address: self.address.to_string(),
            }),
            state::POISONED => Err(Error::poisoned(&self.address)),
            other => Err(self.corrupted(format!("unknown state {other:#x}"))),
        }
    }
}

/// Copies the parts asked for, with plain loads. The account count is
/// clamped to the table: a count out of range is reported by whoever uses
/// the slots under the lock.
fn copy(header: &Header, table: &[AccountSlot], parts: Parts, currencies: usize) -> Snapshot {
    let load = |value: &Shared<std::sync::atomic::AtomicI64>| value.load(Relaxed);
    let count = (header.account_count.load(Relaxed) as usize).min(table.len());
    let (accounts, first_account) = match parts.accounts {
        Accounts::None => (Vec::new(), 0),
        Accounts::One(index) => (
            table[..count]
                .get(index as usize)
                .map(copy_account)
                .into_iter()
                .collect(),
            index,
        ),
        Accounts::All => (table[..count].iter().map(copy_account).collect(), 0),
    };
    let mut copied = [CurrencyCopy::default(); MAX_CURRENCIES];
    for (copy, slot) in copied.iter_mut().zip(&header.currencies[..currencies]) {
        *copy = CurrencyCopy {
            sell: load(&slot.sell),
            buy: load(&slot.buy),
            stock: load(&slot.stock),
            initial_stock: load(&slot.initial_stock),
        };
    }
    let tape = if parts.tape {
        header.tape.iter().filter_map(copy_entry).collect()
    } else {
        Vec::new()
    };
    Snapshot {
        flags: header.flags.load(Relaxed),
        cash: load(&header.lock.cash),
        initial_cash: load(&header.initial_cash),
        starting_balance: load(&header.starting_balance),
        trade_seq: header.lock.trade_seq.load(Relaxed),
        tape_start: header.tape_start.load(Relaxed),
        handed_out: header.balances_handed_out.load(Relaxed),
        currencies: copied,
        currency_count: currencies.min(MAX_CURRENCIES),
        account_count: count as u32,
        accounts,
        first_account,
        tape,
    }
}

fn copy_account(slot: &AccountSlot) -> AccountCopy {
    let mut copy = AccountCopy {
        name: [0; ACCOUNT_NAME_BYTES],
        balance: slot.balance.load(Relaxed),
        last_trade: slot.last_trade.load(Relaxed),
        trades: slot.trades.load(Relaxed),
        status: slot.status.load(Relaxed),
        owner: slot.owner.load(Relaxed),
        serial: slot.serial.load(Relaxed),
        holdings: [0; MAX_CURRENCIES],
    };
    for (byte, stored) in copy.name.iter_mut().zip(&slot.name) {
        *byte = stored.load(Relaxed);
    }
    for (holding, stored) in copy.holdings.iter_mut().zip(&slot.holdings) {
        *holding = stored.load(Relaxed);
    }
    copy
}

/// Copies an entry if it is whole: the same non-zero `seq` before and
/// after its fields (the writer zeroes `seq` while it writes them).
fn copy_entry(entry: &TapeEntry) -> Option<EntryCopy> {
    let seq = entry.seq.load(Relaxed);
    fence(Acquire);
    let copy = EntryCopy {
        seq,
        account: entry.account.load(Relaxed).into(),
        kind: entry.kind.load(Relaxed),
        currency: entry.currency.load(Relaxed).into(),
        serial: entry.serial.load(Relaxed),
        amount: entry.amount.load(Relaxed),
        price: entry.price.load(Relaxed),
        total: entry.total.load(Relaxed),
    };
    fence(Acquire);
    (seq != 0 && entry.seq.load(Relaxed) == seq).then_some(copy)
}

impl Snapshot {
    /// The market's currencies, in its order.
    pub(super) fn currencies(&self) -> &[CurrencyCopy] {
        &self.currencies[..self.currency_count]
    }

    /// The account slot at `index`, if it was copied and is in use.
    pub(super) fn account(&self, index: u32) -> Option<&AccountCopy> {
        let offset = index.checked_sub(self.first_account)?;
        self.accounts.get(offset as usize)
    }

    fn account_mut(&mut self, index: u32) -> Option<&mut AccountCopy> {
        let offset = index.checked_sub(self.first_account)?;
        self.accounts.get_mut(offset as usize)
    }

    /// Whether the owner has halted trading.
    pub(super) fn halted(&self) -> bool {
        self.flags & flags::HALTED != 0
    }

    /// The entries the tape shows, oldest first: from the last reset on,
    /// at most the ring's length, up to `trade_seq`.
    pub(super) fn tape_entries(&self) -> Vec<EntryCopy> {
        let oldest_kept = self.trade_seq.saturating_sub(TAPE_LEN as u64 - 1);
        let first = self.tape_start.max(oldest_kept).max(1);
        let mut entries: Vec<EntryCopy> = self
            .tape
            .iter()
            .filter(|entry| (first..=self.trade_seq).contains(&entry.seq))
            .copied()
            .collect();
        entries.sort_by_key(|entry| entry.seq);
        entries
    }

    /// Lays a change in flight over the copy ([`Redo::write_to`] says
    /// which values): they are absolute, so this gives the state after it,
    /// whatever the copy caught of it.
    fn overlay(&mut self, change: &Redo, parts: Parts) {
        change.write_to(&mut Overlay {
            snapshot: self,
            parts,
        });
    }
}

/// A reader's copy as a change's target: the slots it did not copy are
/// left alone.
struct Overlay<'a> {
    snapshot: &'a mut Snapshot,
    parts: Parts,
}

impl ChangeTarget for Overlay<'_> {
    fn stock(&mut self, currency: u32, stock: i64) {
        self.snapshot.currencies[currency as usize].stock = stock;
    }

    fn holding(&mut self, account: u32, currency: u32, holding: i64) {
        if let Some(slot) = self.snapshot.account_mut(account) {
            slot.holdings[currency as usize] = holding;
        }
    }

    fn balance(&mut self, account: u32, balance: i64) {
        if let Some(slot) = self.snapshot.account_mut(account) {
            slot.balance = balance;
        }
    }

    fn cash(&mut self, cash: i64) {
        self.snapshot.cash = cash;
    }

    fn trades(&mut self, account: u32, trades: u32, last_trade: u64) {
        if let Some(slot) = self.snapshot.account_mut(account) {
            slot.trades = trades;
            slot.last_trade = last_trade;
        }
    }

    fn sell(&mut self, currency: u32, sell: i64) {
        self.snapshot.currencies[currency as usize].sell = sell;
    }

    fn buy(&mut self, currency: u32, buy: i64) {
        self.snapshot.currencies[currency as usize].buy = buy;
    }

    fn flags(&mut self, flags: u32) {
        self.snapshot.flags = flags;
    }

    fn open(&mut self, account: u32, opened: &Opened, count: u32) {
        let snapshot = &mut *self.snapshot;
        snapshot.handed_out = opened.handed_out;
        let unused = AccountCopy {
            name: [0; ACCOUNT_NAME_BYTES],
            balance: 0,
            last_trade: 0,
            trades: 0,
            status: account::FREE,
            owner: 0,
            serial: 0,
            holdings: [0; MAX_CURRENCIES],
        };
        let copy = AccountCopy {
            name: opened.name,
            balance: opened.balance,
            owner: opened.owner,
            serial: opened.serial,
            status: account::OPEN,
            ..unused
        };
        match self.parts.accounts {
            Accounts::All => {
                if snapshot.accounts.len() < count as usize {
                    snapshot.accounts.resize(count as usize, unused);
                }
                snapshot.accounts[account as usize] = copy;
            }
            Accounts::One(index) if index == account => snapshot.accounts = vec![copy],
            Accounts::One(_) | Accounts::None => {}
        }
    }

    fn initial_stocks_and_cash(&mut self) {
        let snapshot = &mut *self.snapshot;
        for currency in &mut snapshot.currencies {
            currency.stock = currency.initial_stock;
        }
        snapshot.cash = snapshot.initial_cash;
    }

    fn restart_open_accounts(&mut self) {
        let starting = self.snapshot.starting_balance;
        for slot in self
            .snapshot
            .accounts
            .iter_mut()
            .filter(|slot| slot.is_open())
        {
            slot.balance = starting;
            slot.holdings = [0; MAX_CURRENCIES];
            slot.trades = 0;
            slot.last_trade = 0;
        }
    }

    fn handed_out(&mut self, handed_out: u32) {
        self.snapshot.handed_out = handed_out;
    }

    fn tape_start(&mut self, seq: u64) {
        self.snapshot.tape_start = seq;
    }

    fn close(&mut self, account: u32) {
        if let Some(slot) = self.snapshot.account_mut(account) {
            slot.balance = 0;
            slot.holdings = [0; MAX_CURRENCIES];
            slot.status = account::CLOSED;
        }
    }

    fn trade_seq(&mut self, seq: u64) {
        self.snapshot.trade_seq = seq;
    }
}
