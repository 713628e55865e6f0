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
//! 0. anything readers skip until step 2 publishes it is written: the
//!    change's tape entry, if it has one (readers ignore entries past
//!    `trade_seq`, and check each entry's `seq` before and after copying
//!    it, so a half-written one is never shown);
//! 1. the redo record is filled with the change's kind and values and
//!    published (`state = PENDING`), then the readers' counter `write_seq`
//!    becomes **odd** (`Release`, then a `Release` fence so no store below
//!    moves above it);
//! 2. the values are applied, one store each;
//! 3. the record is cleared (`state = IDLE`), `write_seq` becomes **even**
//!    again (`Release`), and the change counter that wakes boards is bumped.
//!
//! # Readers: the odd phase is the journal's publication
//!
//! A reader (`market::snapshot`) reads `write_seq`, copies the record if
//! the counter is odd, copies what it needs, and reads the counter again.
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
//! `mdb_mutex_failed`: a `PENDING` record is applied again, which is
//! harmless because its values are absolute (applying twice is applying
//! once), and `write_seq` is made even. A record that fails a check (an
//! unknown kind, a slot that does not exist) is never applied. Then the
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
//!   count and last trade, the cash, and `trade_seq`.
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
//!   from the exchange's cash to an account (`trader stress` funding its
//!   accounts), so cash plus balances, what the audit checks, is
//!   unchanged. Not on the tape.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};

use super::record::{fill, EntryValues, Limits, RawRecord, Redo};
use super::{watchers, Exchange};
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::shm::layout::{account, redo, state, AccountSlot, Header, TAPE_LEN};
use crate::shm::MutexGuard;
use crate::trace;

/// The exchange's lock, held: the capability every write requires. Made
/// only by [`Exchange::lock`] and [`Exchange::lock_any_state`], after any
/// repair a dead owner left to do.
pub(super) struct Locked<'a> {
    exchange: &'a Exchange,
    _guard: MutexGuard<'a>,
}

impl Exchange {
    /// Takes the lock on a `READY` exchange. If its previous owner died,
    /// replays its pending change first, and only then marks the lock
    /// consistent.
    #[inline]
    pub(super) fn lock(&self) -> Result<Locked<'_>> {
        let locked = self.lock_any_state()?;
        match self.header().state.load() {
            state::READY => Ok(locked),
            state::RETIRED => Err(Error::Retired {
                address: self.address.to_string(),
            }),
            state::POISONED => Err(Error::poisoned(&self.address)),
            other => Err(self.corrupted(format!("unknown state {other:#x}"))),
        }
    }

    /// Takes the lock whatever state the exchange is in, repairing after a
    /// dead owner. A repair that fails poisons the exchange and still marks
    /// the mutex consistent (see the module doc), then reports the failure.
    /// An exchange attached read-only has no lock to take.
    #[inline]
    pub(super) fn lock_any_state(&self) -> Result<Locked<'_>> {
        let mapping = self.writable()?;
        let asked = trace::start_timer();
        let mut guard = mapping.lock().map_err(|error| Error::Lock {
            address: self.address.to_string(),
            reason: error.to_string(),
        })?;
        if let Some(asked) = asked {
            crate::trace!(
                "lock: pthread_mutex_lock (robust, process-shared) took {}",
                trace::human(asked.elapsed())
            );
        }
        if guard.owner_died() {
            crate::trace!("lock: EOWNERDEAD, its owner died holding it: replay its redo record");
            let header = self.header();
            let repaired = replay(
                header,
                mapping.accounts(self.capacity),
                self.limits_of(header),
            );
            if repaired.is_err() {
                header.state.poison();
            }
            guard
                .mark_consistent()
                .map_err(|error| Error::os(&self.address, "pthread_mutex_consistent", error))?;
            repaired.map_err(|reason| self.corrupted(reason))?;
        }
        Ok(Locked {
            exchange: self,
            _guard: guard,
        })
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

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        crate::trace!("unlock: pthread_mutex_unlock");
    }
}

impl<'a> Locked<'a> {
    pub(super) fn exchange(&self) -> &'a Exchange {
        self.exchange
    }

    pub(super) fn header(&self) -> &'a Header {
        self.exchange.header()
    }

    /// Commits a change through the journal (see the module doc), with its
    /// tape entry if it has one; returns the change's sequence number, or
    /// the current one for a change not on the tape.
    #[inline]
    pub(super) fn commit(&mut self, change: Redo, entry: Option<EntryValues>) -> Result<u64> {
        let header = self.header();
        let table = self.exchange.table()?;
        let mut seq = header.trade_seq.load(Relaxed);
        let change = match entry {
            Some(entry) => {
                // A counter is a name, not an amount: past u64::MAX it
                // wraps to 1 (0 marks an empty tape slot), so a segment
                // whose counter reached its end still trades.
                seq = match seq.wrapping_add(1) {
                    0 => 1,
                    next => next,
                };
                // 0. The tape entry, which readers skip until `trade_seq`
                //    reaches it: a death here loses nothing but the oldest
                //    entry, which this one was about to overwrite anyway.
                write_entry(header, seq, &entry);
                crate::trace!(
                    "journal: tape entry #{seq} written (readers skip it until published)"
                );
                change.with_seq(seq)
            }
            None => change,
        };
        // 1. The whole change into the record, published; readers' odd
        //    phase begins.
        let record = &header.redo;
        fill(record, &change);
        record.state.store(redo::PENDING, Release);
        begin_write(header);
        match change.seq() {
            Some(seq) => crate::trace!(
                "journal: redo record #{seq} published (PENDING), write_seq odd: {change}"
            ),
            None => {
                crate::trace!("journal: redo record published (PENDING), write_seq odd: {change}")
            }
        }
        crash_point(Step::AfterRedo);
        // 2. Apply it. 3. Clear it; the odd phase ends.
        apply(header, table, &change, true);
        crate::trace!("journal: applied, one store each");
        record.state.store(redo::IDLE, Release);
        end_write(header);
        watchers::announce_change(header);
        crate::trace!("journal: redo record cleared (IDLE), write_seq even, change counter bumped");
        Ok(seq)
    }
}

/// Makes `write_seq` odd: readers now lay the record over what they copy.
/// The fence keeps every store of the change below the counter's.
fn begin_write(header: &Header) {
    let seq = header.write_seq.load(Relaxed);
    header.write_seq.store(seq | 1, Release);
    fence(Release);
}

/// Makes `write_seq` even again: the change is whole in memory.
fn end_write(header: &Header) {
    let seq = header.write_seq.load(Relaxed);
    header.write_seq.store((seq | 1).wrapping_add(1), Release);
}

/// Writes a tape entry so that a reader never takes a half-written one for
/// whole: `seq` is 0 while the fields change.
fn write_entry(header: &Header, seq: u64, values: &EntryValues) {
    let entry = &header.tape[((seq - 1) % TAPE_LEN as u64) as usize];
    entry.seq.store(0, Relaxed);
    fence(Release);
    entry.account.store(values.account, Relaxed);
    entry.kind.store(values.kind, Relaxed);
    entry.currency.store(values.currency, Relaxed);
    entry.serial.store(values.serial, Relaxed);
    entry.amount.store(values.amount, Relaxed);
    entry.price.store(values.price, Relaxed);
    entry.total.store(values.total, Relaxed);
    entry.seq.store(seq, Release);
}

/// Stores a change's values. Every value is absolute, so applying them
/// again after a crash part-way through is harmless. `live` arms the crash
/// points between the stores (a replay has none). The caller has checked
/// every index against `table` (a decoded record, or a change it built).
fn apply(header: &Header, table: &[AccountSlot], change: &Redo, live: bool) {
    let step = |step: Step| {
        if live {
            crash_point(step);
        }
    };
    let slot = |account: u32| &table[account as usize];
    match *change {
        Redo::Trade {
            account,
            currency,
            seq,
            stock,
            holding,
            balance,
            cash,
            trades,
        } => {
            let slot = slot(account);
            header.currencies[currency as usize]
                .stock
                .store(stock, Relaxed);
            step(Step::AfterStock);
            slot.holdings[currency as usize].store(holding, Relaxed);
            step(Step::AfterHolding);
            slot.balance.store(balance, Relaxed);
            step(Step::AfterBalance);
            header.cash.store(cash, Relaxed);
            step(Step::AfterCash);
            slot.trades.store(trades, Relaxed);
            slot.last_trade.store(seq, Relaxed);
        }
        Redo::Open {
            account,
            name,
            serial,
            owner,
            balance,
            count,
            handed_out,
        } => {
            let slot = slot(account);
            for (stored, byte) in slot.name.iter().zip(name) {
                stored.store(byte, Relaxed);
            }
            slot.balance.store(balance, Relaxed);
            for holding in &slot.holdings {
                holding.store(0, Relaxed);
            }
            slot.trades.store(0, Relaxed);
            slot.last_trade.store(0, Relaxed);
            slot.owner.store(owner, Relaxed);
            slot.serial.store(serial, Relaxed);
            slot.status.store(account::OPEN, Relaxed);
            header.account_serial.store(serial, Relaxed);
            header.balances_handed_out.store(handed_out, Relaxed);
            header.account_count.store(count, Release);
        }
        Redo::Price {
            currency,
            sell,
            buy,
            ..
        } => {
            let quote = &header.currencies[currency as usize];
            quote.sell.store(sell, Relaxed);
            step(Step::MidChange);
            quote.buy.store(buy, Relaxed);
        }
        Redo::Flags { flags, .. } => {
            header.flags.store(flags, Relaxed);
            step(Step::MidChange);
        }
        Redo::Reset { seq, handed_out } => {
            for currency in &header.currencies {
                currency
                    .stock
                    .store(currency.initial_stock.load(Relaxed), Relaxed);
            }
            header
                .cash
                .store(header.initial_cash.load(Relaxed), Relaxed);
            step(Step::MidChange);
            let starting = header.starting_balance.load(Relaxed);
            let in_use = (header.account_count.load(Relaxed) as usize).min(table.len());
            for slot in table[..in_use]
                .iter()
                .filter(|slot| slot.status.load(Relaxed) == account::OPEN)
            {
                slot.balance.store(starting, Relaxed);
                for holding in &slot.holdings {
                    holding.store(0, Relaxed);
                }
                slot.trades.store(0, Relaxed);
                slot.last_trade.store(0, Relaxed);
            }
            header.balances_handed_out.store(handed_out, Relaxed);
            header.tape_start.store(seq, Relaxed);
        }
        Redo::Transfer {
            account,
            balance,
            cash,
        } => {
            slot(account).balance.store(balance, Relaxed);
            step(Step::AfterBalance);
            header.cash.store(cash, Relaxed);
            step(Step::AfterCash);
        }
        Redo::Close {
            account,
            cash,
            stocks,
            ..
        } => {
            let slot = slot(account);
            for (currency, stock) in header.currencies.iter().zip(stocks) {
                currency.stock.store(stock, Relaxed);
            }
            step(Step::MidChange);
            header.cash.store(cash, Relaxed);
            slot.balance.store(0, Relaxed);
            for holding in &slot.holdings {
                holding.store(0, Relaxed);
            }
            slot.status.store(account::CLOSED, Relaxed);
        }
    }
    if let Some(seq) = change.seq() {
        header.trade_seq.store(seq, Relaxed);
    }
}

/// Finishes a dead owner's change if it published one, and ends the
/// readers' odd phase it may have left. The caller holds the lock that the
/// owner died holding, or is the sole opener of a file segment. The record
/// is checked first; one that fails is not applied and the reason is
/// returned.
pub(super) fn replay(
    header: &Header,
    table: Option<&[AccountSlot]>,
    limits: Limits,
) -> Result<(), String> {
    let record = &header.redo;
    match record.state.load(Acquire) {
        redo::IDLE => {}
        redo::PENDING => {
            let table = table.ok_or("the account table is cut short")?;
            let change = RawRecord::load(record).decode(limits)?;
            // Readers lay the record over what they copy only while the
            // counter is odd: make it odd before storing anything.
            if header.write_seq.load(Relaxed) % 2 == 0 {
                begin_write(header);
            }
            apply(header, table, &change, false);
            record.state.store(redo::IDLE, Release);
        }
        other => return Err(format!("the redo record has the unknown state {other:#x}")),
    }
    if header.write_seq.load(Relaxed) % 2 == 1 {
        end_write(header);
        watchers::announce_change(header);
    }
    Ok(())
}
