//! The benchmarks' "C loop": the least a trade can do under the same robust
//! mutex, in a POSIX segment of its own, so `exchange-lab bench` can say how
//! far the real trade is from it, in one process and across processes.
//!
//! A trade here locks, moves units and money between one of four currencies
//! and one account, counts itself, notes the last trade on its currency's
//! line, and unlocks: eight stores on three cache lines (the lock's line,
//! which also holds the cash and the trade count; the currency's; the
//! account's). No checks, no redo record, no tape, no wake-up: what a
//! hand-written C loop over a `pthread_mutex_t` does.
//!
//! It is held to the exchange's own rules where they are cheap: `open`
//! refuses a segment made by a build with another ABI fingerprint (another
//! C library lays the mutex out differently), the lock refuses a mutex
//! whose bytes are not what `pthread_mutex_init` wrote, and mapping it
//! registers the mapping for the SIGBUS handler (see `sigbus`), so a worker
//! whose binary installed the handler exits with one line and status 2 if
//! its segment is shrunk under it.
//!
//! # Invariants
//!
//! The mutex is initialized by [`BaselineSegment::create`], which made the
//! object with `O_EXCL` and has not yet stored [`MAGIC`], so nobody can be
//! using it; it is locked only through a handle that saw [`MAGIC`] (stored
//! with `Release` after the initialization, loaded with `Acquire`). No safe
//! call initializes it again.

use std::fs::File;
use std::io;
use std::mem::{offset_of, size_of};
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::*};

use nix::fcntl::OFlag;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::Mode;

use super::layout::ABI_FINGERPRINT;
use super::mutex::RobustMutex;
use super::sigbus::Registered;

/// Currencies a baseline trade chooses from, as in the C loop.
pub const BASELINE_CURRENCIES: usize = 4;
/// Accounts (one per worker process) a baseline segment holds.
pub const BASELINE_ACCOUNTS: usize = 64;

/// Stored last by `create`: the segment is initialized.
const MAGIC: u64 = u64::from_le_bytes(*b"SHMXBASE");

#[repr(C, align(64))]
struct IdentityLine {
    magic: AtomicU64,
    /// The creator's [`ABI_FINGERPRINT`].
    abi: AtomicU64,
}

/// The mutex and the market's two hot words, on one line.
#[repr(C, align(64))]
struct LockLine {
    mutex: RobustMutex,
    cash: AtomicI64,
    trades: AtomicU64,
}

#[repr(C, align(64))]
struct CurrencyLine {
    stock: AtomicI64,
    price: AtomicI64,
    last_seq: AtomicU64,
    last_amount: AtomicI64,
    last_total: AtomicI64,
}

#[repr(C, align(64))]
struct AccountLine {
    balance: AtomicI64,
    holdings: [AtomicI64; BASELINE_CURRENCIES],
}

#[repr(C)]
struct Block {
    identity: IdentityLine,
    lock: LockLine,
    currencies: [CurrencyLine; BASELINE_CURRENCIES],
    accounts: [AccountLine; BASELINE_ACCOUNTS],
}

const _: () = {
    assert!(size_of::<libc::pthread_mutex_t>() <= 48);
    assert!(offset_of!(Block, lock) == 64);
    assert!(size_of::<LockLine>() == 64);
    assert!(offset_of!(LockLine, trades) + 8 <= 64);
    assert!(size_of::<CurrencyLine>() == 64);
    assert!(size_of::<AccountLine>() == 64);
    assert!(offset_of!(Block, currencies) == 128);
    assert!(offset_of!(Block, accounts) == 128 + 64 * BASELINE_CURRENCIES);
    assert!(size_of::<Block>() == 64 * (2 + BASELINE_CURRENCIES + BASELINE_ACCOUNTS));
};

/// A baseline segment mapped into this process; see the module docs.
/// The handle that created it removes its name when dropped.
pub struct BaselineSegment {
    block: NonNull<Block>,
    /// The mapping's range, registered for the SIGBUS handler.
    registered: Registered,
    name: String,
    created: bool,
}

// SAFETY: the mapping is shared memory made only of atomics and a
// process-shared mutex, reachable from any thread.
unsafe impl Send for BaselineSegment {}
// SAFETY: as above; `&self` only reaches atomics and the mutex's lock.
unsafe impl Sync for BaselineSegment {}

impl BaselineSegment {
    /// Creates the POSIX object `name` (such as `/shmx-base-1`), which must
    /// not exist, with every account rich and every currency in stock.
    pub fn create(name: &str) -> io::Result<BaselineSegment> {
        let fd = mman::shm_open(
            name,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )?;
        let file = File::from(fd);
        let mapped = file
            .set_len(size_of::<Block>() as u64)
            .and_then(|()| map(&file));
        let segment = match mapped {
            Ok(block) => BaselineSegment {
                block,
                registered: register(block),
                name: name.to_owned(),
                created: true,
            },
            Err(error) => {
                let _ = mman::shm_unlink(name);
                return Err(error);
            }
        };
        let block = segment.block();
        // SAFETY: this process created the object with O_EXCL and MAGIC is
        // not stored yet, so no handle anywhere may lock the mutex (the
        // module's invariants), and this is its only initialization.
        unsafe { block.lock.mutex.init() }?;
        block.lock.cash.store(1 << 50, Relaxed);
        for currency in &block.currencies {
            currency.stock.store(1 << 50, Relaxed);
            currency.price.store(100, Relaxed);
        }
        for account in &block.accounts {
            account.balance.store(1 << 50, Relaxed);
        }
        block.identity.abi.store(ABI_FINGERPRINT, Relaxed);
        block.identity.magic.store(MAGIC, Release);
        Ok(segment)
    }

    /// Opens a segment that [`BaselineSegment::create`] finished.
    pub fn open(name: &str) -> io::Result<BaselineSegment> {
        let fd = mman::shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
        let file = File::from(fd);
        let size = file.metadata()?.len();
        if size < size_of::<Block>() as u64 {
            return Err(io::Error::other(format!(
                "{name} has {size} bytes, not a baseline segment"
            )));
        }
        let block = map(&file)?;
        let segment = BaselineSegment {
            block,
            registered: register(block),
            name: name.to_owned(),
            created: false,
        };
        let identity = &segment.block().identity;
        if identity.magic.load(Acquire) != MAGIC {
            return Err(io::Error::other(format!(
                "{name} is not an initialized baseline segment"
            )));
        }
        if identity.abi.load(Relaxed) != ABI_FINGERPRINT {
            return Err(io::Error::other(format!(
                "{name} was made by a build with another ABI; rerun the benchmark with one build"
            )));
        }
        Ok(segment)
    }

    /// One C-loop trade: `account` buys (or sells) `amount` of `currency`.
    /// Returns the number of trades made so far on the segment.
    #[inline]
    pub fn trade(
        &self,
        account: usize,
        currency: usize,
        buy: bool,
        amount: i64,
    ) -> io::Result<u64> {
        let block = self.block();
        let (Some(line), Some(holder)) =
            (block.currencies.get(currency), block.accounts.get(account))
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no such baseline account or currency",
            ));
        };
        // Only a handle that saw MAGIC exists (create and open check it),
        // so the mutex is initialized.
        let mut guard = block
            .lock
            .mutex
            .lock()
            .map_err(|error| io::Error::other(error.to_string()))?;
        // A worker killed mid-trade leaves figures nobody audits.
        guard.mark_consistent()?;
        let units = if buy { amount } else { amount.wrapping_neg() };
        let total = units.wrapping_mul(line.price.load(Relaxed));
        let holding = &holder.holdings[currency];
        line.stock
            .store(line.stock.load(Relaxed).wrapping_sub(units), Relaxed);
        holding.store(holding.load(Relaxed).wrapping_add(units), Relaxed);
        let balance = &holder.balance;
        balance.store(balance.load(Relaxed).wrapping_sub(total), Relaxed);
        let cash = &block.lock.cash;
        cash.store(cash.load(Relaxed).wrapping_add(total), Relaxed);
        let seq = block.lock.trades.load(Relaxed).wrapping_add(1);
        block.lock.trades.store(seq, Relaxed);
        line.last_seq.store(seq, Relaxed);
        line.last_amount.store(amount, Relaxed);
        line.last_total.store(total, Relaxed);
        Ok(seq)
    }

    /// The units of every currency, held or in stock, and the money, in
    /// accounts or cash: unchanged by any number of completed trades.
    pub fn totals(&self) -> (i64, i64) {
        let block = self.block();
        let units = block
            .currencies
            .iter()
            .enumerate()
            .fold(0i64, |sum, (index, line)| {
                block.accounts.iter().fold(
                    sum.wrapping_add(line.stock.load(Relaxed)),
                    |sum, account| sum.wrapping_add(account.holdings[index].load(Relaxed)),
                )
            });
        let money = block
            .accounts
            .iter()
            .fold(block.lock.cash.load(Relaxed), |sum, account| {
                sum.wrapping_add(account.balance.load(Relaxed))
            });
        (units, money)
    }

    fn block(&self) -> &Block {
        // SAFETY: `block` is a live mapping of size_of::<Block>() bytes
        // (checked before mapping), page-aligned, made only of atomics and
        // the mutex, valid for any bytes and for sharing with writers in
        // other processes; it is unmapped only in Drop, after every borrow.
        unsafe { self.block.as_ref() }
    }
}

impl Drop for BaselineSegment {
    fn drop(&mut self) {
        self.registered.release();
        // SAFETY: `block` came from `map`, which mapped exactly a Block;
        // no borrow of it outlives `&self`, which ends here.
        let _ = unsafe { mman::munmap(self.block.cast(), size_of::<Block>()) };
        if self.created {
            let _ = mman::shm_unlink(self.name.as_str());
        }
    }
}

/// Registers a mapped Block for the SIGBUS handler: from now on a page of
/// it can vanish under us.
fn register(block: NonNull<Block>) -> Registered {
    Registered::new(block.cast(), size_of::<Block>())
}

/// Maps a Block's worth of `file`, which the caller checked is long enough.
fn map(file: &File) -> io::Result<NonNull<Block>> {
    let length = NonZeroUsize::new(size_of::<Block>()).ok_or(io::ErrorKind::InvalidInput)?;
    // SAFETY: a fresh shared mapping at an address the kernel picks; it
    // aliases no Rust object and is unmapped only in BaselineSegment's Drop.
    let base = unsafe {
        mman::mmap(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            file,
            0,
        )
    }?;
    Ok(base.cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_conserve_units_and_money_across_handles() {
        let name = format!("/shmx-baseline-test-{}", std::process::id());
        let created = BaselineSegment::create(&name).unwrap();
        assert!(BaselineSegment::create(&name).is_err(), "O_EXCL");
        let opened = BaselineSegment::open(&name).unwrap();
        let before = created.totals();
        for index in 0..1000 {
            let handle = if index % 2 == 0 { &created } else { &opened };
            handle
                .trade(index % 3, index % BASELINE_CURRENCIES, index % 5 != 0, 7)
                .unwrap();
        }
        assert_eq!(opened.totals(), before);
        assert_eq!(created.trade(0, 0, true, 1).unwrap(), 1001);
        assert!(opened.trade(BASELINE_ACCOUNTS, 0, true, 1).is_err());
        assert!(opened.trade(0, BASELINE_CURRENCIES, true, 1).is_err());
        drop(opened);
        drop(created);
        assert!(
            BaselineSegment::open(&name).is_err(),
            "removed by its creator"
        );
    }

    #[test]
    fn another_builds_segment_is_refused() {
        let name = format!("/shmx-baseline-abi-{}", std::process::id());
        let created = BaselineSegment::create(&name).unwrap();
        created
            .block()
            .identity
            .abi
            .store(ABI_FINGERPRINT ^ 1, Relaxed);
        let error = BaselineSegment::open(&name).err().expect("refused");
        assert!(error.to_string().contains("another ABI"), "{error}");
    }
}
