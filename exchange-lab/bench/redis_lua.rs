//! The Redis anchor: a trade done entirely inside one `EVALSHA`, rules in
//! Lua, on the same server and the same keys as the product's Redis store,
//! measured beside the store at 1, 2, 4 and 8 clients in alternated
//! rounds. It is what a trade costs when the server does everything in one
//! round trip; the store keeps its rules in Rust and aims at half of it or
//! better (see BENCHMARKS.md). The anchor is the bench's only: its Lua
//! does arithmetic in doubles, exact only to 2^53, which is one reason the
//! product does not trade this way.
//!
//! The server's own counters (`INFO commandstats`, reset before each run)
//! give each run's round trips and retries per committed trade.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use shm_exchange::store::redis::RedisAddress;
use shm_exchange::{Error, MarketAddress, MarketConfig, Money, Result, Side, Store};

use super::procs::counted_workers;
use super::redis::RedisServer;
use super::venue::Venue;
use super::{median, processes, rate_text, Recorder, Row, Series, PROCESS_COUNTS};

/// The whole trade: checks, the rules, the writes, the tape entry and the
/// change notice, as the store's scripts leave them.
///
/// - KEYS: the meta hash, the currency's hash, the account's hash, the tape.
/// - ARGV: `buy` or `sell`, the amount in hundredths, the holding field,
///   the epoch, the account's serial, the tape entry's account part (slot,
///   serial, name), the currency's index, the tape's cap, the channel.
///
/// Returns `{1}` once traded, `{0, why}` when the rules refuse.
const SCRIPT: &str = r#"#!lua
local m = redis.call('HMGET', KEYS[1], 'epoch', 'state', 'halted', 'cash')
if m[1] ~= ARGV[4] or m[2] ~= 'ready' then
  return redis.error_reply('RETIRED the market was removed or replaced')
end
if m[3] ~= '0' then return {0, 'halted'} end
local q = redis.call('HMGET', KEYS[2], 'sell', 'buy', 'stock')
local a = redis.call('HMGET', KEYS[3], 'status', 'serial', 'balance', ARGV[3])
if a[1] ~= 'open' or a[2] ~= ARGV[5] then return {0, 'closed'} end
local amount = tonumber(ARGV[2])
local cash, stock, balance, holding = tonumber(m[4]), tonumber(q[3]), tonumber(a[3]), tonumber(a[4])
local price, total, sign
if ARGV[1] == 'buy' then
  price = tonumber(q[1])
  total = math.ceil(amount * price / 10000)
  if balance < total then return {0, 'insufficient balance'} end
  if stock < amount then return {0, 'insufficient stock'} end
  sign = 1
else
  price = tonumber(q[2])
  total = math.floor(amount * price / 10000)
  if holding < amount then return {0, 'insufficient holding'} end
  if total <= 0 then return {0, 'nothing paid'} end
  if cash < total then return {0, 'insufficient cash'} end
  sign = -1
end
local function add(key, field, delta)
  redis.call('HINCRBY', key, field, string.format('%d', delta))
end
add(KEYS[1], 'cash', sign * total)
add(KEYS[2], 'stock', -sign * amount)
add(KEYS[3], 'balance', -sign * total)
add(KEYS[3], ARGV[3], sign * amount)
local seq = string.format('%d', redis.call('HINCRBY', KEYS[1], 'trade_seq', 1))
redis.call('HINCRBY', KEYS[3], 'trades', 1)
redis.call('HSET', KEYS[3], 'last_trade', seq)
redis.call('LPUSH', KEYS[4], string.format('%s %s %s %s %d %d %d', seq, ARGV[1],
  ARGV[6], ARGV[7], amount, price, total))
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[8]) - 1)
redis.call('PUBLISH', ARGV[9], redis.call('HINCRBY', KEYS[1], 'change_seq', 1))
return {1}
"#;

/// The market's key names, as the store spells them (`shared/store/redis/keys.rs`).
fn key(address: &RedisAddress, rest: &str) -> String {
    format!("exchange:{{{}}}:{rest}", address.name)
}

/// The Redis address of a market address the bench made.
fn redis_address(address: &str) -> Result<RedisAddress> {
    match address.parse::<MarketAddress>() {
        Ok(MarketAddress::Redis(address)) => Ok(address),
        _ => Err(bench_error(address, "not a redis address")),
    }
}

fn bench_error(address: &str, reason: impl Into<String>) -> Error {
    Error::Corrupted {
        address: address.to_owned(),
        reason: reason.into(),
    }
}

/// A plain connection to the server of `address`, for the anchor's script
/// and the counters.
fn connect(address: &RedisAddress) -> Result<redis::Connection> {
    let failed = |error: redis::RedisError| bench_error(&address.server(), error.to_string());
    redis::Client::open(format!("redis://{}:{}/", address.host, address.port))
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(3)))
        .map_err(failed)
}

/// One `bench-worker --kind redis-lua` process: its account, opened through
/// the store, traded by [`SCRIPT`] alone.
pub struct LuaTrader {
    connection: redis::Connection,
    script: redis::Script,
    address: String,
    /// Per currency: its hash and its index.
    currencies: Vec<String>,
    meta: String,
    account: String,
    tape: String,
    channel: String,
    epoch: String,
    serial: String,
    /// The tape entry's account part: slot, serial, name.
    who: String,
}

impl LuaTrader {
    /// Attaches to the market at `address` and opens the worker's account.
    pub fn attach(address: &str, account: usize) -> Result<LuaTrader> {
        let name = format!("bench{account}");
        let store = Store::attach(&address.parse().map_err(|_| bench_error(address, "bad"))?)?;
        store.open_account(&name)?;
        let currencies = store.currencies().len();
        let redis_address = redis_address(address)?;
        let mut connection = connect(&redis_address)?;
        let failed = |error: redis::RedisError| bench_error(address, error.to_string());
        let meta = key(&redis_address, "meta");
        let slot: u32 = redis::cmd("HGET")
            .arg(key(&redis_address, "accounts"))
            .arg(&name)
            .query(&mut connection)
            .map_err(failed)?;
        let account = key(&redis_address, &format!("account:{slot}"));
        let (epoch, serial): (String, String) = redis::pipe()
            .hget(&meta, "epoch")
            .hget(&account, "serial")
            .query(&mut connection)
            .map_err(failed)?;
        Ok(LuaTrader {
            script: redis::Script::new(SCRIPT),
            address: address.to_owned(),
            currencies: (0..currencies)
                .map(|index| key(&redis_address, &format!("currency:{index}")))
                .collect(),
            tape: key(&redis_address, "tape"),
            channel: key(&redis_address, "changes"),
            who: format!("{slot} {serial} {name}"),
            connection,
            meta,
            account,
            epoch,
            serial,
        })
    }

    pub fn currencies(&self) -> usize {
        self.currencies.len()
    }
}

impl Venue for LuaTrader {
    fn trade(&mut self, side: Side, currency: usize, amount: Money) -> Result<bool> {
        let side = match side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        };
        let reply: Vec<redis::Value> = self
            .script
            .key(&self.meta)
            .key(&self.currencies[currency])
            .key(&self.account)
            .key(&self.tape)
            .arg(side)
            .arg(amount.hundredths())
            .arg(format!("holding:{currency}"))
            .arg(&self.epoch)
            .arg(&self.serial)
            .arg(&self.who)
            .arg(currency)
            .arg(shm_exchange::domain::TAPE_LEN)
            .arg(&self.channel)
            .invoke(&mut self.connection)
            .map_err(|error| bench_error(&self.address, error.to_string()))?;
        Ok(reply.first() == Some(&redis::Value::Int(1)))
    }
}

/// What the server counted over one run.
struct Counted {
    /// Committed trades per second, all clients together.
    rate: f64,
    round_trips: f64,
    retries: f64,
}

/// Calls of `command` in `INFO commandstats`.
fn calls(stats: &str, command: &str) -> u64 {
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

/// One run of `kind` workers (`redis` or `redis-lua`) on a fresh market,
/// with the server's counters reset before it and read after it.
fn counted_run(
    lab: &Path,
    server: &RedisServer,
    config: &MarketConfig,
    kind: &str,
    procs: usize,
    trades: u64,
) -> Result<Counted> {
    let market = server.create_market(&format!("{kind}{procs}"), config)?;
    let address = redis_address(&market.address())?;
    let mut connection = connect(&address)?;
    let failed = |error: redis::RedisError| bench_error(&market.address(), error.to_string());
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query::<()>(&mut connection)
        .map_err(failed)?;
    let (rate, committed) = counted_workers(lab, kind, &market.address(), procs, trades)?;
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut connection)
        .map_err(failed)?;
    market.check_audit()?;
    let committed = committed.max(1) as f64;
    let (evalsha, exec) = (calls(&stats, "evalsha"), calls(&stats, "exec"));
    // Each client's opening commits once; any commit beyond one a trade
    // (and beyond the openings) is a retry.
    let retries = evalsha.saturating_sub(committed as u64 + procs as u64) as f64;
    Ok(Counted {
        rate,
        round_trips: (evalsha + exec) as f64 / committed,
        retries: retries / committed,
    })
}

/// (e)'s Redis rows: the store and the all-Lua trade at every client count,
/// `rounds` alternated rounds of `trades` each (the rows are medians),
/// pushed to `table` as each count is measured; `shared`, if given, is
/// shared memory's series to compare the store with. A count whose runs
/// fail is a row saying why, and the next count goes on. Returns both
/// series.
pub(super) fn rows(
    lab: &Path,
    server: &RedisServer,
    config: &MarketConfig,
    (trades, rounds): (u64, usize),
    shared: Option<&Series>,
    table: &mut Recorder,
    mut progress: impl FnMut(&str),
) -> [Series; 2] {
    let mut store = Series::new("Redis store");
    let mut lua = Series::new("Redis, all-Lua trade");
    for procs in PROCESS_COUNTS {
        progress(&format!(
            "(e) Redis and the all-Lua trade, {}",
            processes(procs)
        ));
        let label = format!("(e) Redis, {}", processes(procs));
        let measured = (|| -> Result<[Counted; 2]> {
            let mut runs: [Vec<Counted>; 2] = [Vec::new(), Vec::new()];
            for _ in 0..rounds.max(1) {
                for (kind, runs) in ["redis", "redis-lua"].into_iter().zip(&mut runs) {
                    runs.push(counted_run(lab, server, config, kind, procs, trades)?);
                }
            }
            Ok(runs.map(|runs| {
                let of = |value: fn(&Counted) -> f64| median(runs.iter().map(value).collect());
                Counted {
                    rate: of(|run| run.rate),
                    round_trips: of(|run| run.round_trips),
                    retries: of(|run| run.retries),
                }
            }))
        })();
        let Some([of_store, of_lua]) = table.measured(&label, measured) else {
            continue;
        };
        store.points.push((procs, of_store.rate));
        lua.points.push((procs, of_lua.rate));
        let against_shared = shared
            .and_then(|shared| shared.points.iter().find(|(count, _)| *count == procs))
            .map(|(_, rate)| format!("shared memory is {:.0}x faster; ", rate / of_store.rate))
            .unwrap_or_default();
        table.push(Row::new(
            label,
            rate_text(of_store.rate),
            format!(
                "{against_shared}{:.2}x the all-Lua trade (target >= 0.5x); {:.2} round trips and {:.3} retries per trade; medians of {} alternated round{}",
                of_store.rate / of_lua.rate,
                of_store.round_trips,
                of_store.retries,
                rounds.max(1),
                if rounds > 1 { "s" } else { "" }
            ),
        ));
        table.push(Row::new(
            format!("    all-Lua trade, same server, {}", processes(procs)),
            rate_text(of_lua.rate),
            format!(
                "anchor: the whole trade in one EVALSHA; {:.2} round trips per trade",
                of_lua.round_trips
            ),
        ));
    }
    if let (Some((1, one)), Some((8, eight))) = (store.points.first(), store.points.last()) {
        table.push(Row::new(
            "    Redis store, 8 clients against 1".into(),
            format!("{:.2}x", eight / one),
            "aggregate rate (target >= 1x)".into(),
        ));
    }
    [store, lua]
}
