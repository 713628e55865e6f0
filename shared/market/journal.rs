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
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};

use super::{overflow, watchers, Exchange};
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::names::ACCOUNT_NAME_BYTES;
use crate::shm::layout::{
    account, kind, redo, state, AccountSlot, Header, RedoRecord, MAX_CURRENCIES, TAPE_LEN,
};
use crate::shm::MutexGuard;

/// The exchange's lock, held: the capability every write requires. Made
/// only by [`Exchange::lock`] and [`Exchange::lock_any_state`], after any
/// repair a dead owner left to do.
pub(super) struct Locked<'a> {
    exchange: &'a Exchange,
    _guard: MutexGuard<'a>,
}

/// A change's absolute values: what the redo record holds, what is
/// applied, replayed, and laid over a reader's copy. Sequence numbers are
/// filled in by [`Locked::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Redo {
    Trade {
        account: u32,
        currency: u32,
        seq: u64,
        stock: i64,
        holding: i64,
        balance: i64,
        cash: i64,
        trades: u32,
    },
    Open {
        account: u32,
        name: [u8; ACCOUNT_NAME_BYTES],
        serial: u32,
        owner: u32,
        balance: i64,
        /// The header's new `account_count`.
        count: u32,
        handed_out: u32,
    },
    Price {
        currency: u32,
        seq: u64,
        sell: i64,
        buy: i64,
    },
    Flags {
        seq: u64,
        flags: u32,
    },
    Reset {
        seq: u64,
        handed_out: u32,
    },
    Close {
        account: u32,
        seq: u64,
        cash: i64,
        stocks: [i64; MAX_CURRENCIES],
    },
}

impl Redo {
    /// The change's tape sequence number, which becomes `trade_seq`; `None`
    /// for a change that is not on the tape.
    pub(super) fn seq(&self) -> Option<u64> {
        match *self {
            Redo::Trade { seq, .. }
            | Redo::Price { seq, .. }
            | Redo::Flags { seq, .. }
            | Redo::Reset { seq, .. }
            | Redo::Close { seq, .. } => Some(seq),
            Redo::Open { .. } => None,
        }
    }

    fn with_seq(mut self, new: u64) -> Redo {
        match &mut self {
            Redo::Trade { seq, .. }
            | Redo::Price { seq, .. }
            | Redo::Flags { seq, .. }
            | Redo::Reset { seq, .. }
            | Redo::Close { seq, .. } => *seq = new,
            Redo::Open { .. } => {}
        }
        self
    }
}

/// A tape entry's fields, as [`crate::shm::layout::TapeEntry`] stores
/// them (see [`crate::shm::layout::entry`] for what each kind puts where).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct EntryValues {
    pub(super) kind: u32,
    pub(super) account: u32,
    pub(super) serial: u32,
    pub(super) currency: u32,
    pub(super) amount: i64,
    pub(super) price: i64,
    pub(super) total: i64,
}

/// The record's words, copied as they are: checked by [`RawRecord::decode`].
#[derive(Debug, Clone, Copy)]
pub(super) struct RawRecord {
    kind: u32,
    account: u32,
    currency: u32,
    seq: u64,
    cash: i64,
    balance: i64,
    stock: i64,
    holding: i64,
    trades: u64,
    sell: i64,
    buy: i64,
    serial: u32,
    owner: u32,
    account_count: u32,
    handed_out: u32,
    flags: u32,
    name: [u8; ACCOUNT_NAME_BYTES],
    stocks: [i64; MAX_CURRENCIES],
}

/// What a record's indices must fit: the account table's capacity, the
/// slots in use, and the number of currencies.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) capacity: u32,
    pub(super) in_use: u32,
    pub(super) currencies: usize,
}

impl RawRecord {
    /// Copies the record, word by word, with plain loads.
    pub(super) fn load(record: &RedoRecord) -> RawRecord {
        let mut name = [0; ACCOUNT_NAME_BYTES];
        for (byte, stored) in name.iter_mut().zip(&record.name) {
            *byte = stored.load(Relaxed);
        }
        let mut stocks = [0; MAX_CURRENCIES];
        for (stock, stored) in stocks.iter_mut().zip(&record.stocks) {
            *stock = stored.load(Relaxed);
        }
        RawRecord {
            kind: record.kind.load(Relaxed),
            account: record.account.load(Relaxed),
            currency: record.currency.load(Relaxed),
            seq: record.seq.load(Relaxed),
            cash: record.cash.load(Relaxed),
            balance: record.balance.load(Relaxed),
            stock: record.stock.load(Relaxed),
            holding: record.holding.load(Relaxed),
            trades: record.trades.load(Relaxed),
            sell: record.sell.load(Relaxed),
            buy: record.buy.load(Relaxed),
            serial: record.serial.load(Relaxed),
            owner: record.owner.load(Relaxed),
            account_count: record.account_count.load(Relaxed),
            handed_out: record.handed_out.load(Relaxed),
            flags: record.flags.load(Relaxed),
            name,
            stocks,
        }
    }

    /// The change the record holds, if every index in it is in range; else
    /// why not.
    pub(super) fn decode(&self, limits: Limits) -> Result<Redo, String> {
        let in_use = |account: u32| account < limits.in_use.min(limits.capacity);
        let currency_ok = (self.currency as usize) < limits.currencies;
        let bad = |what: &str| -> Result<Redo, String> {
            Err(format!(
                "the pending redo record names {what}, which does not exist"
            ))
        };
        match self.kind {
            kind::TRADE if !in_use(self.account) || !currency_ok => bad(&format!(
                "currency {} and account {}",
                self.currency, self.account
            )),
            kind::TRADE => Ok(Redo::Trade {
                account: self.account,
                currency: self.currency,
                seq: self.seq,
                stock: self.stock,
                holding: self.holding,
                balance: self.balance,
                cash: self.cash,
                trades: u32::try_from(self.trades).map_err(|_| "a trade count out of range")?,
            }),
            kind::OPEN
                if self.account >= self.account_count || self.account_count > limits.capacity =>
            {
                bad(&format!("account slot {}", self.account))
            }
            kind::OPEN => Ok(Redo::Open {
                account: self.account,
                name: self.name,
                serial: self.serial,
                owner: self.owner,
                balance: self.balance,
                count: self.account_count,
                handed_out: self.handed_out,
            }),
            kind::PRICE if !currency_ok => bad(&format!("currency {}", self.currency)),
            kind::PRICE => Ok(Redo::Price {
                currency: self.currency,
                seq: self.seq,
                sell: self.sell,
                buy: self.buy,
            }),
            kind::FLAGS => Ok(Redo::Flags {
                seq: self.seq,
                flags: self.flags,
            }),
            kind::RESET => Ok(Redo::Reset {
                seq: self.seq,
                handed_out: self.handed_out,
            }),
            kind::CLOSE if !in_use(self.account) => bad(&format!("account {}", self.account)),
            kind::CLOSE => Ok(Redo::Close {
                account: self.account,
                seq: self.seq,
                cash: self.cash,
                stocks: self.stocks,
            }),
            other => Err(format!("the redo record holds the unknown kind {other:#x}")),
        }
    }
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
        let mut guard = mapping.lock().map_err(|error| Error::Lock {
            address: self.address.to_string(),
            reason: error.to_string(),
        })?;
        if guard.owner_died() {
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
                seq = seq.checked_add(1).ok_or_else(overflow)?;
                // 0. The tape entry, which readers skip until `trade_seq`
                //    reaches it: a death here loses nothing but the oldest
                //    entry, which this one was about to overwrite anyway.
                write_entry(header, seq, &entry);
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
        crash_point(Step::AfterRedo);
        // 2. Apply it. 3. Clear it; the odd phase ends.
        apply(header, table, &change, true);
        record.state.store(redo::IDLE, Release);
        end_write(header);
        watchers::announce_change(header);
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

/// Stores a change's values in the record (not yet published).
fn fill(record: &RedoRecord, change: &Redo) {
    let words = |kind: u32, account: u32, currency: u32, seq: u64| {
        record.kind.store(kind, Relaxed);
        record.account.store(account, Relaxed);
        record.currency.store(currency, Relaxed);
        record.seq.store(seq, Relaxed);
    };
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
            words(kind::TRADE, account, currency, seq);
            record.stock.store(stock, Relaxed);
            record.holding.store(holding, Relaxed);
            record.balance.store(balance, Relaxed);
            record.cash.store(cash, Relaxed);
            record.trades.store(u64::from(trades), Relaxed);
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
            words(kind::OPEN, account, 0, 0);
            for (stored, byte) in record.name.iter().zip(name) {
                stored.store(byte, Relaxed);
            }
            record.serial.store(serial, Relaxed);
            record.owner.store(owner, Relaxed);
            record.balance.store(balance, Relaxed);
            record.account_count.store(count, Relaxed);
            record.handed_out.store(handed_out, Relaxed);
        }
        Redo::Price {
            currency,
            seq,
            sell,
            buy,
        } => {
            words(kind::PRICE, 0, currency, seq);
            record.sell.store(sell, Relaxed);
            record.buy.store(buy, Relaxed);
        }
        Redo::Flags { seq, flags } => {
            words(kind::FLAGS, 0, 0, seq);
            record.flags.store(flags, Relaxed);
        }
        Redo::Reset { seq, handed_out } => {
            words(kind::RESET, 0, 0, seq);
            record.handed_out.store(handed_out, Relaxed);
        }
        Redo::Close {
            account,
            seq,
            cash,
            stocks,
        } => {
            words(kind::CLOSE, account, 0, seq);
            record.cash.store(cash, Relaxed);
            for (stored, stock) in record.stocks.iter().zip(stocks) {
                stored.store(stock, Relaxed);
            }
        }
    }
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
