//! The one write path: read some hash fields, compute in Rust, then commit
//! with [`SCRIPT`], which checks that every field read still holds what
//! was read and only then writes. A conflict returns the fields' current
//! values, so the retry needs no second read.
#![forbid(unsafe_code)]

use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;
use std::time::Duration;

use redis::Value;

use super::connection::failure;
use super::Link;
use crate::error::{Error, Result};

/// Attempts before a commit gives up on a market too busy to win.
pub const MAX_ATTEMPTS: u32 = 200;
/// Lost commits retried at once, before pausing between attempts.
const RETRIES_WITHOUT_PAUSE: u32 = 3;
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(2);

/// Compare, then set. No market rule is here: the caller computed every
/// value it writes.
///
/// - KEYS: every key read or written; KEYS[1] is the market's meta hash.
/// - ARGV[1]: one letter a key: `h` a hash or nothing, `l` a list or
///   nothing, `n` nothing at all (else a conflict).
/// - ARGV[2]: the pub/sub channel told of each change.
/// - Then five sections, each a count and its items: checks (key, field,
///   expected; `''` means absent), deletes (key), unsets (key, field:
///   HDEL), sets (key, field, value), pushes (key, entry, cap: LPUSH then
///   LTRIM).
///
/// Every check runs before any write, so a refusal writes nothing. It
/// returns `{1}` once written, else `{0, the checked fields' values}`.
pub const SCRIPT: &str = r#"#!lua
local kinds = ARGV[1]
local clean = true
for i = 1, #KEYS do
  local found = redis.call('TYPE', KEYS[i])['ok']
  local kind = string.sub(kinds, i, i)
  if kind == 'n' then
    if found ~= 'none' then clean = false end
  elseif found ~= 'none' and found ~= (kind == 'l' and 'list' or 'hash') then
    return redis.error_reply('WRONGTYPE the key ' .. KEYS[i] .. ' holds a ' .. found)
  end
end
local at = 3
local current = {0}
local checks = tonumber(ARGV[at])
for i = 0, checks - 1 do
  local base = at + 1 + 3 * i
  local value = redis.call('HGET', KEYS[tonumber(ARGV[base])], ARGV[base + 1]) or ''
  if value ~= ARGV[base + 2] then clean = false end
  current[#current + 1] = value
end
if not clean then return current end
at = at + 1 + 3 * checks
local deletes = tonumber(ARGV[at])
for i = 1, deletes do redis.call('DEL', KEYS[tonumber(ARGV[at + i])]) end
at = at + 1 + deletes
local unsets = tonumber(ARGV[at])
for i = 0, unsets - 1 do
  local base = at + 1 + 2 * i
  redis.call('HDEL', KEYS[tonumber(ARGV[base])], ARGV[base + 1])
end
at = at + 1 + 2 * unsets
local sets = tonumber(ARGV[at])
for i = 0, sets - 1 do
  local base = at + 1 + 3 * i
  redis.call('HSET', KEYS[tonumber(ARGV[base])], ARGV[base + 1], ARGV[base + 2])
end
at = at + 1 + 3 * sets
for i = 0, tonumber(ARGV[at]) - 1 do
  local base = at + 1 + 3 * i
  local key = KEYS[tonumber(ARGV[base])]
  redis.call('LPUSH', key, ARGV[base + 1])
  redis.call('LTRIM', key, 0, tonumber(ARGV[base + 2]) - 1)
end
local change = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  change = redis.call('HINCRBY', KEYS[1], 'change_seq', 1)
end
redis.call('PUBLISH', ARGV[2], change)
return {1}
"#;

static COMMIT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// How a key must look for a commit to touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A hash, or no key yet.
    Hash,
    /// A list, or no key yet.
    List,
    /// No key at all: creating.
    Absent,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Hash => 'h',
            Kind::List => 'l',
            Kind::Absent => 'n',
        }
    }
}

/// A key in a [`Watch`] or [`Writes`], by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(usize);

/// The market's meta hash: always the first key, as the script expects.
pub const META: Key = Key(0);

/// The keys a commit touches and the fields it read: the values it read
/// are what the script compares.
#[derive(Debug, Clone)]
pub struct Watch {
    keys: Vec<(String, Kind)>,
    fields: Vec<(Key, String)>,
}

impl Watch {
    /// A watch whose first key, [`META`], is the market's meta hash, of
    /// the given kind.
    pub fn new(meta: String, kind: Kind) -> Watch {
        Watch {
            keys: vec![(meta, kind)],
            fields: Vec::new(),
        }
    }

    pub fn key(&mut self, name: String, kind: Kind) -> Key {
        self.keys.push((name, kind));
        Key(self.keys.len() - 1)
    }

    /// Watches a field; returns its position in the values read.
    pub fn field(&mut self, key: Key, field: impl Into<String>) -> usize {
        self.fields.push((key, field.into()));
        self.fields.len() - 1
    }

    /// Reads every watched field at once, in MULTI/EXEC: one consistent
    /// snapshot.
    pub fn read(
        &self,
        connection: &mut redis::Connection,
    ) -> redis::RedisResult<Vec<Option<String>>> {
        self.read_with(connection, |_| {}).map(|(values, _)| values)
    }

    /// Reads every watched field and the replies of the commands `more`
    /// adds, all in one MULTI/EXEC sent as one round trip: an `HMGET` per
    /// key, not a command per field.
    pub fn read_with(
        &self,
        connection: &mut redis::Connection,
        more: impl FnOnce(&mut redis::Pipeline),
    ) -> redis::RedisResult<(Vec<Option<String>>, Vec<Value>)> {
        // Each key read, with the positions of its fields in the values.
        let mut reads: Vec<(usize, Vec<usize>)> = Vec::new();
        for (at, (key, _)) in self.fields.iter().enumerate() {
            match reads.iter_mut().find(|(read, _)| *read == key.0) {
                Some((_, positions)) => positions.push(at),
                None => reads.push((key.0, vec![at])),
            }
        }
        crate::trace!(
            "redis: read MULTI, {} HMGET ({} fields), EXEC: one snapshot in one round trip",
            reads.len(),
            self.fields.len()
        );
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, positions) in &reads {
            let fields: Vec<&str> = positions
                .iter()
                .map(|at| self.fields[*at].1.as_str())
                .collect();
            pipe.cmd("HMGET").arg(&self.keys[*key].0).arg(fields);
        }
        more(&mut pipe);
        let mut replies: Vec<Value> = pipe.query(connection)?;
        let extra = replies.split_off(reads.len().min(replies.len()));
        let mut values = vec![None; self.fields.len()];
        for ((_, positions), reply) in reads.iter().zip(&replies) {
            let read: Vec<Option<String>> = redis::from_redis_value(reply)?;
            for (at, value) in positions.iter().zip(read) {
                values[*at] = value;
            }
        }
        Ok((values, extra))
    }
}

/// What a commit writes once its checks pass.
#[derive(Debug, Clone)]
pub struct Writes {
    keys: Vec<(String, Kind)>,
    deletes: Vec<Key>,
    unsets: Vec<(Key, String)>,
    sets: Vec<(Key, String, String)>,
    pushes: Vec<(Key, String, usize)>,
}

impl Writes {
    /// Writes that may use the watch's keys and add more.
    pub fn new(watch: &Watch) -> Writes {
        Writes {
            keys: watch.keys.clone(),
            deletes: Vec::new(),
            unsets: Vec::new(),
            sets: Vec::new(),
            pushes: Vec::new(),
        }
    }

    pub fn key(&mut self, name: String, kind: Kind) -> Key {
        self.keys.push((name, kind));
        Key(self.keys.len() - 1)
    }

    pub fn delete(&mut self, key: Key) {
        self.deletes.push(key);
    }

    /// Removes a field from a hash.
    pub fn unset(&mut self, key: Key, field: impl Into<String>) {
        self.unsets.push((key, field.into()));
    }

    pub fn set(&mut self, key: Key, field: impl Into<String>, value: impl ToString) {
        self.sets.push((key, field.into(), value.to_string()));
    }

    /// Pushes `entry` on a list, keeping its newest `cap` entries.
    pub fn push(&mut self, key: Key, entry: String, cap: usize) {
        self.pushes.push((key, entry, cap));
    }
}

/// What the script did.
pub enum Committed {
    Written,
    /// A checked field had moved on: its values now, in watch order.
    Conflict(Vec<Option<String>>),
}

/// What one attempt of an optimistic update decided.
pub enum Plan<T> {
    /// Nothing to write: the answer stands as read.
    Done(T),
    /// Write these if nothing moved, then answer.
    Write(Writes, T),
}

impl Link {
    /// Runs the script once: writes `writes` if every watched field still
    /// holds `expected`.
    pub fn commit(
        &self,
        watch: &Watch,
        expected: &[Option<String>],
        writes: &Writes,
    ) -> Result<Committed> {
        let mut invocation = COMMIT.prepare_invoke();
        let kinds: String = writes.keys.iter().map(|(_, kind)| kind.letter()).collect();
        for (name, _) in &writes.keys {
            invocation.key(name);
        }
        let index = |key: Key| key.0 + 1;
        invocation.arg(kinds).arg(self.keys.changes());
        invocation.arg(watch.fields.len());
        for ((key, field), value) in watch.fields.iter().zip(expected) {
            invocation
                .arg(index(*key))
                .arg(field)
                .arg(value.as_deref().unwrap_or(""));
        }
        invocation.arg(writes.deletes.len());
        for key in &writes.deletes {
            invocation.arg(index(*key));
        }
        invocation.arg(writes.unsets.len());
        for (key, field) in &writes.unsets {
            invocation.arg(index(*key)).arg(field);
        }
        invocation.arg(writes.sets.len());
        for (key, field, value) in &writes.sets {
            invocation.arg(index(*key)).arg(field).arg(value);
        }
        invocation.arg(writes.pushes.len());
        for (key, entry, cap) in &writes.pushes {
            invocation.arg(index(*key)).arg(entry).arg(cap);
        }
        crate::trace!(
            "redis: commit EVALSHA (the compare-and-set script): {} checks, {} sets, {} pushes",
            watch.fields.len(),
            writes.sets.len(),
            writes.pushes.len()
        );
        let reply: Vec<Value> = self.with_connection("committing to redis", |connection| {
            invocation.invoke(connection)
        })?;
        let mut values = reply.into_iter();
        match values.next() {
            Some(Value::Int(1)) => {
                crate::trace!("redis: committed; change_seq bumped and PUBLISHed");
                Ok(Committed::Written)
            }
            Some(Value::Int(0)) => Ok(Committed::Conflict(
                values
                    .map(|value| match value {
                        Value::BulkString(bytes) if !bytes.is_empty() => {
                            Some(String::from_utf8_lossy(&bytes).into_owned())
                        }
                        _ => None,
                    })
                    .collect(),
            )),
            other => Err(failure(
                &self.address,
                "committing to redis",
                redis::RedisError::from((
                    redis::ErrorKind::TypeError,
                    "unexpected reply from the commit script",
                    format!("{other:?}"),
                )),
            )),
        }
    }

    /// Reads `watch`, lets `attempt` decide from the values, and commits
    /// what it decided; on a conflict, decides again from the values the
    /// script returned, up to [`MAX_ATTEMPTS`] times.
    pub fn optimistic<T>(
        &self,
        watch: &Watch,
        mut attempt: impl FnMut(&[Option<String>]) -> Result<Plan<T>>,
    ) -> Result<T> {
        let mut values =
            self.with_connection("reading from redis", |connection| watch.read(connection))?;
        for round in 0..MAX_ATTEMPTS {
            let (writes, answer) = match attempt(&values)? {
                Plan::Done(answer) => return Ok(answer),
                Plan::Write(writes, answer) => (writes, answer),
            };
            match self.commit(watch, &values, &writes)? {
                Committed::Written => return Ok(answer),
                Committed::Conflict(now) => {
                    crate::trace!("redis: conflict: a value read had moved; decide again");
                    self.conflicts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // The values the script found are fresh: try them at
                    // once. After a few losses, pause, and since a pause
                    // makes them stale, read again after it.
                    if round < RETRIES_WITHOUT_PAUSE {
                        values = now;
                    } else {
                        backoff(round);
                        values = self.with_connection("reading from redis", |connection| {
                            watch.read(connection)
                        })?;
                    }
                }
            }
        }
        Err(Error::Busy {
            address: self.address.to_string(),
        })
    }
}

/// Sleeps a random time that grows with the round, so that two traders
/// that keep colliding stop colliding.
fn backoff(round: u32) {
    let ceiling = (1_u64 << round.min(11)).min(MAX_BACKOFF.as_micros() as u64);
    let jitter = RandomState::new().hash_one(round) % ceiling;
    std::thread::sleep(Duration::from_micros(jitter));
}
