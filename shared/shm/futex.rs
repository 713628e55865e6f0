//! Sleeping on a word of the segment, and waking every sleeper, across
//! processes. The futex is shared (not `FUTEX_PRIVATE`), so a wake from
//! another process reaches it; the kernel keys it by the physical page.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `word` still holds `expected`, at most `timeout`. Spurious
/// wake-ups are fine: callers re-read the word.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word`, which stays
    // mapped for the call (the borrow), and the timespec we pass; it writes
    // nothing.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
        );
    }
}

/// Wakes every process sleeping in [`wait`] on `word`; returns how many
/// were woken.
pub(crate) fn wake_all(word: &AtomicU32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key.
    let woken =
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
    usize::try_from(woken).unwrap_or(0)
}
