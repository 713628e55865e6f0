//! The Redis rival, traded through the product's own Redis store
//! ([`shm_exchange::store::redis::RedisMarket`], reached through [`Store`]): a
//! bench trade costs what a student's trade costs on Redis. It reads the
//! values it needs, computes with the market's shared rules, and commits
//! with the store's compare-and-set Lua script, computing again when
//! another trader moved a value first.
//!
//! The bench starts its own `redis-server` on a free loopback port with a
//! temporary directory and no persistence (no RDB snapshots, AOF off:
//! this favours Redis), creates each run's market the way `exchange-init`
//! does, and kills the server when dropped.
#![forbid(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shm_exchange::domain::{AccountId, CurrencyId};
use shm_exchange::render::{self, Style};
use shm_exchange::{Error, MarketAddress, MarketConfig, Money, Reply, Result, Side, Store};

use super::venue::Venue;
use crate::stress::os_error;

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
        let mut server = RedisServer { child, dir, port };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // One that exits at once (a bad build, a port taken) is not
            // waited for.
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(failed(
                    "starting",
                    io::Error::other(format!("it exited: {status}")),
                ));
            }
            match answers_ping(port) {
                Ok(_) => return Ok(server),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(error) => return Err(failed("answering a PING", error)),
            }
        }
    }

    /// Creates a market named `name` on this server with `config`, as
    /// `exchange-init` does; it is removed when dropped.
    pub fn create_market(&self, name: &str, config: &MarketConfig) -> Result<BenchMarket> {
        let address = parse_address(&format!("redis://127.0.0.1:{}/{name}", self.port))?;
        let store = Store::create(&address, config, None)?;
        Ok(BenchMarket { address, store })
    }
}

/// Whether the server at `port` answers a PING yet.
fn answers_ping(port: u16) -> io::Result<()> {
    let failed = |error: ::redis::RedisError| io::Error::other(error.to_string());
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}/")).map_err(failed)?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .map_err(failed)?;
    ::redis::cmd("PING")
        .query::<String>(&mut connection)
        .map(drop)
        .map_err(failed)
}

fn parse_address(text: &str) -> Result<MarketAddress> {
    text.parse().map_err(|error| Error::Os {
        address: text.to_owned(),
        what: "reading the address",
        source: io::Error::other(error),
    })
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One run's market on the bench's server; removed when dropped.
pub struct BenchMarket {
    address: MarketAddress,
    store: Store,
}

impl BenchMarket {
    /// The address workers attach to.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Refuses a run that left the market's audit inconsistent: a store
    /// that loses money is not a rival, whatever its speed.
    pub fn check_audit(&self) -> Result<()> {
        let audit = self.store.audit()?;
        if audit.consistent {
            return Ok(());
        }
        Err(Error::Corrupted {
            address: self.address(),
            reason: render::reply(&Reply::Audit(audit), Style::Line),
        })
    }
}

impl Drop for BenchMarket {
    fn drop(&mut self) {
        let _ = Store::remove(&self.address);
    }
}

/// One `bench-worker --kind redis` process: the market attached through
/// the store, and the account it opened there.
pub struct StoreTrader {
    store: Store,
    account: AccountId,
    /// The market's currencies, by the workload's indexes.
    currencies: Vec<CurrencyId>,
}

impl StoreTrader {
    /// Attaches to the market at `address` and opens the worker's account.
    pub fn attach(address: &str, account: usize) -> Result<StoreTrader> {
        let store = Store::attach(&parse_address(address)?)?;
        let account = store.open_account(&format!("bench{account}"))?;
        let currencies = store
            .currencies()
            .iter()
            .map(|currency| store.currency(&currency.name))
            .collect::<Result<_>>()?;
        Ok(StoreTrader {
            store,
            account,
            currencies,
        })
    }

    pub fn currencies(&self) -> usize {
        self.currencies.len()
    }
}

impl Venue for StoreTrader {
    fn trade(&mut self, side: Side, currency: usize, amount: Money) -> Result<bool> {
        let Some(&currency) = self.currencies.get(currency) else {
            return Err(Error::UnknownCurrency {
                name: currency.to_string(),
                suggestion: None,
            });
        };
        match self.store.trade(self.account, side, currency, amount) {
            Ok(_) => Ok(true),
            Err(
                Error::InsufficientBalance { .. }
                | Error::InsufficientStock { .. }
                | Error::InsufficientHolding { .. }
                | Error::InsufficientCash { .. },
            ) => Ok(false),
            Err(error) => Err(error),
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
