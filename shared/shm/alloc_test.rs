//! Nothing under the lock allocates, traced or not: the library's unit
//! tests run on an allocator that counts the allocations a thread makes
//! while it holds a segment's lock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crate::domain::Side;
use crate::money::Money;
use crate::store::shm::Exchange;
use crate::{MarketConfig, SegmentAddress};

/// The system allocator, counting what a thread asks of it under the lock.
struct Counting;

thread_local! {
    static UNDER_LOCK: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    if super::mutex::held_by_this_thread() {
        UNDER_LOCK.set(UNDER_LOCK.get() + 1);
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// count touches only a const-initialized thread-local without a
// destructor, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: this function's own contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An account's opening, a buy, a sell and two refused trades, traced
/// into a sink: the lines are formatted under the lock into the buffer
/// reserved before it, a refusal is named after the unlock, and nothing is
/// allocated while the lock is held.
#[test]
fn a_traced_trade_allocates_nothing_under_the_lock() {
    let _switch = crate::trace::tests::SWITCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let address: SegmentAddress = format!("posix:/shmx-alloc-test-{}", std::process::id())
        .parse()
        .unwrap();
    let exchange = Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let counted = lines.clone();
    crate::trace::enable(move |_| *counted.lock().unwrap() += 1);
    let before = UNDER_LOCK.get();
    let traded = (|| {
        let account = exchange.open_account("ann")?;
        let dollar = exchange.currency("DOLLAR")?;
        exchange.trade(account, Side::Buy, dollar, Money::from_hundredths(100))?;
        exchange.trade(account, Side::Sell, dollar, Money::from_hundredths(100))?;
        // Refused: more than the account holds, more than it can pay.
        let oversold = exchange.trade(account, Side::Sell, dollar, Money::from_hundredths(100));
        let overbought =
            exchange.trade(account, Side::Buy, dollar, Money::from_hundredths(1 << 40));
        assert!(oversold.is_err() && overbought.is_err());
        exchange.portfolio(account)
    })();
    let allocations = UNDER_LOCK.get() - before;
    crate::trace::disable();
    let _ = Exchange::remove(&address);
    traded.unwrap();
    assert!(*lines.lock().unwrap() > 10, "the trades were traced");
    assert_eq!(allocations, 0, "allocations made under the lock");
}
