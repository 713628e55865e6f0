//! The one journal every change goes through, so that each is all-or-
//! nothing against a SIGKILL at any instruction and readers never need the
//! lock; and [`Locked`], the lock held, which every write path takes as its
//! receiver.
//!
//! # The protocol
//!
//! Under the lock, a change is computed in full first, as a [`Redo`] of
//! absolute values; then
//!
//! 0. anything readers skip until step 1 publishes it is written: the
//!    change's tape entry, if it has one (readers ignore entries past
//!    `trade_seq`, and check each entry's `seq` before and after copying
//!    it, so a half-written one is never shown);
//! 1. the change's redo is staged, then published: the readers' counter
//!    `write_seq` becomes **odd** (`Release`, then a `Release` fence so no
//!    store below moves above it). An odd `write_seq` is the "pending"
//!    flag; there is no other. A trade's redo is its tape entry (the new
//!    stock, holding and balance) and, on its currency's line, the new
//!    cash and trade count: `write_seq` ≡ 3 (mod 4) says so. Any other
//!    change's redo is the redo record, filled with its kind and values:
//!    `write_seq` ≡ 1 (mod 4);
//! 2. the values are applied, one store each;
//! 3. `write_seq` becomes **even** again (`Release`): the record is done
//!    with. Watchers sleep on `write_seq` itself (`store::shm::watchers`), so
//!    waking them needs no store of its own.
//!
//! The words this touches on every trade sit on few cache lines (see
//! `shm::layout`): `write_seq`, `trade_seq` and the cash share the lock's
//! line, and the trade's redo goes on the two lines its tape entry and its
//! currency's stock already need, so a trade writes no line of record.
//!
//! A pending trade's entry is found from `trade_seq`, which the trade's
//! last store moves to the entry's number: it is the entry after
//! `trade_seq` if that one holds the next number (not applied yet), else
//! the one at `trade_seq` (applied up to `trade_seq` itself).
//!
//! # Readers: the odd phase is the journal's publication
//!
//! A reader (`store::shm::snapshot`) reads `write_seq`, copies the pending
//! change's redo if the counter is odd, copies what it needs, and reads
//! the counter again.
//! If it moved, the copy may mix two changes: it retries (bounded in time).
//! If it did not move and is even, no change was in flight. If it did not
//! move and is odd, a change was in flight for the whole copy, and the
//! copy holds some of its stores and not others; but the record holds every
//! value the change writes, as absolute values, so laying the record over
//! the copy gives exactly the state after the change, however far the
//! writer got. So a writer stopped by SIGSTOP (or killed) mid-change never
//! makes a reader wait: the counter stays odd and still, and every reader
//! sees the change as done.
//!
//! # Repair
//!
//! A locker that finds the previous owner dead ([`Exchange::lock`]) calls
//! [`replay`] before it marks the mutex consistent, like LMDB's
//! `mdb_mutex_failed`: if `write_seq` is odd, the pending change's redo is
//! applied again, which is harmless because its values are absolute
//! (applying twice is applying once), and `write_seq` is made even. A redo
//! that fails a check (an unknown kind, a slot that does not exist, a
//! trade's entry that is not there) is never applied. Then the
//! exchange is POISONED (its state word, so nobody trades on it) and the
//! mutex is still marked consistent, so `exchange-init --force` and
//! `--remove` can lock it to retire it. A file segment that nobody else has
//! open gets the same replay without the lock, by its sole opener, before
//! its lock is re-initialized.
//!
//! # Kinds of change
//!
//! Each kind's replay writes only absolute values from the record:
//!
//! - **trade**: the currency's stock, the account's holding, balance, trade
//!   count and last trade, the cash, and `trade_seq`; its redo is its tape
//!   entry and its currency's line, not the record.
//! - **open**: a slot's name, starting balance, owner and serial, zero
//!   holdings and trades; the header's account count, last serial and
//!   starting balances handed out. A slot is reused only once every slot
//!   has been used, so a closed account keeps its name on the tape as long
//!   as possible, and its serial tells the tape's entries apart.
//! - **price CUR SELL BUY**: the currency's quote, and `trade_seq`.
//! - **halt / resume**: the new flags word, and `trade_seq`.
//! - **reset**: no values of its own: every open account back to the
//!   starting balance with no holdings or trades, every stock and the cash
//!   to their initial values (which the header keeps), the starting
//!   balances handed out to one per open account, and `tape_start` and
//!   `trade_seq` to the reset's own entry, which hides every older entry.
//! - **close NAME**: every currency's new stock (the account's holdings
//!   given back), the new cash (its balance given back); the slot gets a
//!   zero balance and holdings and becomes CLOSED; and `trade_seq`. The
//!   starting balances handed out stay: the balance went to the cash, so
//!   `cash + balances = initial cash + handed out` still holds.
//! - **transfer**: an account's new balance and the new cash: money moved
//!   from the exchange's cash to an account (`exchange-lab stress` funding its
//!   accounts), so cash plus balances, what the audit checks, is
//!   unchanged. Not on the tape.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};

use super::record::{stage, ChangeTarget, Limits, Opened, Pending, RawChange, Redo};
use super::tape::{next_seq, write_entry, EntryValues};
use super::Exchange;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::shm::layout::{account, state, AccountSlot, Header, Write};
use crate::shm::{LockError, Mapping, MutexGuard, Ready};
use crate::trace;

/// The exchange's lock, held: the capability every write requires. Made
/// only by [`Exchange::lock`] and [`Exchange::lock_any_state`] (and their
/// `_as` forms), after any repair a dead owner left to do.
///
/// `TRACED` says whether this path traces: `true` (the default) checks
/// whether tracing is on at each line; the trade compiles a `false` copy
/// too, which has no trace code at all, and picks one copy per trade.
///
/// Its trace lines are held (see `crate::trace::hold`) from before the lock
/// is asked for until after it is released: `_trace` is declared after
/// `guard`, so it drops, and sends them, after the unlock.
pub(super) struct Locked<'a, const TRACED: bool = true> {
    exchange: &'a Exchange,
    guard: MutexGuard<'a>,
    /// Dropped last, after the guard: the held lines go out then.
    _trace: trace::Holding,
}

impl Exchange {
    /// Takes the lock on a `READY` exchange. If its previous owner died,
    /// replays its pending change first, and only then marks the lock
    /// consistent.
    pub(super) fn lock(&self) -> Result<Locked<'_>> {
        self.lock_as::<true>(true).map_err(|error| *error)
    }

    /// Why an exchange whose state word is `other` cannot be traded on.
    #[cold]
    #[inline(never)]
    pub(super) fn not_ready(&self, other: u32) -> Error {
        match other {
            state::RETIRED => Error::Retired {
                address: self.address.to_string(),
            },
            state::POISONED => Error::poisoned(&self.address),
            other => self.corrupted(format!("unknown state {other:#x}")),
        }
    }

    /// Takes the lock whatever state the exchange is in, repairing after a
    /// dead owner. A repair that fails poisons the exchange and still marks
    /// the mutex consistent (see the module doc), then reports the failure.
    /// An exchange attached read-only has no lock to take.
    pub(super) fn lock_any_state(&self) -> Result<Locked<'_>> {
        self.lock_as::<true>(false).map_err(|error| *error)
    }

    /// [`Exchange::lock`] (`ready`) or [`Exchange::lock_any_state`], traced
    /// or not, with its error boxed, and the `Locked` made once at the
    /// end: so that the trade's hot path keeps the guard in registers
    /// rather than copying it out of one result into the next.
    #[inline(always)]
    pub(super) fn lock_as<const TRACED: bool>(
        &self,
        ready: bool,
    ) -> Result<Locked<'_, TRACED>, Box<Error>> {
        let mapping = match &self.attachment {
            super::Attachment::Writable(mapping) => mapping,
            super::Attachment::ReadOnly(_) => return Err(Box::new(self.read_only())),
        };
        let trace = trace::hold_if(TRACED);
        let asked = if TRACED { trace::start_timer() } else { None };
        let mut guard = match mapping.lock(self.caller) {
            Ok(guard) => guard,
            Err(error) => return Err(self.lock_failed(error)),
        };
        if let Some(asked) = asked {
            crate::trace!(
                "lock: pthread_mutex_lock (robust, process-shared) took {}",
                trace::human(asked.elapsed())
            );
        }
        self.repair_if_owner_died(mapping, &mut guard)?;
        if ready {
            let state = self.header().state.load();
            if state != state::READY {
                return Err(Box::new(self.not_ready(state)));
            }
        }
        Ok(Locked {
            exchange: self,
            guard,
            _trace: trace,
        })
    }

    /// [`Exchange::lock`] if the lock is free; `Ok(None)` at once if
    /// another process holds it. For work that must never wait.
    pub(super) fn try_lock(&self) -> Result<Option<Locked<'_>>> {
        let mapping = self.writable()?;
        let trace = trace::hold();
        let mut guard = match mapping.try_lock() {
            Ok(Some(guard)) => guard,
            Ok(None) => return Ok(None),
            Err(error) => return Err(*self.lock_failed(error)),
        };
        self.repair_if_owner_died(mapping, &mut guard)
            .map_err(|error| *error)?;
        match self.header().state.load() {
            state::READY => Ok(Some(Locked {
                exchange: self,
                guard,
                _trace: trace,
            })),
            other => Err(self.not_ready(other)),
        }
    }

    /// Repairs what a dead owner left, if the lock just taken says one
    /// did.
    #[inline(always)]
    fn repair_if_owner_died(
        &self,
        mapping: &Mapping<Ready>,
        guard: &mut MutexGuard<'_>,
    ) -> Result<(), Box<Error>> {
        if guard.owner_died() {
            // The guard stays out of the cold call, so it can live in
            // registers on the hot path.
            let repaired = self.replay_for_dead_owner(mapping, guard.write());
            guard
                .mark_consistent()
                .map_err(|error| Error::os(&self.address, "pthread_mutex_consistent", error))?;
            repaired?;
        }
        Ok(())
    }

    /// The error for a lock that could not be taken.
    #[cold]
    #[inline(never)]
    fn lock_failed(&self, error: LockError) -> Box<Error> {
        Box::new(Error::Lock {
            address: self.address.to_string(),
            reason: error.to_string(),
        })
    }

    /// The previous owner died holding the lock: replays its pending
    /// change, and poisons the exchange if that fails. The caller marks
    /// the mutex consistent either way (see the module doc).
    #[cold]
    #[inline(never)]
    fn replay_for_dead_owner(
        &self,
        mapping: &Mapping<Ready>,
        write: Write<'_>,
    ) -> Result<(), Box<Error>> {
        crate::trace!("lock: EOWNERDEAD, its owner died holding it: replay its redo record");
        let header = self.header();
        let repaired = replay(
            header,
            mapping.accounts(self.capacity),
            self.limits_of(header),
            write,
        );
        if repaired.is_err() {
            header.state.poison(write);
        }
        repaired.map_err(|reason| Box::new(self.corrupted(reason)))
    }

    /// The ranges a record read now must fit.
    pub(super) fn limits_of(&self, header: &Header) -> Limits {
        Limits {
            capacity: self.capacity,
            in_use: header.account_count.load(Relaxed),
            currencies: self.currencies.len(),
        }
    }
}

/// Unlocking: the guard, a field, releases the mutex just after this, and
/// the held trace lines go out after that.
impl<const TRACED: bool> Drop for Locked<'_, TRACED> {
    #[inline(always)]
    fn drop(&mut self) {
        crate::trace_if!(TRACED, "unlock: pthread_mutex_unlock");
    }
}

impl<'a, const TRACED: bool> Locked<'a, TRACED> {
    /// Unlocks now, as dropping a `Locked` does on every early return.
    #[inline(always)]
    pub(super) fn unlock(self) {
        drop(self);
    }

    pub(super) fn exchange(&self) -> &'a Exchange {
        self.exchange
    }

    pub(super) fn header(&self) -> &'a Header {
        self.exchange.header()
    }

    /// The permission to write the segment, while the lock is held.
    #[inline(always)]
    pub(super) fn write(&self) -> Write<'_> {
        self.guard.write()
    }

    /// Commits a change through the journal (see the module doc), with its
    /// tape entry if it has one (a trade's is made from the change);
    /// returns the change's sequence number, or the current one for a
    /// change not on the tape. `table` is the account table, as the caller
    /// checked the change's indices against it.
    #[inline(always)]
    pub(super) fn commit(
        &mut self,
        table: &[AccountSlot],
        change: Redo,
        entry: Option<EntryValues>,
    ) -> u64 {
        let header = self.header();
        let write = self.write();
        let mut seq = header.lock.trade_seq.load(Relaxed);
        let change = match change.trade_entry().or(entry) {
            Some(entry) => {
                seq = next_seq(seq);
                // 0. The tape entry, which readers skip until `trade_seq`
                //    reaches it: a death here loses nothing but the oldest
                //    entry, which this one was about to overwrite anyway.
                write_entry(header, seq, &entry, write);
                crate::trace_if!(
                    TRACED,
                    "journal: tape entry #{seq} written (readers skip it until published)"
                );
                change.with_seq(seq)
            }
            None => change,
        };
        // 1. The rest of the change's redo staged, and published by the
        //    readers' odd phase.
        let pending = stage(header, &change, write);
        begin_write(header, pending, write);
        match (change.seq(), pending) {
            (Some(seq), Pending::Trade) => crate::trace_if!(
                TRACED,
                "journal: redo record #{seq} published (PENDING) in tape entry #{seq} and the \
                 currency's line, write_seq ≡ 3 (mod 4): {change}"
            ),
            (Some(seq), Pending::Record) => crate::trace_if!(
                TRACED,
                "journal: redo record #{seq} published (PENDING), write_seq ≡ 1 (mod 4): {change}"
            ),
            (None, _) => crate::trace_if!(
                TRACED,
                "journal: redo record published (PENDING), write_seq ≡ 1 (mod 4): {change}"
            ),
        }
        crash_point(Step::AfterRedo);
        // 2. Apply it. 3. The odd phase ends: the record is done with.
        apply(header, table, &change, true, write);
        crate::trace_if!(TRACED, "journal: applied, one store each");
        end_write(header, write);
        crate::trace_if!(
            TRACED,
            "journal: redo record cleared: write_seq even again, which boards wake on"
        );
        seq
    }

    /// Moves `write_seq` on by a whole (empty) change, so that readers
    /// copy again and watchers wake: after the state word changed.
    pub(super) fn announce_change(&self) {
        let header = self.header();
        let write = self.write();
        begin_write(header, Pending::Record, write);
        end_write(header, write);
    }
}

/// Makes `write_seq` odd, with the residue that says where the redo is:
/// the change is published, and readers now lay it over what they copy.
/// The fence keeps every store of the change below the counter's.
#[inline(always)]
fn begin_write(header: &Header, pending: Pending, write: Write<'_>) {
    let write_seq = &header.lock.write_seq;
    write_seq.store(pending.published(write_seq.load(Relaxed)), Release, write);
    fence(Release);
}

/// Makes `write_seq` even again: the change is whole in memory.
#[inline(always)]
fn end_write(header: &Header, write: Write<'_>) {
    let write_seq = &header.lock.write_seq;
    write_seq.store(
        (write_seq.load(Relaxed) | 1).wrapping_add(1),
        Release,
        write,
    );
}

/// Stores a change's values ([`Redo::write_to`] says which). Every value is
/// absolute, so applying them again after a crash part-way through is
/// harmless. `live` arms the crash points between the stores (a replay has
/// none). The caller has checked every index against `table` (a decoded
/// record, or a change it built).
#[inline(always)]
fn apply(header: &Header, table: &[AccountSlot], change: &Redo, live: bool, write: Write<'_>) {
    change.write_to(&mut Segment {
        header,
        table,
        live,
        write,
    });
}

/// The segment as a change's target: one store per value.
struct Segment<'a> {
    header: &'a Header,
    table: &'a [AccountSlot],
    live: bool,
    write: Write<'a>,
}

impl ChangeTarget for Segment<'_> {
    #[inline(always)]
    fn step(&mut self, step: Step) {
        if self.live {
            crash_point(step);
        }
    }

    #[inline(always)]
    fn stock(&mut self, currency: u32, stock: i64) {
        self.header.currencies[currency as usize]
            .stock
            .store(stock, Relaxed, self.write);
    }

    #[inline(always)]
    fn holding(&mut self, account: u32, currency: u32, holding: i64) {
        self.table[account as usize].holdings[currency as usize]
            .store(holding, Relaxed, self.write);
    }

    #[inline(always)]
    fn balance(&mut self, account: u32, balance: i64) {
        self.table[account as usize]
            .balance
            .store(balance, Relaxed, self.write);
    }

    #[inline(always)]
    fn cash(&mut self, cash: i64) {
        self.header.lock.cash.store(cash, Relaxed, self.write);
    }

    #[inline(always)]
    fn trades(&mut self, account: u32, trades: u32, last_trade: u64) {
        let slot = &self.table[account as usize];
        slot.trades.store(trades, Relaxed, self.write);
        slot.last_trade.store(last_trade, Relaxed, self.write);
    }

    fn sell(&mut self, currency: u32, sell: i64) {
        self.header.currencies[currency as usize]
            .sell
            .store(sell, Relaxed, self.write);
    }

    fn buy(&mut self, currency: u32, buy: i64) {
        self.header.currencies[currency as usize]
            .buy
            .store(buy, Relaxed, self.write);
    }

    fn flags(&mut self, flags: u32) {
        self.header.flags.store(flags, Relaxed, self.write);
    }

    fn open(&mut self, account: u32, opened: &Opened, count: u32) {
        let (header, write) = (self.header, self.write);
        let slot = &self.table[account as usize];
        for (stored, byte) in slot.name.iter().zip(opened.name) {
            stored.store(byte, Relaxed, write);
        }
        restart(slot, opened.balance, write);
        slot.owner.store(opened.owner, Relaxed, write);
        slot.serial.store(opened.serial, Relaxed, write);
        slot.status.store(account::OPEN, Relaxed, write);
        header.account_serial.store(opened.serial, Relaxed, write);
        header
            .balances_handed_out
            .store(opened.handed_out, Relaxed, write);
        header.account_count.store(count, Release, write);
    }

    fn initial_stocks_and_cash(&mut self) {
        let (header, write) = (self.header, self.write);
        for currency in &header.currencies {
            currency
                .stock
                .store(currency.initial_stock.load(Relaxed), Relaxed, write);
        }
        header
            .lock
            .cash
            .store(header.initial_cash.load(Relaxed), Relaxed, write);
    }

    fn restart_open_accounts(&mut self) {
        let (header, write) = (self.header, self.write);
        let starting = header.starting_balance.load(Relaxed);
        let in_use = (header.account_count.load(Relaxed) as usize).min(self.table.len());
        for slot in self.table[..in_use]
            .iter()
            .filter(|slot| slot.status.load(Relaxed) == account::OPEN)
        {
            restart(slot, starting, write);
        }
    }

    fn clear_race(&mut self) {
        self.header.unlocked_trades.store(0, Relaxed, self.write);
    }

    fn handed_out(&mut self, handed_out: u32) {
        self.header
            .balances_handed_out
            .store(handed_out, Relaxed, self.write);
    }

    fn tape_start(&mut self, seq: u64) {
        self.header.tape_start.store(seq, Relaxed, self.write);
    }

    fn close(&mut self, account: u32) {
        let slot = &self.table[account as usize];
        slot.balance.store(0, Relaxed, self.write);
        for holding in &slot.holdings {
            holding.store(0, Relaxed, self.write);
        }
        slot.status.store(account::CLOSED, Relaxed, self.write);
    }

    #[inline(always)]
    fn trade_seq(&mut self, seq: u64) {
        self.header.lock.trade_seq.store(seq, Relaxed, self.write);
    }
}

/// An account back to `balance` with no holdings and no trades: what an
/// opening and a reset write into a slot.
fn restart(slot: &AccountSlot, balance: i64, write: Write<'_>) {
    slot.balance.store(balance, Relaxed, write);
    for holding in &slot.holdings {
        holding.store(0, Relaxed, write);
    }
    slot.trades.store(0, Relaxed, write);
    slot.last_trade.store(0, Relaxed, write);
}

/// Finishes a dead owner's change if it published one (`write_seq` is
/// odd), and ends the readers' odd phase. The caller holds the lock that
/// the owner died holding, or is the sole opener of a file segment. The
/// redo is checked first; one that fails is not applied, the odd phase is
/// left as it is, and the reason is returned.
pub(super) fn replay(
    header: &Header,
    table: Option<&[AccountSlot]>,
    limits: Limits,
    write: Write<'_>,
) -> Result<(), String> {
    let Some(pending) = RawChange::load(header, header.lock.write_seq.load(Acquire)) else {
        return Ok(());
    };
    let table = table.ok_or("the account table is cut short")?;
    let change = pending.decode(limits)?;
    apply(header, table, &change, false, write);
    end_write(header, write);
    Ok(())
}
