//! For the crate's own tests and the benchmark baseline only: the layout
//! items tests read raw bytes with, a raw unlink of a segment, and the
//! benchmark's "C loop" segment. Hidden from the documentation and not part of the API.
#![forbid(unsafe_code)]

pub use crate::fault::{Step, CRASH_ENV};
pub use crate::shm::layout::{
    kind, segment_size, state, AccountSlot, CurrencySlot, Header, LockSlot, RedoRecord, TapeEntry,
    HEADER_SIZE,
};
pub use crate::shm::{BaselineSegment, BASELINE_ACCOUNTS, BASELINE_CURRENCIES, LOCK_TIMEOUT};

use crate::address::SegmentAddress;

/// Removes a segment's name whatever it holds, exchange or not, without
/// retiring it: what tests' `Drop` calls to clean up.
pub fn remove_segment(address: &SegmentAddress) -> crate::Result<()> {
    crate::shm::remove(address)
}
