//! The tape's entries: how one is written so that readers never take a
//! half-written one for whole (a trade's entry is read back as its redo by
//! `store::shm::record`, which is above this file).
//! A trade's entry carries its new stock, holding and balance, and its
//! currency's line the rest (the cash and the account's trade count), so a
//! trade writes no line of redo record: see `store::shm::journal`.
#![forbid(unsafe_code)]

use std::sync::atomic::{fence, Ordering::*};

use crate::shm::layout::{Header, TapeEntry, Write, TAPE_LEN};

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
