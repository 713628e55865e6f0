//! The tape's entries: how one is written so that readers never take a
//! half-written one for whole, and a trade's entry read back as its redo.
//! A trade's entry carries its new stock, holding and balance, and its
//! currency's line the rest (the cash and the account's trade count), so a
//! trade writes no line of redo record: see `store::shm::journal`.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};

use super::record::{Limits, Redo};
use crate::shm::layout::{entry, Header, TapeEntry, Write, TAPE_LEN};

/// A tape entry's fields, as [`TapeEntry`] stores them (see
/// [`crate::shm::layout::entry`] for what each kind puts where); `stock`,
/// `holding` and `balance` are a trade's redo values, 0 for other kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct EntryValues {
    pub(super) kind: u8,
    pub(super) account: u32,
    pub(super) serial: u32,
    pub(super) currency: u32,
    pub(super) amount: i64,
    pub(super) price: i64,
    pub(super) total: i64,
    pub(super) stock: i64,
    pub(super) holding: i64,
    pub(super) balance: i64,
}

/// The sequence number after `seq`. A counter is a name, not an amount:
/// past `u64::MAX` it wraps to 1 (0 marks an empty tape slot), so a segment
/// whose counter reached its end still trades.
#[inline(always)]
pub(super) fn next_seq(seq: u64) -> u64 {
    match seq.wrapping_add(1) {
        0 => 1,
        next => next,
    }
}

/// The tape slot that holds (or will hold) entry `seq`.
#[inline(always)]
pub(super) fn tape_slot(header: &Header, seq: u64) -> &TapeEntry {
    &header.tape[(seq.wrapping_sub(1) % TAPE_LEN as u64) as usize]
}

/// Writes a tape entry so that a reader never takes a half-written one for
/// whole: `seq` is 0 while the fields change. Account indices fit the
/// entry's 16 bits and currency indices its 8 (asserted in `shm::layout`;
/// both were checked against the attach-time table sizes).
#[inline(always)]
pub(super) fn write_entry(header: &Header, seq: u64, values: &EntryValues, write: Write<'_>) {
    let entry = tape_slot(header, seq);
    entry.seq.store(0, Relaxed, write);
    fence(Release);
    entry.account.store(values.account as u16, Relaxed, write);
    entry.currency.store(values.currency as u8, Relaxed, write);
    entry.kind.store(values.kind, Relaxed, write);
    entry.serial.store(values.serial, Relaxed, write);
    entry.amount.store(values.amount, Relaxed, write);
    entry.price.store(values.price, Relaxed, write);
    entry.total.store(values.total, Relaxed, write);
    entry.stock.store(values.stock, Relaxed, write);
    entry.holding.store(values.holding, Relaxed, write);
    entry.balance.store(values.balance, Relaxed, write);
    entry.seq.store(seq, Release, write);
}

/// A pending trade's words: its tape entry's and its currency's line's.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawTrade {
    /// The sequence number the entry was looked up at.
    seq: u64,
    /// The `seq` the entry holds.
    entry_seq: u64,
    account: u16,
    currency: u8,
    side: u8,
    serial: u32,
    amount: i64,
    price: i64,
    total: i64,
    stock: i64,
    holding: i64,
    balance: i64,
    cash: i64,
    trades: u32,
}

impl RawTrade {
    /// Copies the pending trade: its entry is the one after `trade_seq` if
    /// that entry is written (the trade's values are not applied yet),
    /// else the one at `trade_seq` (they are, up to `trade_seq` itself).
    pub(super) fn load(header: &Header) -> RawTrade {
        let trade_seq = header.lock.trade_seq.load(Relaxed);
        let next = next_seq(trade_seq);
        let seq = if tape_slot(header, next).seq.load(Relaxed) == next {
            next
        } else {
            trade_seq
        };
        let entry = tape_slot(header, seq);
        let currency = entry.currency.load(Relaxed);
        let (cash, trades) = header
            .currencies
            .get(usize::from(currency))
            .map_or((0, 0), |slot| {
                (
                    slot.trade_cash.load(Relaxed),
                    slot.trade_count.load(Relaxed),
                )
            });
        RawTrade {
            seq,
            entry_seq: entry.seq.load(Relaxed),
            account: entry.account.load(Relaxed),
            currency,
            side: entry.kind.load(Relaxed),
            serial: entry.serial.load(Relaxed),
            amount: entry.amount.load(Relaxed),
            price: entry.price.load(Relaxed),
            total: entry.total.load(Relaxed),
            stock: entry.stock.load(Relaxed),
            holding: entry.holding.load(Relaxed),
            balance: entry.balance.load(Relaxed),
            cash,
            trades,
        }
    }

    pub(super) fn decode(&self, limits: Limits) -> Result<Redo, String> {
        if self.seq == 0 || self.entry_seq != self.seq {
            return Err(format!(
                "the pending trade's tape entry #{} is missing",
                self.seq
            ));
        }
        if !matches!(self.side, entry::BUY | entry::SELL) {
            return Err(format!(
                "the pending trade's tape entry holds the kind {}",
                self.side
            ));
        }
        let account = u32::from(self.account);
        let currency = u32::from(self.currency);
        if account >= limits.in_use.min(limits.capacity)
            || usize::from(self.currency) >= limits.currencies
        {
            return Err(format!(
                "the pending trade names currency {currency} and account {account}, \
                 which do not exist"
            ));
        }
        Ok(Redo::Trade {
            account,
            serial: self.serial,
            currency,
            side: self.side,
            seq: self.seq,
            amount: self.amount,
            price: self.price,
            total: self.total,
            stock: self.stock,
            holding: self.holding,
            balance: self.balance,
            cash: self.cash,
            trades: self.trades,
        })
    }
}
