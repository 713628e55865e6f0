//! The bytes of a segment, as `#[repr(C)]` structs made only of atomics.
//!
//! Other processes write this memory at any time, so no field is a plain
//! integer: a `&u64` to memory that another process stores to would be a
//! data race. Atomics make a shared `&Header` sound, and under the lock a
//! `Relaxed` load or store compiles to a plain `mov`. Each is wrapped in
//! [`Shared`], which loads for anyone and stores only with a [`Write`]:
//! so a read-only mapping's `&Header` cannot be stored through.
//!
//! # Layout
//!
//! ```text
//! offset 0      Header           (size_of::<Header>() bytes, 64-aligned)
//!   0           identity, sizes, read-mostly counters (128 bytes)
//!   128         LockSlot: the robust pthread mutex and
//!               the words every change writes          (64 bytes)
//!   192         RedoRecord: the change being applied   (320 bytes)
//!   512         CurrencySlot x 16                      (64 bytes each)
//!   1536        TapeEntry x 256: ring of last events   (64 bytes each)
//! HEADER_SIZE   AccountSlot x capacity                 (192 bytes each)
//! ```
//!
//! # What a trade writes
//!
//! With more than one process, every cache line a trade writes moves
//! between cores on every trade, so the layout keeps them few: the lock's
//! line (the mutex, and beside it the cash, `trade_seq` and `write_seq`,
//! which is also the watchers' futex word), one tape entry, which carries
//! the trade's redo values, the currency's line, which carries the rest of
//! them, and the trader's account (two lines, private to that trader). The
//! header's first two lines and the redo record are not written by a
//! trade. See BENCHMARKS.md, "What a trade writes".
//!
//! Every offset is asserted at compile time below; a change to any of them,
//! or to what a field means, must bump [`LAYOUT_VERSION`].
//!
//! Two fields are not plain atomics, so that code outside `shm` cannot
//! break what [`super::Mapping`] promises: the lock's mutex is private to
//! `shm`, and the [`StateWord`] can be set to `READY` only by publishing a
//! freshly created segment.

use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::mutex::RobustMutex;

/// A word of the segment. Anyone holding a `&` to it may load it: a plain
/// atomic load, which std allows on a read-only (`PROT_READ`) mapping. To
/// store to it, or change it in place, takes a [`Write`], which only a
/// writable mapping gives out: through the lock's guard, for a creator or
/// sole opener, and on the few documented paths that write without the
/// lock (see `Mapping::write_unlocked`). So a read-only attachment, whose
/// header is the same `&Header`, has no way to store, at compile time:
///
/// ```compile_fail
/// use std::sync::atomic::Ordering::Relaxed;
/// fn halt(header: &shm_exchange::testing::Header) {
///     header.flags.store(1, Relaxed); // no `Write`: refused
/// }
/// ```
///
/// while loading compiles:
///
/// ```
/// use std::sync::atomic::Ordering::Relaxed;
/// fn flags(header: &shm_exchange::testing::Header) -> u32 {
///     header.flags.load(Relaxed)
/// }
/// ```
#[repr(transparent)]
pub struct Shared<A>(A);

/// Permission to write the segment, for as long as `'a`: made only in
/// `shm`, from a lock guard, a mapping no one else has, or one of the
/// documented unlocked paths. Copy, so a writer can pass it down.
#[derive(Clone, Copy)]
pub struct Write<'a>(std::marker::PhantomData<&'a ()>);

impl Write<'_> {
    pub(super) fn new() -> Self {
        Write(std::marker::PhantomData)
    }
}

macro_rules! shared_words {
    ($($atomic:ident: $int:ty),* $(,)?) => {$(
        impl Shared<$atomic> {
            /// A plain atomic load: sound on a read-only mapping.
            #[inline(always)]
            pub fn load(&self, order: Ordering) -> $int {
                self.0.load(order)
            }

            /// A store, with the permission to write.
            #[inline(always)]
            pub fn store(&self, value: $int, order: Ordering, _write: Write<'_>) {
                self.0.store(value, order)
            }

            /// `fetch_add`, with the permission to write.
            #[inline(always)]
            pub fn fetch_add(&self, value: $int, order: Ordering, _write: Write<'_>) -> $int {
                self.0.fetch_add(value, order)
            }

            /// `fetch_update`, with the permission to write.
            #[inline(always)]
            pub fn fetch_update(
                &self,
                set: Ordering,
                fetch: Ordering,
                update: impl FnMut($int) -> Option<$int>,
                _write: Write<'_>,
            ) -> Result<$int, $int> {
                self.0.fetch_update(set, fetch, update)
            }
        }
    )*};
}

shared_words!(
    AtomicU64: u64,
    AtomicI64: i64,
    AtomicU32: u32,
    AtomicU16: u16,
    AtomicU8: u8,
);

impl Shared<AtomicU64> {
    /// The word's address, for a futex call (in `shm` only).
    pub(super) fn as_ptr(&self) -> *mut u64 {
        self.0.as_ptr()
    }
}

/// "SHMEXCH" and a NUL, read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMEXCH\0");
/// Bumped whenever any struct in this file changes shape or meaning.
/// 2: the redo record carries the kind of change it holds.
/// 4: the write sequence counter, instructor changes in the redo record,
/// tape entry kinds, and account owners, serials and trade counts.
/// 5: a transfer kind of change, and a count of unlocked demo trades.
/// 6: the cash, `trade_seq` and `write_seq` on the lock's cache line,
/// `write_seq`'s oddness as the redo record's "pending" (no state word),
/// watchers sleeping on `write_seq` (no `change_seq`), one cache line per
/// currency.
/// 7: a trade's redo in its tape entry and its currency's line, not in the
/// redo record; `write_seq` ≡ 3 (mod 4) while a trade is pending, ≡ 1 while
/// the record's change is; tape entries with narrower indices.
/// 8: the timed round's end, on the header's second line; the lock's
/// holder's caller uid in the mutex's `__spins` and `__elision` bytes,
/// which glibc leaves alone in a robust mutex (see `shm::mutex`).
pub const LAYOUT_VERSION: u32 = 8;
/// Currencies a segment can hold.
pub const MAX_CURRENCIES: usize = 16;
use crate::names::{ACCOUNT_NAME_BYTES, CURRENCY_NAME_BYTES};
/// Trades the tape remembers.
pub const TAPE_LEN: usize = 256;
/// Largest account table a config may ask for.
pub const MAX_ACCOUNTS: u32 = 65_536;

/// What the ABI of this build looks like, as one hash: the C library
/// (glibc and musl lay `pthread_mutex_t` out differently, at the same
/// size), the mutex's size and alignment, the pointer width, the byte
/// order, the size and alignment of every shared struct, and every offset
/// asserted below. A segment made by a build with another fingerprint is
/// refused rather than misread.
pub const ABI_FINGERPRINT: u64 = abi_fingerprint(C_LIBRARY);

/// Which C library this build links: part of the fingerprint.
const C_LIBRARY: u64 = if cfg!(target_env = "gnu") {
    1
} else if cfg!(target_env = "musl") {
    2
} else {
    3
};

/// The fingerprint this layout would have when built against `c_library`.
const fn abi_fingerprint(c_library: u64) -> u64 {
    let shape = [
        c_library,
        size_of::<libc::pthread_mutex_t>() as u64,
        align_of::<libc::pthread_mutex_t>() as u64,
        usize::BITS as u64,
        if cfg!(target_endian = "little") { 1 } else { 2 },
        size_of::<Header>() as u64,
        align_of::<Header>() as u64,
        size_of::<AccountSlot>() as u64,
        align_of::<AccountSlot>() as u64,
        size_of::<TapeEntry>() as u64,
        size_of::<CurrencySlot>() as u64,
        size_of::<RedoRecord>() as u64,
    ];
    fnv1a(fnv1a(FNV_OFFSET_BASIS, &shape), &ASSERTED_OFFSETS)
}

/// Every field offset the layout pins: each is asserted at compile time
/// (below) and hashed into the fingerprint, so the two cannot drift apart.
/// `(where the field is, where it must be)`.
const PINNED_OFFSETS: [(usize, usize); 35] = [
    (offset_of!(LockSlot, cash), 40),
    (offset_of!(LockSlot, trade_seq), 48),
    (offset_of!(LockSlot, write_seq), 56),
    (offset_of!(Header, magic), 0),
    (offset_of!(Header, state), 12),
    (offset_of!(Header, total_size), 24),
    (offset_of!(Header, starting_balance), 56),
    (offset_of!(Header, tape_start), 64),
    (offset_of!(Header, watchers), 72),
    (offset_of!(Header, owner_uid), 80),
    (offset_of!(Header, flags), 84),
    (offset_of!(Header, unlocked_trades), 88),
    (offset_of!(Header, account_serial), 92),
    (offset_of!(Header, balances_handed_out), 96),
    (offset_of!(Header, round_end), 104),
    (offset_of!(Header, lock), 128),
    (offset_of!(Header, redo), 192),
    (offset_of!(RedoRecord, kind), 0),
    (offset_of!(RedoRecord, sell), 40),
    (offset_of!(RedoRecord, flags), 72),
    (offset_of!(RedoRecord, name), 128),
    (offset_of!(RedoRecord, stocks), 192),
    (offset_of!(Header, currencies), 512),
    (offset_of!(CurrencySlot, stock), 32),
    (offset_of!(CurrencySlot, trade_cash), 48),
    (offset_of!(CurrencySlot, trade_count), 56),
    (offset_of!(Header, tape), 1536),
    (offset_of!(TapeEntry, account), 8),
    (offset_of!(TapeEntry, kind), 11),
    (offset_of!(TapeEntry, serial), 12),
    (offset_of!(TapeEntry, stock), 40),
    (offset_of!(TapeEntry, balance), 56),
    (offset_of!(AccountSlot, balance), 32),
    (offset_of!(AccountSlot, status), 52),
    (offset_of!(AccountSlot, holdings), 64),
];

/// The pinned offsets, as the fingerprint hashes them.
const ASSERTED_OFFSETS: [u64; PINNED_OFFSETS.len()] = {
    let mut offsets = [0; PINNED_OFFSETS.len()];
    let mut index = 0;
    while index < PINNED_OFFSETS.len() {
        offsets[index] = PINNED_OFFSETS[index].0 as u64;
        index += 1;
    }
    offsets
};

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over the little-endian bytes of `values`, from `hash`: small,
/// and computable in a `const`.
const fn fnv1a(mut hash: u64, values: &[u64]) -> u64 {
    let mut index = 0;
    while index < values.len() {
        let bytes = values[index].to_le_bytes();
        let mut byte = 0;
        while byte < bytes.len() {
            hash ^= bytes[byte] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            byte += 1;
        }
        index += 1;
    }
    hash
}

/// Values of [`Header::state`].
pub mod state {
    /// Zeroed memory: `exchange-init` has not finished.
    pub const INITIALIZING: u32 = 0;
    /// Seeded and open for trading; published with `Release`.
    pub const READY: u32 = 0x5245_4459;
    /// Removed or replaced by `exchange-init`: traders must stop.
    pub const RETIRED: u32 = 0x5245_5449;
    /// A dead trader's change could not be repaired (its redo record
    /// failed a check). The lock stays usable, so `exchange-init` can
    /// retire and replace the exchange, but nobody trades on it.
    pub const POISONED: u32 = 0x504f_4953;
}

/// The exchange's life-cycle state, one of [`state`]'s values.
///
/// Any code may read it; it is written only through the methods below, and
/// only [`super::Mapping`]'s `publish` may make it `READY`: a segment is
/// `READY` only after its lock was initialized.
#[repr(transparent)]
pub struct StateWord(Shared<AtomicU32>);

impl StateWord {
    /// The state, with `Acquire` semantics: a `READY` seen here
    /// happens-after the whole initialization. A `Relaxed` load and a
    /// fence, because only plain loads are sound on a read-only mapping.
    pub fn load(&self) -> u32 {
        let state = self.0.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        state
    }

    /// Marks the exchange removed or replaced: traders must stop.
    pub(crate) fn retire(&self, write: Write<'_>) {
        self.0.store(state::RETIRED, Ordering::Release, write);
    }

    /// Marks the exchange unusable after a failed repair.
    pub(crate) fn poison(&self, write: Write<'_>) {
        self.0.store(state::POISONED, Ordering::Release, write);
    }

    pub(super) fn publish_ready(&self, write: Write<'_>) {
        self.0.store(state::READY, Ordering::Release, write);
    }
}

/// Values of [`RedoRecord::kind`]; what each one's fields mean is in
/// `store::shm::journal`. (1 was a trade's, whose redo is in its tape entry
/// since layout 7.)
pub mod kind {
    /// An account opened.
    pub const OPEN: u32 = 2;
    /// A currency's quote set by the owner.
    pub const PRICE: u32 = 3;
    /// Trading halted or resumed: the new flags.
    pub const FLAGS: u32 = 4;
    /// The market reset to its initial values.
    pub const RESET: u32 = 5;
    /// An account closed.
    pub const CLOSE: u32 = 6;
    /// A transfer from the exchange's cash to an account's balance: the
    /// account, its new balance and the new cash.
    pub const TRANSFER: u32 = 7;
}

/// Values of [`TapeEntry::kind`]: what happened at that sequence number.
pub mod entry {
    /// A trader bought from the exchange.
    pub const BUY: u8 = 1;
    /// A trader sold to the exchange.
    pub const SELL: u8 = 2;
    /// The owner set a quote: `price` is the new sell, `total` the new buy
    /// (both in ten-thousandths).
    pub const PRICE: u8 = 3;
    /// The owner halted trading.
    pub const HALT: u8 = 4;
    /// The owner resumed trading.
    pub const RESUME: u8 = 5;
    /// The owner reset the market; no older entry is shown after it.
    pub const RESET: u8 = 6;
    /// The owner closed an account: `total` is the balance it gave back.
    pub const CLOSE: u8 = 7;
    /// The ticker moved quotes, each by its own `PRICE` change of the
    /// journal: `amount` is how many. (A reader that does not know this
    /// kind skips the entry, so it needs no new layout version.)
    pub const TICK: u8 = 8;
}

/// Values of [`Header::flags`].
pub mod flags {
    /// Trading is stopped by the owner; reads go on.
    pub const HALTED: u32 = 1;
    /// Class mode: account names are bound to the login of whoever opens
    /// them (the owner and root excepted).
    pub const CLASS_MODE: u32 = 1 << 1;
}

/// Values of [`AccountSlot::status`].
pub mod account {
    /// Never used: slots from `account_count` on.
    pub const FREE: u32 = 0;
    /// An account in use.
    pub const OPEN: u32 = 1;
    /// Closed by the owner: zero balance and holdings, its name and serial
    /// kept for the tape until the slot is reused.
    pub const CLOSED: u32 = 2;
}

/// The segment's first bytes: identity, sizes, the lock, the redo record,
/// the currencies and the trade tape.
#[repr(C)]
pub struct Header {
    pub magic: Shared<AtomicU64>,
    pub layout_version: Shared<AtomicU32>,
    pub state: StateWord,
    pub abi: Shared<AtomicU64>,
    /// The whole segment's size in bytes; must equal the real size.
    pub total_size: Shared<AtomicU64>,
    pub account_capacity: Shared<AtomicU32>,
    pub currency_count: Shared<AtomicU32>,
    /// Slots ever used; slots `0..account_count` are open or closed (see
    /// [`AccountSlot::status`]), the rest were never used.
    pub account_count: Shared<AtomicU32>,
    _pad: Shared<AtomicU32>,
    pub initial_cash: Shared<AtomicI64>,
    pub starting_balance: Shared<AtomicI64>,
    // The second line: read by every trade, written only by the owner's
    // commands, openings, the race demonstration and watchers.
    /// The first sequence number the tape shows: the last reset's entry.
    pub tape_start: Shared<AtomicU64>,
    /// Processes waiting on `write_seq`, so traders wake them only then.
    /// A hint, not a count: see `Exchange::wake_watchers`.
    pub watchers: Shared<AtomicU32>,
    /// Wake-ups in a row that found nobody asleep: how a watcher that
    /// died without deregistering is forgotten.
    pub idle_wakes: Shared<AtomicU32>,
    /// The uid that created the exchange: its owner, who alone (with root)
    /// may run the instructor's commands, remove or replace it. Trusted
    /// only while it matches the operating system's owner of the object.
    pub owner_uid: Shared<AtomicU32>,
    /// How the exchange is run: bit 0 HALTED (trading stopped by the
    /// owner), bit 1 CLASS_MODE (account names bound to logins); see
    /// [`flags`].
    pub flags: Shared<AtomicU32>,
    /// Trades made by the race demonstration (`exchange-lab stress
    /// --unlocked`), which bypass the lock, the journal and `trade_seq`:
    /// counted here so `--status` and the board show them. Saturates, never wraps.
    pub unlocked_trades: Shared<AtomicU32>,
    /// The serial of the last account opened: every opening gets a new
    /// one, so a tape entry or a session can tell a reused slot apart.
    pub account_serial: Shared<AtomicU32>,
    /// Starting balances handed out since creation or the last reset:
    /// what the audit adds to the initial cash. Closing an account does
    /// not lower it, because its balance goes to the cash.
    pub balances_handed_out: Shared<AtomicU32>,
    _round_pad: Shared<AtomicU32>,
    /// The Unix time in milliseconds at which the timed round ends, after which
    /// every trade is refused (`trader round`); 0 when no round is set.
    /// Read by every trade beside the halt flag, written under the lock by
    /// the owner only.
    pub round_end: Shared<AtomicU64>,
    pub lock: LockSlot,
    pub redo: RedoRecord,
    pub currencies: [CurrencySlot; MAX_CURRENCIES],
    pub tape: [TapeEntry; TAPE_LEN],
}

/// The robust process-shared mutex, and in the rest of its cache line the
/// words every change writes, so that a trade drags one line fewer from
/// core to core (a `pthread_mutex_t` is 40 bytes on 64-bit glibc and musl,
/// 24 on 32-bit). Only [`super::Mapping`] reaches the mutex.
#[repr(C, align(64))]
pub struct LockSlot {
    pub(super) mutex: RobustMutex,
    /// The exchange's cash reserve.
    pub cash: Shared<AtomicI64>,
    /// Sequence number of the last tape entry (a trade or an instructor's
    /// change); the tape's write position.
    pub trade_seq: Shared<AtomicU64>,
    /// The readers' sequence counter and the journal's "pending" flag: odd
    /// from a change's publication until it is whole, even between changes
    /// (see `store::shm::journal` and `store::shm::snapshot`). Odd ≡ 3 (mod 4): a
    /// trade is pending, its redo in its tape entry and its currency's
    /// line; ≡ 1: the redo record holds the pending change.
    /// Its low 32 bits are the futex word watchers sleep on (see
    /// `store::shm::watchers`): it moves with every change, so no other word
    /// has to.
    pub write_seq: Shared<AtomicU64>,
}

/// A change's complete outcome, written before any of it is applied, for
/// every change but a trade (whose redo is in its tape entry and its
/// currency's line, which it writes anyway); see `store::shm::journal` for the
/// protocol and what each kind records.
///
/// The values are absolute (new stock, not "minus 5"), so applying the
/// record twice is the same as applying it once: a process that finds the
/// previous lock owner dead with the record published (`write_seq` ≡ 1
/// mod 4) just applies it again, and a reader can lay it over a copy taken
/// half-way through.
#[repr(C, align(64))]
pub struct RedoRecord {
    /// Which change: one of the values in [`kind`].
    pub kind: Shared<AtomicU32>,
    pub account: Shared<AtomicU32>,
    pub currency: Shared<AtomicU32>,
    /// An opened account's serial.
    pub serial: Shared<AtomicU32>,
    /// The change's tape sequence number; becomes `trade_seq`.
    pub seq: Shared<AtomicU64>,
    pub cash: Shared<AtomicI64>,
    pub balance: Shared<AtomicI64>,
    /// Ten-thousandths: a new quote.
    pub sell: Shared<AtomicI64>,
    pub buy: Shared<AtomicI64>,
    /// An opened account's owner, and the header's new `account_count`,
    /// `account_serial`, `balances_handed_out`, `flags`.
    pub owner: Shared<AtomicU32>,
    pub account_count: Shared<AtomicU32>,
    pub account_serial: Shared<AtomicU32>,
    pub handed_out: Shared<AtomicU32>,
    pub flags: Shared<AtomicU32>,
    _reserved: [Shared<AtomicU32>; 13],
    /// An opened account's name, NUL-padded.
    pub name: [Shared<AtomicU8>; ACCOUNT_NAME_BYTES],
    _reserved2: [Shared<AtomicU64>; 4],
    /// A closed account's currencies back in stock: every currency's new
    /// stock.
    pub stocks: [Shared<AtomicI64>; MAX_CURRENCIES],
}

/// One currency: its name, quote and the exchange's stock, on a cache line
/// of its own, so that trades in two currencies never write one line.
#[repr(C, align(64))]
pub struct CurrencySlot {
    pub name: [Shared<AtomicU8>; CURRENCY_NAME_BYTES],
    /// Ten-thousandths: what the exchange sells one unit for.
    pub sell: Shared<AtomicI64>,
    /// Ten-thousandths: what the exchange pays for one unit.
    pub buy: Shared<AtomicI64>,
    /// Hundredths of a unit held by the exchange.
    pub stock: Shared<AtomicI64>,
    pub initial_stock: Shared<AtomicI64>,
    /// The part of the last trade in this currency's redo that its tape
    /// entry has no room for: the exchange's cash afterwards, and the
    /// account's trade count afterwards. Read only while that trade is
    /// pending (see `store::shm::journal`).
    pub trade_cash: Shared<AtomicI64>,
    pub trade_count: Shared<AtomicU32>,
    _reserved: Shared<AtomicU32>,
}

/// One event on the tape (a trade or an instructor's change), on a cache
/// line of its own, so a trade writes one line of tape. A trade's entry is
/// also most of its redo: the new stock, holding and balance (the rest is
/// on its currency's line; see `store::shm::journal`).
///
/// The writer stores `seq = 0`, the fields, then the real `seq`; a reader
/// that finds the same `seq` before and after copying the fields has a
/// whole entry (see `store::shm::snapshot`).
#[repr(C, align(64))]
pub struct TapeEntry {
    /// 1 for the first entry; 0 marks an empty slot or one being written.
    pub seq: Shared<AtomicU64>,
    /// An account's index: [`MAX_ACCOUNTS`] slots fit in 16 bits.
    pub account: Shared<AtomicU16>,
    /// A currency's index: [`MAX_CURRENCIES`] fit in 8 bits.
    pub currency: Shared<AtomicU8>,
    /// What happened: one of the values in [`entry`].
    pub kind: Shared<AtomicU8>,
    /// The account's serial, so an entry never names a later account
    /// opened in the same slot.
    pub serial: Shared<AtomicU32>,
    pub amount: Shared<AtomicI64>,
    pub price: Shared<AtomicI64>,
    pub total: Shared<AtomicI64>,
    /// A trade's redo: the currency's stock, the account's holding of it
    /// and its balance, afterwards. 0 in other entries.
    pub stock: Shared<AtomicI64>,
    pub holding: Shared<AtomicI64>,
    pub balance: Shared<AtomicI64>,
}

/// One trader's account.
///
/// # Layout
///
/// 192 bytes, three cache lines; a trade writes the first (balance, trade
/// count, last trade) and the one holding its currency.
#[repr(C)]
pub struct AccountSlot {
    pub name: [Shared<AtomicU8>; ACCOUNT_NAME_BYTES],
    pub balance: Shared<AtomicI64>,
    /// Sequence number of the account's last trade, 0 if none.
    pub last_trade: Shared<AtomicU64>,
    /// Trades the account made since it was opened or the market reset.
    pub trades: Shared<AtomicU32>,
    /// One of the values in [`account`].
    pub status: Shared<AtomicU32>,
    /// The uid that opened the account: only it (and the exchange's owner
    /// and root) may trade on it.
    pub owner: Shared<AtomicU32>,
    /// Which opening of this slot: see [`Header::account_serial`].
    pub serial: Shared<AtomicU32>,
    pub holdings: [Shared<AtomicI64>; MAX_CURRENCIES],
}

/// Bytes before the account table.
pub const HEADER_SIZE: usize = size_of::<Header>();

const _: () = {
    let mut index = 0;
    while index < PINNED_OFFSETS.len() {
        assert!(PINNED_OFFSETS[index].0 == PINNED_OFFSETS[index].1);
        index += 1;
    }
    // The hot words must fit beside the mutex on its line.
    assert!(size_of::<libc::pthread_mutex_t>() <= 40);
    assert!(size_of::<LockSlot>() == 64);
    assert!(size_of::<RedoRecord>() == 320);
    // A tape entry's indices are narrow.
    assert!(MAX_ACCOUNTS - 1 <= u16::MAX as u32);
    assert!(MAX_CURRENCIES - 1 <= u8::MAX as usize);
    assert!(size_of::<StateWord>() == 4);
    assert!(size_of::<CurrencySlot>() == 64);
    assert!(size_of::<TapeEntry>() == 64);
    assert!(size_of::<Header>() == 17_920);
    assert!(align_of::<Header>() == 64);
    assert!(size_of::<AccountSlot>() == 192);
    assert!(align_of::<AccountSlot>() == 8);
};

/// Total segment bytes for `capacity` accounts.
pub const fn segment_size(capacity: u32) -> usize {
    HEADER_SIZE + capacity as usize * size_of::<AccountSlot>()
}

/// Stores `name` NUL-padded. The caller has checked it fits.
pub fn store_name(slot: &[Shared<AtomicU8>], name: &str, write: Write<'_>) {
    for (index, byte) in slot.iter().enumerate() {
        byte.store(
            name.as_bytes().get(index).copied().unwrap_or(0),
            Ordering::Relaxed,
            write,
        );
    }
}

/// Reads a NUL-padded name; `None` if it is empty, unterminated or holds
/// a byte that no valid name has.
pub fn load_name(slot: &[Shared<AtomicU8>], valid_byte: fn(u8) -> bool) -> Option<String> {
    let bytes: Vec<u8> = slot.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    let len = bytes.iter().position(|&b| b == 0)?;
    let name = &bytes[..len];
    if name.is_empty()
        || !name.iter().all(|&b| valid_byte(b))
        || bytes[len..].iter().any(|&b| b != 0)
    {
        return None;
    }
    String::from_utf8(name.to_vec()).ok()
}

/// Reads a NUL-padded name and compares it with `name`, without allocating.
pub fn name_equals(slot: &[Shared<AtomicU8>], name: &str, ignore_case: bool) -> bool {
    let bytes = name.as_bytes();
    if bytes.len() >= slot.len() {
        return false;
    }
    slot.iter().enumerate().all(|(index, stored)| {
        let stored = stored.load(Ordering::Relaxed);
        let wanted = bytes.get(index).copied().unwrap_or(0);
        if ignore_case {
            stored.eq_ignore_ascii_case(&wanted)
        } else {
            stored == wanted
        }
    })
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    #[test]
    fn the_fingerprint_tells_c_libraries_and_offsets_apart() {
        assert_ne!(abi_fingerprint(1), abi_fingerprint(2), "glibc and musl");
        assert_eq!(ABI_FINGERPRINT, abi_fingerprint(C_LIBRARY));
        let mut moved = ASSERTED_OFFSETS;
        moved[3] += 8;
        assert_ne!(
            fnv1a(FNV_OFFSET_BASIS, &moved),
            fnv1a(FNV_OFFSET_BASIS, &ASSERTED_OFFSETS),
            "a moved field"
        );
    }
}
