//! Waking boards (`trader watch`) after each change, so a board never
//! polls and never takes the lock to learn that something moved.
//!
//! Watchers sleep on a futex on the low half of `write_seq`, the readers'
//! counter, which every change moves under the lock anyway (odd, then
//! even): a trade writes no word, and no cache line, for them beyond the
//! lock's own. [`Exchange::retire`] moves it too when it gets the lock;
//! when it cannot (a stopped holder), it only wakes the sleepers, and a
//! watcher that was just about to sleep notices at its next timeout.
//!
//! Under a flood of changes (a stress run) a watcher woken after every
//! change would read without pause and take a core from the traders. So a
//! thread waits, in all, at least [`READ_SHARE`] - 1 times as long as it
//! read since its last wake-up, though never more than [`LONGEST_REST`]
//! beyond the change: a board still shows every change within a frame and
//! that rest, and a watcher woken after a quiet spell is not held at all.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use super::Exchange;
use crate::shm::futex;

/// See [`Exchange::wake_watchers`].
pub(crate) const FORGET_WATCHERS_AFTER: u32 = 1_000;

/// See [`Exchange::settled_change_seq`].
const SETTLE_TRIES: u32 = 1_000;

/// The longest sleep of a watcher attached read-only between two looks at
/// the change counter.
const READ_ONLY_POLL: Duration = Duration::from_millis(100);

/// The most of its time a watcher behind a flood spends reading: 1 in 50.
const READ_SHARE: u32 = 50;

/// The longest rest of a watcher behind a flood, well within the 100 ms a
/// board may lag.
const LONGEST_REST: Duration = Duration::from_millis(40);

thread_local! {
    /// When this thread last came back from [`Exchange::wait_for_change`]:
    /// the time since is what its reading took.
    static LAST_WAKE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How long to rest, on top of the time already spent waiting since
/// `called`, before handing back: so that the reading done since the last
/// wake-up is at most one part in [`READ_SHARE`] of the time between two,
/// and the rest at most [`LONGEST_REST`] and `timeout`.
fn rest_due(called: Instant, timeout: Duration) -> Duration {
    LAST_WAKE.get().map_or(Duration::ZERO, |woke| {
        let reading = called.saturating_duration_since(woke);
        (reading * (READ_SHARE - 1))
            .min(LONGEST_REST)
            .min(timeout)
            .saturating_sub(called.elapsed())
    })
}

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
    ///
    /// A thread that comes back sooner than its reading allows rests
    /// before it returns (see the module's notes), so that a flood of
    /// changes costs the traders little.
    pub fn wait_for_change(&self, seen: u32, timeout: Duration) {
        let called = Instant::now();
        if self.change_seq() == seen {
            self.sleep_until_change(seen, timeout);
        }
        std::thread::sleep(rest_due(called, timeout));
        LAST_WAKE.set(Some(Instant::now()));
    }

    /// The change counter once the change being made, if any, is whole:
    /// it moves twice a change (odd when the change is published, even
    /// when it is whole), and a bot woken at the first move must not take
    /// the second for another change. The writer holds the lock for
    /// microseconds, so this yields a few times at most; after
    /// [`SETTLE_TRIES`] (a writer that died mid-change, which the next
    /// locker repairs) it gives the odd value.
    pub fn settled_change_seq(&self) -> u32 {
        let mut seq = self.change_seq();
        for _ in 0..SETTLE_TRIES {
            if seq % 2 == 0 {
                break;
            }
            std::thread::yield_now();
            seq = self.change_seq();
        }
        seq
    }

    /// [`Exchange::wait_for_change`] without the rest after a wake-up: for
    /// a bot's `wait`, which is one command of its own and must answer as
    /// soon as the market moves. A bot that floods the market with `wait`
    /// costs the traders what a board does: one wake-up a change.
    pub fn wait_for_change_promptly(&self, seen: u32, timeout: Duration) {
        if self.change_seq() == seen {
            self.sleep_until_change(seen, timeout);
        }
    }

    fn sleep_until_change(&self, seen: u32, timeout: Duration) {
        let header = self.header();
        let counter = &header.lock.write_seq;
        // The watcher counters' own unlocked path (see
        // `Mapping::write_unlocked`); a read-only attachment polls instead.
        let Some(write) = self.unlocked_write() else {
            futex::wait(counter, seen, timeout.min(READ_ONLY_POLL));
            return;
        };
        header.watchers.fetch_add(1, AcqRel, write);
        futex::wait(counter, seen, timeout);
        // Saturating: a trader may have reset the hint meanwhile.
        let _ = header
            .watchers
            .fetch_update(AcqRel, Acquire, |count| count.checked_sub(1), write);
    }

    /// Wakes every process sleeping in [`Exchange::wait_for_change`].
    ///
    /// `watchers` is a hint that a watcher killed mid-wait leaves raised,
    /// which would make every trade pay for a system call forever. So after
    /// [`FORGET_WATCHERS_AFTER`] wake-ups in a row that found nobody asleep,
    /// the hint is cleared; a live watcher raises it again before its next
    /// sleep. The hint's line is read by every trade and written only when
    /// something changes, so that it stays shared between the cores.
    #[inline(always)]
    pub fn wake_watchers(&self) {
        if self.is_read_only() {
            return;
        }
        if self.header().watchers.load(Acquire) == 0 {
            crate::trace!("wake-up: no board is watching, so no system call");
            return;
        }
        self.wake_sleeping_watchers();
    }

    /// The system call, when the hint says a watcher may be asleep.
    #[cold]
    #[inline(never)]
    fn wake_sleeping_watchers(&self) {
        let Some(write) = self.unlocked_write() else {
            return;
        };
        let header = self.header();
        let woken = futex::wake_all(&header.lock.write_seq);
        crate::trace!("wake-up: futex(FUTEX_WAKE) on the readers' counter woke {woken}");
        if woken > 0 {
            if header.idle_wakes.load(Relaxed) != 0 {
                header.idle_wakes.store(0, Relaxed, write);
            }
        } else if header.idle_wakes.fetch_add(1, Relaxed, write) >= FORGET_WATCHERS_AFTER {
            header.watchers.store(0, Release, write);
            header.idle_wakes.store(0, Relaxed, write);
        }
    }

    /// Wakes every watcher whether or not the hint says one sleeps: after a
    /// retirement, which no watcher may miss.
    pub(super) fn wake_all_watchers(&self) {
        futex::wake_all(&self.header().lock.write_seq);
    }
}
