//! Change notification for boards and `follow`: every commit bumps
//! `meta.change_seq` and publishes it on `exchange:{NAME}:changes`, so a
//! waiter sleeps on pub/sub instead of polling.
//!
//! A waiter also listens on a channel of its own, so that another thread
//! of its process (the board's key reader) can wake it at once with
//! [`RedisMarket::wake_watchers`] without waking every board in the class.
#![forbid(unsafe_code)]

use std::hash::{BuildHasher, RandomState};
use std::sync::PoisonError;
use std::time::Duration;

use super::connection;
use super::keys::meta;
use super::RedisMarket;
use crate::error::Result;

/// A channel name only this market value listens on.
pub(super) fn private_channel(changes: &str) -> String {
    let nonce = RandomState::new().hash_one(std::process::id());
    format!("{changes}:wake:{}-{nonce:016x}", std::process::id())
}

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

    /// Sleeps until the change counter moves past `seen`, a
    /// [`RedisMarket::wake_watchers`] from this process, or `timeout`. It
    /// subscribes before it looks at the counter, so a change in between
    /// is not missed. Failures end the wait early: the caller's next read
    /// reports them.
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
            pubsub.subscribe(&self.wake_channel)?;
            if self.change_seq().ok() != Some(seen) {
                return Ok(());
            }
            pubsub.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
            pubsub.get_message().map(drop)
        })();
        // A timed-out or broken subscription is not reused: a read cut off
        // by its timeout may leave half a reply behind.
        if waited.is_err() {
            *watcher = None;
        }
    }

    /// Wakes this process's [`RedisMarket::wait_for_change`], if one
    /// sleeps, and no other process's.
    pub fn wake_watchers(&self) {
        let _ = self.link.with_connection("waking the board", |connection| {
            redis::cmd("PUBLISH")
                .arg(&self.wake_channel)
                .arg("wake")
                .query::<i64>(connection)
        });
    }
}
