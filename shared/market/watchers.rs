//! The change counter, and the futex on it that wakes boards (`trader
//! watch`) after each change, so a board never polls and never takes the
//! lock to learn that something moved.
//!
//! `change_seq` is bumped with an atomic `fetch_add` by every writer: the
//! journal (trades and replays) and account openings bump it under the
//! lock, but [`Exchange::retire`] bumps it even when the lock cannot be had,
//! so a plain load-and-store would lose bumps.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::Exchange;
use crate::shm::futex;
use crate::shm::layout::Header;

/// See [`Exchange::wake_watchers`].
const FORGET_WATCHERS_AFTER: u32 = 1_000;

/// The longest sleep of a watcher attached read-only between two looks at
/// the change counter.
const READ_ONLY_POLL: Duration = Duration::from_millis(100);

/// Counts one committed change: every writer calls this after its stores.
pub(super) fn announce_change(header: &Header) {
    header.change_seq.fetch_add(1, Release);
}

impl Exchange {
    /// The change counter, bumped after every committed change.
    pub fn change_seq(&self) -> u32 {
        self.header().change_seq.load(Acquire)
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
        if self.is_read_only() {
            futex::wait(&header.change_seq, seen, timeout.min(READ_ONLY_POLL));
            return;
        }
        header.watchers.fetch_add(1, AcqRel);
        futex::wait(&header.change_seq, seen, timeout);
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
    /// sleep.
    pub fn wake_watchers(&self) {
        let header = self.header();
        if self.is_read_only() {
            return;
        }
        if header.watchers.load(Acquire) == 0 {
            crate::trace!("wake-up: no board is watching, so no system call");
            return;
        }
        let woken = futex::wake_all(&header.change_seq);
        crate::trace!("wake-up: futex(FUTEX_WAKE) on the change counter woke {woken}");
        if woken > 0 {
            header.idle_wakes.store(0, Relaxed);
        } else if header.idle_wakes.fetch_add(1, Relaxed) >= FORGET_WATCHERS_AFTER {
            header.watchers.store(0, Release);
            header.idle_wakes.store(0, Relaxed);
        }
    }

    /// Wakes every watcher whether or not the hint says one sleeps: after a
    /// retirement, which no watcher may miss.
    pub(super) fn wake_all_watchers(&self) {
        futex::wake_all(&self.header().change_seq);
    }
}
