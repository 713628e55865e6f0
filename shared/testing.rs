//! For the crate's own tests and the benchmark baseline only: the layout
//! items tests read raw bytes with, a raw unlink of a segment, and a bare
//! robust mutex. Hidden from the documentation and not part of the API.
#![forbid(unsafe_code)]

pub use crate::fault::{Step, CRASH_ENV};
pub use crate::shm::layout::{
    kind, segment_size, state, AccountSlot, CurrencySlot, Header, LockSlot, RedoRecord, HEADER_SIZE,
};
pub use crate::shm::LOCK_TIMEOUT;

use crate::address::SegmentAddress;
use crate::shm::HeapMutex;

/// Removes a segment's name whatever it holds, exchange or not, without
/// retiring it: what tests' `Drop` calls to clean up.
pub fn remove_segment(address: &SegmentAddress) -> crate::Result<()> {
    crate::shm::remove(address)
}

/// A robust, process-shared pthread mutex on this process's heap: what the
/// lock alone costs, the benchmark's "bare lock" baseline.
pub struct BaselineLock(HeapMutex);

impl BaselineLock {
    pub fn new() -> std::io::Result<BaselineLock> {
        HeapMutex::new().map(BaselineLock)
    }

    /// Runs `f` with the lock held. A lock that cannot be taken (it never
    /// fails for a private mutex nobody else can reach) panics.
    pub fn locked<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self
            .0
            .lock()
            .unwrap_or_else(|error| panic!("locking the baseline mutex: {error}"));
        f()
    }
}
