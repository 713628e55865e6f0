//! A trade's commit: the rules ran in Rust on the values read; the script
//! checks only what the outcome depends on and applies the rest as deltas.
//!
//! A trade's price and total depend on the quote and the amount alone, and
//! its four values (the exchange's stock and cash, the trader's holding and
//! balance) change by amounts fixed by the price and total. `rules::trade`
//! accepts exactly when each value covers its decrement and no increment
//! passes `i64::MAX`. So the script compares the quote, the market's
//! identity, the halted flag and the account (status and serial) with what
//! was read, checks each of the four values against the bound the outcome
//! needs (a guard), and adds the deltas with `HINCRBY`, which is exact on
//! 64-bit integers. Any trade whose guards still hold commits, whatever
//! other trades did meanwhile: trades on different accounts and currencies
//! never conflict, and two on the same ones only when one leaves the other
//! short. A failed check writes nothing and returns the values now, and
//! the trader decides again from them (which gives the refusal, if one is
//! due), so the rules stay in Rust.
//!
//! The script takes the next sequence number itself, so trades do not
//! race for it; it is the tape entry's first word. After writing, it
//! returns the values as they are now, and the trader keeps them for its
//! next trade on the same account and currency: that trade needs no read,
//! only the script, one round trip. (A remembered value that went stale
//! fails a check, or makes the rules refuse, and either way the trader
//! decides again from values read now.)
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use redis::Value;

use super::connection::failure;
use super::keys::{account, currency, meta};
use super::Link;
use crate::error::Result;
use crate::money::Money;

/// The fields a trade reads, key by key, in the order of its values: the
/// script reads the same ones (`HMGET` on each key) and returns them on a
/// failed check. The account's holding of the currency comes last.
pub const META_FIELDS: [&str; 5] = [
    meta::EPOCH,
    meta::STATE,
    meta::HALTED,
    meta::CASH,
    meta::ROUND_END,
];
pub const QUOTE_FIELDS: [&str; 3] = [currency::SELL, currency::BUY, currency::STOCK];
pub const ACCOUNT_FIELDS: [&str; 5] = [
    account::NAME,
    account::OWNER,
    account::STATUS,
    account::SERIAL,
    account::BALANCE,
];

/// Check, guard, then apply.
///
/// - KEYS: the meta hash, the currency's hash, the account's hash, the
///   tape list.
/// - ARGV: epoch, sell, buy, account serial, holding field; then for cash,
///   stock, balance and holding in turn: the delta, `ge` or `le`, and the
///   bound the value must be at least or at most before the delta; then
///   the tape entry without its sequence number, the tape's cap, and the
///   channel told of each change.
///
/// Returns `{1, the values after}` once written, else `{0, the values
/// now}`: either way what the trader's next decision starts from.
/// Money stays in decimal strings: Lua's numbers are doubles, exact only
/// to 2^53, so bounds are compared as strings and sums done by `HINCRBY`.
pub const SCRIPT: &str = r#"#!lua
local m = redis.call('HMGET', KEYS[1], 'epoch', 'state', 'halted', 'cash', 'round_end')
local q = redis.call('HMGET', KEYS[2], 'sell', 'buy', 'stock')
local a = redis.call('HMGET', KEYS[3], 'name', 'owner', 'status', 'serial', 'balance', ARGV[5])
local function found(flag)
  local reply = {flag}
  for _, list in ipairs({m, q, a}) do
    for i = 1, #list do reply[#reply + 1] = list[i] or '' end
  end
  return reply
end
local function conflict() return found(0) end
if m[1] ~= ARGV[1] or m[2] ~= 'ready' or m[3] ~= '0' or q[1] ~= ARGV[2]
  or q[2] ~= ARGV[3] or a[3] ~= 'open' or a[4] ~= ARGV[4] then
  return conflict()
end
-- A timed round's end (Unix ms, 0 for none) holds on the server's clock
-- too, so no trade commits after it, whatever the trader's clock said.
if m[5] and m[5] ~= '0' and m[5] ~= '' then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) >= tonumber(m[5]) then
    return conflict()
  end
end
-- a < b for decimal integers without leading zeros, b not negative.
local function below(a, b)
  if string.sub(a, 1, 1) == '-' then return true end
  if #a ~= #b then return #a < #b end
  return a < b
end
local values = {m[4], q[3], a[5], a[6]}
for i = 1, 4 do
  local value, op, bound = values[i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
  if not value then return conflict() end
  if op == 'ge' and below(value, bound) then return conflict() end
  if op == 'le' and string.sub(value, 1, 1) ~= '-' and below(bound, value) then
    return conflict()
  end
end
redis.call('HINCRBY', KEYS[1], 'cash', ARGV[6])
redis.call('HINCRBY', KEYS[2], 'stock', ARGV[9])
redis.call('HINCRBY', KEYS[3], 'balance', ARGV[12])
redis.call('HINCRBY', KEYS[3], ARGV[5], ARGV[15])
local seq = string.format('%d', redis.call('HINCRBY', KEYS[1], 'trade_seq', 1))
redis.call('HINCRBY', KEYS[3], 'trades', 1)
redis.call('HSET', KEYS[3], 'last_trade', seq)
redis.call('LPUSH', KEYS[4], seq .. ' ' .. ARGV[18])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[19]) - 1)
local change = redis.call('HINCRBY', KEYS[1], 'change_seq', 1)
redis.call('PUBLISH', ARGV[20], change)
m = redis.call('HMGET', KEYS[1], 'epoch', 'state', 'halted', 'cash', 'round_end')
q = redis.call('HMGET', KEYS[2], 'sell', 'buy', 'stock')
a = redis.call('HMGET', KEYS[3], 'name', 'owner', 'status', 'serial', 'balance', ARGV[5])
return found(1)
"#;

static TRADE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// How one of a trade's four values moves, and the bound that keeps it in
/// range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta(i64);

impl Delta {
    /// Adds `by` (which may be negative). The guard: a decrement needs the
    /// value to cover it, an increment needs room below `i64::MAX`.
    pub fn by(by: Money) -> Delta {
        Delta(by.hundredths())
    }

    fn guard(self) -> (&'static str, String) {
        if self.0 < 0 {
            ("ge", self.0.unsigned_abs().to_string())
        } else {
            ("le", (i64::MAX - self.0).to_string())
        }
    }
}

/// What the trade writes, computed in Rust from the values read.
pub struct TradeWrite<'a> {
    pub epoch: &'a str,
    /// The quote and account serial the outcome was computed with.
    pub sell: &'a str,
    pub buy: &'a str,
    pub serial: &'a str,
    pub holding_field: &'a str,
    pub cash: Delta,
    pub stock: Delta,
    pub balance: Delta,
    pub holding: Delta,
    /// The tape entry without its sequence number.
    pub entry: String,
    pub tape_cap: usize,
}

/// What the script did, with every value of the trade's read as it is
/// now, in the trade's order.
pub enum Traded {
    Written(Vec<Option<String>>),
    /// A checked value had moved.
    Conflict(Vec<Option<String>>),
}

impl Link {
    /// Runs the trade script once on `keys` (meta, currency, account, tape).
    pub fn commit_trade(&self, keys: [&str; 4], write: &TradeWrite) -> Result<Traded> {
        let mut invocation = TRADE.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation
            .arg(write.epoch)
            .arg(write.sell)
            .arg(write.buy)
            .arg(write.serial)
            .arg(write.holding_field);
        for delta in [write.cash, write.stock, write.balance, write.holding] {
            let (op, bound) = delta.guard();
            invocation.arg(delta.0).arg(op).arg(bound);
        }
        invocation
            .arg(&write.entry)
            .arg(write.tape_cap)
            .arg(self.keys.changes());
        crate::trace!("redis: commit EVALSHA (the trade script): check the quote, guard, add");
        let reply: Vec<Value> = self.with_connection("committing to redis", |connection| {
            invocation.invoke(connection)
        })?;
        let text = |value: &Value| match value {
            Value::BulkString(bytes) if !bytes.is_empty() => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            _ => None,
        };
        let values = || reply[1..].iter().map(text).collect();
        match reply.first() {
            Some(Value::Int(1)) => {
                crate::trace!("redis: committed; change_seq bumped and PUBLISHed");
                Ok(Traded::Written(values()))
            }
            Some(Value::Int(0)) => Ok(Traded::Conflict(values())),
            _ => Err(failure(
                &self.address,
                "committing to redis",
                redis::RedisError::from((
                    redis::ErrorKind::TypeError,
                    "unexpected reply from the trade script",
                    format!("{reply:?}"),
                )),
            )),
        }
    }
}
