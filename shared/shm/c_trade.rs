//! The door to the same-work C trade (`exchange-lab/bench/c/trade.c`),
//! the anchor `exchange-lab bench` measures the product's trade against:
//! the same checks and stores, written by hand in C, on a segment the
//! product made. Only the lab calls it; the C library that `build.rs`
//! compiles is linked only where this is called.
//!
//! The C structs mirror [`super::layout`] through `layout.h`, which the test
//! below writes from this build's offsets and fails on when stale; the C
//! asserts each offset against it at compile time.

use std::ffi::c_int;

use super::layout::{AccountSlot, MAX_CURRENCIES};
use super::{Mapping, Ready};

/// `struct shmx_market` in `trade.h`.
#[repr(C)]
struct Market {
    base: *mut std::ffi::c_void,
    capacity: u32,
    currencies: u32,
    caller: u32,
    privileged: u32,
}

/// `struct shmx_fill` in `trade.h`: a trade's price, total and balance
/// after; on a refusal, what was needed (`total`) and what there was
/// (`balance`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CFill {
    pub(crate) price: i64,
    pub(crate) total: i64,
    pub(crate) balance: i64,
}

/// One trade as the C takes it (for the unit test that holds the C to the
/// trade's outcomes, one order at a time).
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct COrder {
    pub(crate) account: u32,
    pub(crate) serial: u32,
    pub(crate) currency: u32,
    pub(crate) buy: bool,
    /// Hundredths.
    pub(crate) amount: i64,
}

/// Who trades, on which tables: checked at attach. The C trades only the
/// caller's own accounts (the bench's workers'): an owner's trade on
/// another user's account is the Rust's alone, so the C's `privileged` is
/// always 0 here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CTrader {
    pub(crate) capacity: u32,
    pub(crate) currencies: usize,
    pub(crate) caller: u32,
}

/// `struct shmx_work` in `trade.h`: a run of trades on one account, with
/// no Rust in its loop.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct CWork {
    pub(crate) account: u32,
    pub(crate) serial: u32,
    /// The alternating run's currency.
    pub(crate) currency: u32,
    /// 0: alternate a buy and a sell of `amount` of `currency`; 1: a
    /// random buy from `seed`, then its sell, as a stress worker does.
    pub(crate) pairs: i32,
    /// The alternating run's amount, in hundredths.
    pub(crate) amount: i64,
    pub(crate) seed: u64,
    pub(crate) trades: u64,
}

/// `struct shmx_tally` in `trade.h`: what a run did.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CTally {
    pub(crate) traded: u64,
    pub(crate) refused: u64,
    /// The last trade's fill, or the stopping outcome's.
    pub(crate) fill: CFill,
}

/// `enum shmx_outcome` in `trade.h`.
pub(crate) mod outcome {
    pub(crate) const TRADED: i32 = 0;
    pub(crate) const NOT_POSITIVE: i32 = 1;
    pub(crate) const OVERFLOW: i32 = 2;
    pub(crate) const NO_BALANCE: i32 = 3;
    pub(crate) const NO_STOCK: i32 = 4;
    pub(crate) const NO_HOLDING: i32 = 5;
    pub(crate) const NO_CASH: i32 = 6;
    pub(crate) const NOTHING_PAID: i32 = 7;
    pub(crate) const HALTED: i32 = 8;
    pub(crate) const ROUND_OVER: i32 = 9;
    pub(crate) const ACCOUNT_CLOSED: i32 = 10;
    pub(crate) const NOT_YOURS: i32 = 11;
    pub(crate) const NOT_READY: i32 = 12;
    pub(crate) const CORRUPTED: i32 = 13;
    pub(crate) const LOCK_FAILED: i32 = 14;
    pub(crate) const REPAIR_FAILED: i32 = 15;
}

extern "C" {
    #[cfg(test)]
    fn shmx_c_trade(
        market: *const Market,
        account: u32,
        serial: u32,
        currency: u32,
        buy: c_int,
        amount: i64,
        fill: *mut CFill,
    ) -> c_int;

    fn shmx_c_run(market: *const Market, work: *const CWork, tally: *mut CTally) -> c_int;
}

impl Mapping<Ready> {
    /// `trader` as the C takes it, or `None` when its tables do not fit
    /// this mapping: the C checks every index against `trader`'s tables,
    /// which are checked here against the mapping, so it stores nowhere
    /// else.
    fn c_market(&self, trader: CTrader) -> Option<Market> {
        let table: Option<&[AccountSlot]> = self.accounts(trader.capacity);
        if table.is_none() || trader.currencies > MAX_CURRENCIES {
            return None;
        }
        Some(Market {
            base: std::ptr::from_ref(self.header()).cast_mut().cast(),
            capacity: trader.capacity,
            currencies: trader.currencies as u32,
            caller: trader.caller,
            privileged: 0,
        })
    }

    /// One same-work C trade; the outcome is one of [`outcome`]'s.
    #[cfg(test)]
    pub(crate) fn c_trade(&self, trader: CTrader, order: COrder) -> (i32, CFill) {
        let mut fill = CFill::default();
        let Some(market) = self.c_market(trader) else {
            return (outcome::CORRUPTED, fill);
        };
        // SAFETY: `market.base` is this Ready mapping, whose mutex is
        // initialized (the type's invariants) and whose header and
        // `capacity` account slots lie inside it (`c_market` checked); the
        // C reads and writes only those, at indices it checks against
        // `capacity`, `currencies` (at most MAX_CURRENCIES) and the account
        // count, and only with atomic accesses or pthreads' own, as the
        // Rust does.
        let code = unsafe {
            shmx_c_trade(
                &market,
                order.account,
                order.serial,
                order.currency,
                c_int::from(order.buy),
                order.amount,
                &mut fill,
            )
        };
        (code, fill)
    }

    /// A run of same-work C trades, looped in C: [`outcome::TRADED`] when
    /// it ran to the end, else the outcome that stopped it.
    pub(crate) fn c_run(&self, trader: CTrader, work: CWork) -> (i32, CTally) {
        let mut tally = CTally::default();
        let Some(market) = self.c_market(trader) else {
            return (outcome::CORRUPTED, tally);
        };
        // SAFETY: as in `c_trade`: the run makes only `shmx_c_trade`'s
        // accesses, one trade at a time, and writes `tally`, a local.
        let code = unsafe { shmx_c_run(&market, &work, &mut tally) };
        (code, tally)
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::super::layout::{
        account, entry, flags, state, AccountSlot, CurrencySlot, Header, LockSlot, TapeEntry,
        HEADER_SIZE, MAX_CURRENCIES, TAPE_LEN,
    };
    use crate::names::{ACCOUNT_NAME_BYTES, CURRENCY_NAME_BYTES};

    const LAYOUT_H: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/exchange-lab/bench/c/layout.h");

    /// `layout.h` as this build's layout makes it.
    fn layout_h() -> String {
        let defines: Vec<(&str, usize)> = vec![
            ("HEADER_SIZE", HEADER_SIZE),
            ("MAX_CURRENCIES", MAX_CURRENCIES),
            ("TAPE_LEN", TAPE_LEN),
            ("CURRENCY_NAME_BYTES", CURRENCY_NAME_BYTES),
            ("ACCOUNT_NAME_BYTES", ACCOUNT_NAME_BYTES),
            ("SIZE_LOCK", size_of::<LockSlot>()),
            ("SIZE_REDO", size_of::<super::super::layout::RedoRecord>()),
            ("SIZE_CURRENCY", size_of::<CurrencySlot>()),
            ("SIZE_ENTRY", size_of::<TapeEntry>()),
            ("SIZE_ACCOUNT", size_of::<AccountSlot>()),
            ("OFF_HEADER_STATE", offset_of!(Header, state)),
            (
                "OFF_HEADER_ACCOUNT_COUNT",
                offset_of!(Header, account_count),
            ),
            ("OFF_HEADER_WATCHERS", offset_of!(Header, watchers)),
            ("OFF_HEADER_IDLE_WAKES", offset_of!(Header, idle_wakes)),
            ("OFF_HEADER_FLAGS", offset_of!(Header, flags)),
            ("OFF_HEADER_ROUND_END", offset_of!(Header, round_end)),
            ("OFF_HEADER_LOCK", offset_of!(Header, lock)),
            ("OFF_LOCK_CASH", offset_of!(LockSlot, cash)),
            ("OFF_LOCK_TRADE_SEQ", offset_of!(LockSlot, trade_seq)),
            ("OFF_LOCK_WRITE_SEQ", offset_of!(LockSlot, write_seq)),
            ("OFF_HEADER_REDO", offset_of!(Header, redo)),
            ("OFF_HEADER_CURRENCIES", offset_of!(Header, currencies)),
            ("OFF_CURRENCY_SELL", offset_of!(CurrencySlot, sell)),
            ("OFF_CURRENCY_BUY", offset_of!(CurrencySlot, buy)),
            ("OFF_CURRENCY_STOCK", offset_of!(CurrencySlot, stock)),
            (
                "OFF_CURRENCY_TRADE_CASH",
                offset_of!(CurrencySlot, trade_cash),
            ),
            (
                "OFF_CURRENCY_TRADE_COUNT",
                offset_of!(CurrencySlot, trade_count),
            ),
            ("OFF_HEADER_TAPE", offset_of!(Header, tape)),
            ("OFF_ENTRY_ACCOUNT", offset_of!(TapeEntry, account)),
            ("OFF_ENTRY_CURRENCY", offset_of!(TapeEntry, currency)),
            ("OFF_ENTRY_KIND", offset_of!(TapeEntry, kind)),
            ("OFF_ENTRY_SERIAL", offset_of!(TapeEntry, serial)),
            ("OFF_ENTRY_AMOUNT", offset_of!(TapeEntry, amount)),
            ("OFF_ENTRY_PRICE", offset_of!(TapeEntry, price)),
            ("OFF_ENTRY_TOTAL", offset_of!(TapeEntry, total)),
            ("OFF_ENTRY_STOCK", offset_of!(TapeEntry, stock)),
            ("OFF_ENTRY_HOLDING", offset_of!(TapeEntry, holding)),
            ("OFF_ENTRY_BALANCE", offset_of!(TapeEntry, balance)),
            ("OFF_ACCOUNT_BALANCE", offset_of!(AccountSlot, balance)),
            (
                "OFF_ACCOUNT_LAST_TRADE",
                offset_of!(AccountSlot, last_trade),
            ),
            ("OFF_ACCOUNT_TRADES", offset_of!(AccountSlot, trades)),
            ("OFF_ACCOUNT_STATUS", offset_of!(AccountSlot, status)),
            ("OFF_ACCOUNT_OWNER", offset_of!(AccountSlot, owner)),
            ("OFF_ACCOUNT_SERIAL", offset_of!(AccountSlot, serial)),
            ("OFF_ACCOUNT_HOLDINGS", offset_of!(AccountSlot, holdings)),
        ];
        let values: Vec<(&str, u64)> = vec![
            ("STATE_READY", u64::from(state::READY)),
            ("STATE_POISONED", u64::from(state::POISONED)),
            ("FLAG_HALTED", u64::from(flags::HALTED)),
            ("ACCOUNT_OPEN", u64::from(account::OPEN)),
            ("ENTRY_BUY", u64::from(entry::BUY)),
            ("ENTRY_SELL", u64::from(entry::SELL)),
            (
                "FORGET_WATCHERS_AFTER",
                u64::from(crate::store::shm::FORGET_WATCHERS_AFTER),
            ),
        ];
        let mut text = String::from(
            "/* Written by `cargo test --lib c_trade` from shared/shm/layout.rs\n \
             * (SHMX_UPDATE_LAYOUT_H=1 rewrites it); do not edit. */\n\
             #ifndef SHMX_LAYOUT_H\n#define SHMX_LAYOUT_H\n\n",
        );
        for (name, value) in defines {
            text += &format!("#define SHMX_{name} {value}\n");
        }
        for (name, value) in values {
            text += &format!("#define SHMX_{name} {value}u\n");
        }
        text += "\n#endif\n";
        text
    }

    #[test]
    fn the_c_layout_header_is_this_builds_layout() {
        let wanted = layout_h();
        if std::env::var_os("SHMX_UPDATE_LAYOUT_H").is_some() {
            std::fs::write(LAYOUT_H, &wanted).unwrap();
        }
        let checked_in = std::fs::read_to_string(LAYOUT_H).unwrap_or_default();
        assert!(
            checked_in == wanted,
            "exchange-lab/bench/c/layout.h is stale: the layout changed; run \
             `SHMX_UPDATE_LAYOUT_H=1 cargo test --lib c_trade` and commit it"
        );
    }
}
