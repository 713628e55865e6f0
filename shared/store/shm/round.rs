//! The timed round's end in a segment: one word of the header, beside the
//! halt flag, read by every trade under the lock (see `Exchange::trade`),
//! so a trade after it is refused whether or not the round's process
//! still runs.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;

use super::Exchange;
use crate::error::Result;

impl Exchange {
    /// The Unix time in milliseconds the round ends, if one is set.
    pub fn round_end(&self) -> Option<u64> {
        match self.header().round_end.load(Relaxed) {
            0 => None,
            end => Some(end),
        }
    }

    /// Sets the round's end, or clears it with `None`. Owner only; written
    /// under the lock, so no trade decides on a half-changed market, and
    /// watchers are woken.
    pub fn set_round_end(&self, end: Option<u64>) -> Result<()> {
        self.require_owner("set the round's end")?;
        let locked = self.lock()?;
        self.header()
            .round_end
            .store(end.unwrap_or(0), Relaxed, locked.write());
        drop(locked);
        self.wake_watchers();
        Ok(())
    }
}
