//! Waking boards (`trader watch`) after each change, so a board never
//! polls and never takes the lock to learn that something moved.
//!
//! Watchers sleep on a futex on the low half of `write_seq`, the readers'
//! counter, which every change moves under the lock anyway (odd, then
//! even): a trade writes no word, and no cache line, for them beyond the
//! lock's own. [`Exchange::retire`] moves it too when it gets the lock;
//! when it cannot (a stopped holder), it only wakes the sleepers, and a
//! watcher that was just about to sleep notices at its next timeout.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::Exchange;
use crate::shm::futex;

/// See [`Exchange::wake_watchers`].
const FORGET_WATCHERS_AFTER: u32 = 1_000;

/// The longest sleep of a watcher attached read-only between two looks at
/// the change counter.
const READ_ONLY_POLL: Duration = Duration::from_millis(100);

impl Exchange {
    /// The change counter, which moves with every change: the low half of
    /// the readers' `write_seq`.
    pub fn change_seq(&self) -> u32 {
        futex::low_half(self.header().lock.write_seq.load(Acquire))
    }

    /// Sleeps until the change counter moves past `seen`, or `timeout`
    /// passes, without holding the lock or spinning: a futex on the
    /// counter, which traders wake after each change while someone watches.
    ///
    /// A watcher attached read-only cannot raise the `watchers` hint, so
    /// traders do not wake it: it sleeps at most [`READ_ONLY_POLL`] at a
    /// time instead.
    pub fn wait_for_change(&self, seen: u32, timeout: Duration) {
        let header = self.header();
        let counter = &header.lock.write_seq;
        if self.is_read_only() {
            futex::wait(counter, seen, timeout.min(READ_ONLY_POLL));
            return;
        }
        header.watchers.fetch_add(1, AcqRel);
        futex::wait(counter, seen, timeout);
        // Saturating: a trader may have reset the hint meanwhile.
        let _ = header
            .watchers
            .fetch_update(AcqRel, Acquire, |count| count.checked_sub(1));
    }

    /// Wakes every process sleeping in [`Exchange::wait_for_change`].
    ///
    /// `watchers` is a hint that a watcher killed mid-wait leaves raised,
    /// which would make every trade pay for a system call forever. So after
    /// [`FORGET_WATCHERS_AFTER`] wake-ups in a row that found nobody asleep,
    /// the hint is cleared; a live watcher raises it again before its next
    /// sleep. The hint's line is read by every trade and written only when
    /// something changes, so that it stays shared between the cores.
    pub fn wake_watchers(&self) {
        let header = self.header();
        if self.is_read_only() {
            return;
        }
        if header.watchers.load(Acquire) == 0 {
            crate::trace!("wake-up: no board is watching, so no system call");
            return;
        }
        let woken = futex::wake_all(&header.lock.write_seq);
        crate::trace!("wake-up: futex(FUTEX_WAKE) on the readers' counter woke {woken}");
        if woken > 0 {
            if header.idle_wakes.load(Relaxed) != 0 {
                header.idle_wakes.store(0, Relaxed);
            }
        } else if header.idle_wakes.fetch_add(1, Relaxed) >= FORGET_WATCHERS_AFTER {
            header.watchers.store(0, Release);
            header.idle_wakes.store(0, Relaxed);
        }
    }

    /// Wakes every watcher whether or not the hint says one sleeps: after a
    /// retirement, which no watcher may miss.
    pub(super) fn wake_all_watchers(&self) {
        futex::wake_all(&self.header().lock.write_seq);
    }
}
