//! Sleeping on a word of the segment, and waking every sleeper, across
//! processes. The futex is shared (not `FUTEX_PRIVATE`), so a wake from
//! another process reaches it; the kernel keys it by the physical page.
//!
//! The word is the low 32 bits of a 64-bit counter (a futex word is always
//! 32 bits): the counter that every change moves anyway, so no change has
//! to write another word, or another cache line, for the sleepers' sake.
//! The low half of a counter that only grows changes whenever the counter
//! does (until it has moved by 2^32, far more than a sleeper misses).

use std::sync::atomic::AtomicU64;

use super::layout::Shared;
use std::time::Duration;

/// The low 32 bits of `counter`, as the futex sees them.
pub(crate) fn low_half(value: u64) -> u32 {
    value as u32
}

/// The address of `counter`'s low 32 bits: its first four bytes on a
/// little-endian machine, its last four on a big-endian one.
fn low_half_address(counter: &Shared<AtomicU64>) -> *const u32 {
    let offset = if cfg!(target_endian = "little") { 0 } else { 1 };
    counter
        .as_ptr()
        .cast::<u32>()
        .cast_const()
        .wrapping_add(offset)
}

/// Sleeps while the low half of `counter` still holds `expected`, at most
/// `timeout`. Spurious wake-ups are fine: callers re-read the counter.
pub(crate) fn wait(counter: &Shared<AtomicU64>, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT atomically reads the aligned u32 at the address
    // (inside `counter`, which stays mapped for the call: the borrow) and
    // the timespec we pass; it writes nothing. The kernel's 32-bit read of
    // a word that others store to as 64 bits is atomic on every target
    // (each half of an aligned 8-byte store is written at once).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            low_half_address(counter),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
        );
    }
}

/// Wakes every process sleeping in [`wait`] on `counter`; returns how many
/// were woken.
pub(crate) fn wake_all(counter: &Shared<AtomicU64>) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address as a key.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            low_half_address(counter),
            libc::FUTEX_WAKE,
            i32::MAX,
        )
    };
    usize::try_from(woken).unwrap_or(0)
}
