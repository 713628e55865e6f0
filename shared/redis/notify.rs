//! Change notification for boards and `follow`: every commit bumps
//! `meta.change_seq` and publishes it on `exchange:{NAME}:changes`, so a
//! waiter sleeps on pub/sub instead of polling.
#![forbid(unsafe_code)]

use std::sync::PoisonError;
use std::time::Duration;

use super::connection;
use super::keys::meta;
use super::RedisMarket;
use crate::error::Result;

impl RedisMarket {
    /// The change counter, bumped after every committed change (it wraps,
    /// like the segment's).
    pub fn change_seq(&self) -> Result<u32> {
        let meta_key = self.link.keys.meta();
        let seq: Option<u64> = self
            .link
            .with_connection("reading from redis", |connection| {
                redis::cmd("HGET")
                    .arg(&meta_key)
                    .arg(meta::CHANGE_SEQ)
                    .query(connection)
            })?;
        Ok(seq.unwrap_or(0) as u32)
    }

    /// Sleeps until the change counter moves past `seen`, or `timeout`
    /// passes. It subscribes before it looks at the counter, so a change
    /// in between is not missed. Failures end the wait early: the caller's
    /// next read reports them.
    pub fn wait_for_change(&self, seen: u32, timeout: Duration) {
        let mut watcher = self.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        if watcher.is_none() {
            *watcher = connection::connect(&self.link.address).ok();
        }
        let Some(subscriber) = watcher.as_mut() else {
            std::thread::sleep(timeout.min(Duration::from_millis(100)));
            return;
        };
        let waited = (|| {
            let mut pubsub = subscriber.as_pubsub();
            pubsub.subscribe(self.link.keys.changes())?;
            if self.change_seq().ok() != Some(seen) {
                return Ok(());
            }
            pubsub.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
            pubsub.get_message().map(drop)
        })();
        // A timed-out or broken subscription is not reused.
        if waited.is_err() {
            *watcher = None;
        }
    }
}
