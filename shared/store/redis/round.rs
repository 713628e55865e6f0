//! The timed round's end on a Redis market: one field of `meta`, read by
//! every trade's commit beside the halted flag (see `trading`), so a trade
//! after it is refused whether or not the round's process still runs.
#![forbid(unsafe_code)]

use super::commit::{Plan, Writes, META};
use super::keys::meta;
use super::RedisMarket;
use crate::error::Result;

impl RedisMarket {
    /// The Unix time in milliseconds the round ends, if one is set.
    pub fn round_end(&self) -> Result<Option<u64>> {
        let mut watch = self.watch();
        let at = watch.field(META, meta::ROUND_END);
        let values = self.read(&watch)?;
        self.round_end_at(&values, at)
    }

    /// Sets the round's end, or clears it with `None`. Owner only. A
    /// commit like any other, so watchers wake.
    pub fn set_round_end(&self, end: Option<u64>) -> Result<()> {
        self.require_owner("set the round's end")?;
        let watch = self.watch();
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            let mut writes = Writes::new(&watch);
            writes.set(META, meta::ROUND_END, end.unwrap_or(0));
            Ok(Plan::Write(writes, ()))
        })
    }
}
