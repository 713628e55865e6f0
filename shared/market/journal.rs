//! The one journal every change goes through, so that each is all-or-
//! nothing against a SIGKILL at any instruction, and [`Locked`], the lock
//! held, which every write path takes as its receiver.
//!
//! # The protocol
//!
//! Under the lock, a change is computed in full first; then
//!
//! 0. anything readers skip until step 2 publishes it is written (a trade's
//!    tape entry: readers ignore entries past `trade_seq`);
//! 1. the redo record is filled with the change's kind and its new
//!    **absolute** values, then published (`state = PENDING`, `Release`);
//! 2. the values are applied, one store each;
//! 3. the record is cleared (`state = IDLE`) and the change counter bumped.
//!
//! A locker that finds the previous owner dead ([`Exchange::lock`]) calls
//! [`replay`] before it marks the mutex consistent, like LMDB's
//! `mdb_mutex_failed`: a `PENDING` record is applied again, which is
//! harmless because its values are absolute (applying twice is applying
//! once), and a record that fails a check (an unknown kind, a slot that does
//! not exist) is never applied. Then the exchange is POISONED (its state
//! word, so nobody trades on it) and the mutex is still marked consistent,
//! so `exchange-init --force` and `--remove` can lock it to retire it. A
//! file segment that nobody else has open gets the same replay without the
//! lock, by its sole opener, before its lock is re-initialized.
//!
//! # Kinds of change
//!
//! The record's `kind` says what its values mean; replay is one `match`.
//! Each kind is one more variant, whose replay writes absolute values:
//!
//! - **trade** (now): currency, account, the new stock, holding, balance and
//!   cash, and the trade's sequence number, which becomes `trade_seq`.
//! - **price CUR SELL BUY**: the currency, the new sell and buy, and the
//!   sequence number of its tape entry (three of the record's reserved
//!   words). Replay stores the quote and `trade_seq`.
//! - **reset**: only the sequence number. Every value it writes is an
//!   initial value the header already holds (starting balance, no holdings,
//!   initial stock, initial cash, an empty tape), so replay is "write the
//!   initial values again", idempotent without carrying them.
//! - **close NAME**: the account, the new cash and the new stock of every
//!   currency the account held (up to 16), then the account's slot is
//!   emptied. That is 18 words, more than the record holds today: close
//!   grows the record (and bumps `LAYOUT_VERSION`) when it is built.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};

use super::{overflow, watchers, AccountId, CurrencyId, Exchange, Side};
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::money::Money;
use crate::shm::layout::{kind, redo, state, AccountSlot, Header, RedoRecord, TAPE_LEN};
use crate::shm::MutexGuard;
use crate::trace;

use super::rules::Outcome;

/// The exchange's lock, held: the capability every write requires. Made
/// only by [`Exchange::lock`] and [`Exchange::lock_any_state`], after any
/// repair a dead owner left to do.
pub(super) struct Locked<'a> {
    exchange: &'a Exchange,
    _guard: MutexGuard<'a>,
}

/// A trade ready to commit: the rules' outcome and what the tape shows.
pub(super) struct TradeChange<'a> {
    pub(super) account: AccountId,
    /// The account's slot, found under the same lock.
    pub(super) slot: &'a AccountSlot,
    pub(super) side: Side,
    pub(super) currency: CurrencyId,
    pub(super) amount: Money,
    pub(super) outcome: Outcome,
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
    #[inline]
    pub(super) fn lock_any_state(&self) -> Result<Locked<'_>> {
        let asked = trace::start_timer();
        let mut guard = self.mapping.lock().map_err(|error| Error::Lock {
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
                self.mapping.accounts(self.capacity),
                self.currencies.len(),
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

    /// Commits a trade through the journal (see the module doc).
    pub(super) fn commit_trade(&mut self, trade: &TradeChange<'_>) -> Result<()> {
        let header = self.exchange.header();
        let seq = header
            .trade_seq
            .load(Relaxed)
            .checked_add(1)
            .ok_or_else(overflow)?;
        let outcome = &trade.outcome;

        // 0. The tape entry. Until `trade_seq` reaches `seq`, readers skip
        //    this slot, so a death here loses nothing but the oldest entry,
        //    which this trade was about to overwrite anyway.
        let entry = &header.tape[((seq - 1) % TAPE_LEN as u64) as usize];
        entry.seq.store(seq, Relaxed);
        entry.account.store(trade.account.0, Relaxed);
        entry.side.store(trade.side.code(), Relaxed);
        entry.currency.store(trade.currency.0 as u32, Relaxed);
        entry.amount.store(trade.amount.hundredths(), Relaxed);
        entry.price.store(outcome.price.ten_thousandths(), Relaxed);
        entry.total.store(outcome.total.hundredths(), Relaxed);
        crate::trace!("journal: tape entry #{seq} written (readers skip it until published)");

        // 1. The whole outcome into the redo record, then publish it.
        let values = TradeValues {
            currency: trade.currency.0,
            stock: outcome.after.stock.hundredths(),
            holding: outcome.after.holding.hundredths(),
            balance: outcome.after.balance.hundredths(),
            cash: outcome.after.cash.hundredths(),
            seq,
        };
        let record = &header.redo;
        record.kind.store(kind::TRADE, Relaxed);
        record.currency.store(trade.currency.0 as u32, Relaxed);
        record.account.store(trade.account.0, Relaxed);
        record.stock.store(values.stock, Relaxed);
        record.holding.store(values.holding, Relaxed);
        record.balance.store(values.balance, Relaxed);
        record.cash.store(values.cash, Relaxed);
        record.seq.store(seq, Relaxed);
        record.state.store(redo::PENDING, Release);
        // No store below may be moved above the publication.
        fence(Release);
        crate::trace!(
            "journal: redo record #{seq} published (PENDING): stock {}, holding {}, balance {}, cash {}",
            outcome.after.stock,
            outcome.after.holding,
            outcome.after.balance,
            outcome.after.cash
        );
        crash_point(Step::AfterRedo);

        // 2. Apply it. 3. Clear it.
        apply_trade(header, trade.slot, &values, true);
        crate::trace!("journal: applied: stock, holding, balance, cash, then trade_seq = {seq}");
        record.state.store(redo::IDLE, Release);
        watchers::announce_change(header);
        crate::trace!("journal: redo record cleared (IDLE), change counter bumped");
        Ok(())
    }
}

/// A trade's new absolute values: what the redo record holds.
struct TradeValues {
    currency: usize,
    stock: i64,
    holding: i64,
    balance: i64,
    cash: i64,
    seq: u64,
}

impl TradeValues {
    fn load(record: &RedoRecord) -> TradeValues {
        TradeValues {
            currency: record.currency.load(Relaxed) as usize,
            stock: record.stock.load(Relaxed),
            holding: record.holding.load(Relaxed),
            balance: record.balance.load(Relaxed),
            cash: record.cash.load(Relaxed),
            seq: record.seq.load(Relaxed),
        }
    }
}

/// Stores a trade's new values. Every value is absolute, so applying them
/// again after a crash part-way through is harmless. `live` arms the crash
/// points between the stores (a replay has none).
fn apply_trade(header: &Header, account: &AccountSlot, values: &TradeValues, live: bool) {
    let step = |step: Step| {
        if live {
            crash_point(step);
        }
    };
    header.currencies[values.currency]
        .stock
        .store(values.stock, Relaxed);
    step(Step::AfterStock);
    account.holdings[values.currency].store(values.holding, Relaxed);
    step(Step::AfterHolding);
    account.balance.store(values.balance, Relaxed);
    step(Step::AfterBalance);
    header.cash.store(values.cash, Relaxed);
    step(Step::AfterCash);
    header.trade_seq.store(values.seq, Relaxed);
}

/// Finishes a dead owner's change if it published one. The caller holds
/// the lock that the owner died holding, or is the sole opener of a file
/// segment. The record is checked first; one that fails is not applied and
/// the reason is returned.
pub(super) fn replay(
    header: &Header,
    accounts: Option<&[AccountSlot]>,
    currency_count: usize,
) -> Result<(), String> {
    let record = &header.redo;
    match record.state.load(Acquire) {
        redo::IDLE => return Ok(()),
        redo::PENDING => {}
        other => return Err(format!("the redo record has the unknown state {other:#x}")),
    }
    match record.kind.load(Relaxed) {
        kind::TRADE => replay_trade(header, accounts, currency_count)?,
        other => return Err(format!("the redo record holds the unknown kind {other:#x}")),
    }
    fence(Release);
    record.state.store(redo::IDLE, Release);
    watchers::announce_change(header);
    Ok(())
}

fn replay_trade(
    header: &Header,
    accounts: Option<&[AccountSlot]>,
    currency_count: usize,
) -> Result<(), String> {
    let record = &header.redo;
    let currency = record.currency.load(Relaxed) as usize;
    let account = record.account.load(Relaxed) as usize;
    let count = header.account_count.load(Acquire) as usize;
    let slot = accounts
        .and_then(|table| table.get(..count))
        .and_then(|in_use| in_use.get(account));
    match slot {
        Some(slot) if currency < currency_count => {
            apply_trade(header, slot, &TradeValues::load(record), false);
            Ok(())
        }
        _ => Err(format!(
            "the pending redo record names currency {currency} and account {account}, which do not exist"
        )),
    }
}
