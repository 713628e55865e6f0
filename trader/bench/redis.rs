//! The Redis rival: the same market in a `redis-server` that the bench
//! starts on a free loopback port with a temporary directory and no
//! persistence, and kills when dropped. One Lua script per trade reads the
//! four values, makes the market's checks with its rounding (cost rounded
//! up, proceeds down, to the cent), writes the new values and a tape entry,
//! all atomically on the server: one round trip a trade.
//!
//! Self-contained on purpose, with a minimal RESP client and a script
//! shaped like the C loop's trade, so the row measures Redis itself rather
//! than a client library. To measure the product's Redis store
//! (`shared/redis/`) instead, replace [`RedisTrader`]'s `Venue` impl with
//! a call to that store's trade.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shm_exchange::{Error, MarketConfig, Money, Result, Side};

use super::worker::Venue;
use crate::stress::os_error;

/// The trade, atomically on the server. ARGV: account, currency, side
/// (`buy` or `sell`), amount in hundredths. Returns 1 if it traded, 0 if
/// the market's checks refused it.
const TRADE_SCRIPT: &str = r"
local account = 'account:' .. ARGV[1]
local currency = 'currency:' .. ARGV[2]
local held = 'h' .. ARGV[2]
local amount = tonumber(ARGV[4])
local quote = redis.call('HMGET', currency, 'sell', 'buy', 'stock')
local mine = redis.call('HMGET', account, 'balance', held)
local stock, balance, holding = tonumber(quote[3]), tonumber(mine[1]), tonumber(mine[2])
local cash = tonumber(redis.call('GET', 'cash'))
local price, total
if ARGV[3] == 'buy' then
  price = tonumber(quote[1])
  local product = amount * price
  total = (product - product % 10000) / 10000
  if product % 10000 ~= 0 then total = total + 1 end
  if balance < total or stock < amount then return 0 end
  stock, holding, balance, cash = stock - amount, holding + amount, balance - total, cash + total
else
  price = tonumber(quote[2])
  local product = amount * price
  total = (product - product % 10000) / 10000
  if holding < amount or total < 1 or cash < total then return 0 end
  stock, holding, balance, cash = stock + amount, holding - amount, balance + total, cash - total
end
local function int(value) return string.format('%d', value) end
redis.call('HSET', currency, 'stock', int(stock))
redis.call('HSET', account, 'balance', int(balance), held, int(holding))
redis.call('SET', 'cash', int(cash))
local seq = redis.call('INCR', 'trades')
redis.call('HSET', 'tape:' .. (seq % 256), 'seq', seq, 'account', ARGV[1], 'side', ARGV[3],
  'currency', ARGV[2], 'amount', ARGV[4], 'price', int(price), 'total', int(total))
return 1
";

/// How long a starting server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` of the bench's own; killed and its directory removed
/// when dropped.
pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// Why there is no Redis row.
pub enum Unavailable {
    /// `redis-server` is not installed: skip the row with this note.
    NotInstalled(String),
    /// It is installed but failed: a real error.
    Failed(Error),
}

impl RedisServer {
    /// Starts `program` (normally `redis-server`) on a free loopback port
    /// and waits until it answers.
    pub fn start(program: &str) -> std::result::Result<RedisServer, Unavailable> {
        let failed = |what, error| Unavailable::Failed(os_error("redis-server", what, error));
        // A port the kernel says is free now; the server binds it next.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|error| failed("finding a free port", error))?
            .port();
        let dir = std::env::temp_dir().join(format!("shmx-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|error| failed("making its directory", error))?;
        let spawned = Command::new(program)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(if error.kind() == io::ErrorKind::NotFound {
                    Unavailable::NotInstalled(format!(
                        "skipped: {program} is not installed (apt-get install redis-server)"
                    ))
                } else {
                    failed("starting", error)
                });
            }
        };
        let server = RedisServer { child, dir, port };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match Resp::connect(port).and_then(|mut resp| resp.call(&["PING"])) {
                Ok(_) => return Ok(server),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(error) => return Err(failed("answering a PING", error)),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Loads `config`'s market with `accounts` accounts, replacing any.
    pub fn load(&self, config: &MarketConfig, accounts: usize) -> Result<()> {
        let error = |error| os_error("redis-server", "loading the market", error);
        let mut resp = Resp::connect(self.port).map_err(error)?;
        let cash = config.cash.hundredths().to_string();
        resp.call(&["FLUSHALL"]).map_err(error)?;
        resp.call(&["SET", "cash", &cash]).map_err(error)?;
        for (index, currency) in config.currencies.iter().enumerate() {
            let (sell, buy) = (
                currency.sell.ten_thousandths(),
                currency.buy.ten_thousandths(),
            );
            resp.call(&[
                "HSET",
                &format!("currency:{index}"),
                "sell",
                &sell.to_string(),
                "buy",
                &buy.to_string(),
                "stock",
                &currency.stock.hundredths().to_string(),
            ])
            .map_err(error)?;
        }
        let balance = config.starting_balance.hundredths().to_string();
        for account in 0..accounts {
            let key = format!("account:{account}");
            resp.call(&["HSET", &key, "balance", &balance])
                .map_err(error)?;
            for index in 0..config.currencies.len() {
                resp.call(&["HSET", &key, &format!("h{index}"), "0"])
                    .map_err(error)?;
            }
        }
        resp.call(&["SET", "currencies", &config.currencies.len().to_string()])
            .map_err(error)?;
        Ok(())
    }

    /// Units of each currency (stock plus holdings) and all the money.
    pub fn totals(&self, currencies: usize, accounts: usize) -> Result<(Vec<i64>, i64)> {
        let error = |error| os_error("redis-server", "auditing", error);
        let mut resp = Resp::connect(self.port).map_err(error)?;
        let mut number = |args: &[&str]| -> io::Result<i64> {
            let reply = resp.call(args)?;
            reply
                .parse()
                .map_err(|_| io::Error::other(format!("not a number: {reply}")))
        };
        let mut money = number(&["GET", "cash"]).map_err(error)?;
        let mut units = Vec::with_capacity(currencies);
        for index in 0..currencies {
            units.push(number(&["HGET", &format!("currency:{index}"), "stock"]).map_err(error)?);
        }
        for account in 0..accounts {
            let key = format!("account:{account}");
            money += number(&["HGET", &key, "balance"]).map_err(error)?;
            for (index, unit) in units.iter_mut().enumerate() {
                *unit += number(&["HGET", &key, &format!("h{index}")]).map_err(error)?;
            }
        }
        Ok((units, money))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One process's connection, trading for one account.
pub struct RedisTrader {
    resp: Resp,
    script: String,
    account: String,
    currencies: usize,
}

impl RedisTrader {
    pub fn connect(port: u16, account: usize) -> Result<RedisTrader> {
        let error = |error| os_error(format!("127.0.0.1:{port}"), "connecting to Redis", error);
        let mut resp = Resp::connect(port).map_err(error)?;
        let script = resp
            .call(&["SCRIPT", "LOAD", TRADE_SCRIPT])
            .map_err(error)?;
        let currencies = resp
            .call(&["GET", "currencies"])
            .map_err(error)?
            .parse()
            .map_err(|_| error(io::Error::other("the market is not loaded")))?;
        Ok(RedisTrader {
            resp,
            script,
            account: account.to_string(),
            currencies,
        })
    }

    pub fn currencies(&self) -> usize {
        self.currencies
    }
}

impl Venue for RedisTrader {
    fn trade(&mut self, side: Side, currency: usize, amount: Money) -> Result<bool> {
        let side = if side == Side::Buy { "buy" } else { "sell" };
        let reply = self
            .resp
            .call(&[
                "EVALSHA",
                &self.script,
                "0",
                &self.account,
                &currency.to_string(),
                side,
                &amount.hundredths().to_string(),
            ])
            .map_err(|error| os_error("redis-server", "trading", error))?;
        Ok(reply == "1")
    }
}

/// The least of the Redis protocol (RESP2) a trade needs: send a command
/// as an array of bulk strings, read one reply as text. Errors come back
/// as `Err`; an array reply is not expected and is refused.
struct Resp {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
}

impl Resp {
    fn connect(port: u16) -> io::Result<Resp> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Resp {
            reader: BufReader::new(stream),
            request: Vec::with_capacity(256),
        })
    }

    fn call(&mut self, args: &[&str]) -> io::Result<String> {
        self.request.clear();
        write!(self.request, "*{}\r\n", args.len())?;
        for arg in args {
            write!(self.request, "${}\r\n{arg}\r\n", arg.len())?;
        }
        self.reader.get_mut().write_all(&self.request)?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" | ":" => Ok(rest.to_owned()),
            "-" => Err(io::Error::other(rest.to_owned())),
            "$" if rest == "-1" => Ok(String::new()),
            "$" => {
                let len: usize = rest
                    .parse()
                    .map_err(|_| io::Error::other("a bad bulk length from Redis"))?;
                let mut bulk = vec![0; len + 2];
                io::Read::read_exact(&mut self.reader, &mut bulk)?;
                bulk.truncate(len);
                String::from_utf8(bulk).map_err(|_| io::Error::other("a reply not in UTF-8"))
            }
            _ => Err(io::Error::other(format!(
                "an unexpected reply from Redis: {line}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_server_skips_the_row_with_a_note() {
        match RedisServer::start("shmx-no-such-redis-server") {
            Err(Unavailable::NotInstalled(note)) => {
                assert!(note.starts_with("skipped:"), "{note}");
                assert!(note.contains("not installed"), "{note}");
            }
            _ => panic!("a missing program must skip the row"),
        }
    }
}
