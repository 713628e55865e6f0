//! `exchange-lab bench-worker` (internal): one process of the C-loop,
//! same-work C, SQLite or Redis measurement. Like a `stress` worker it attaches, says `ready`,
//! waits for `go`, trades, and prints its report; every venue runs the
//! same workload, so the rows compare stores, not workloads. A board
//! (`--kind board`) reads instead of trading: see [`readers`].
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Instant;

use clap::{Args, ValueEnum};

use shm_exchange::domain::AccountId;
use shm_exchange::store::shm::CWorkload;
use shm_exchange::stress::worker_account;
use shm_exchange::stress::{monotonic_nanos, SplitMix64, WorkerReport};
use shm_exchange::testing::{BaselineSegment, BASELINE_CURRENCIES};
use shm_exchange::{Exchange, Money, Result, SegmentAddress, Side};

use super::venue::Venue;
use super::{readers, redis, redis_lua, sqlite};
use crate::stress::{self, os_error};

/// Which store a worker trades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The C loop: the same robust mutex and a trade's bare stores.
    Baseline,
    /// The same work as a trade, written in C, on a product segment.
    CSame,
    /// A SQLite database, one transaction a trade.
    Sqlite,
    /// The product's Redis store: read, the shared rules, a Lua commit.
    Redis,
    /// Redis's anchor: the whole trade in one Lua script.
    RedisLua,
    /// No store: a board reading the market after each change, for (c).
    Board,
}

/// `exchange-lab bench-worker`'s arguments.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The baseline segment's name, the segment's address (c-same), the
    /// database's path, the Redis market's address, or the board's
    /// segment.
    #[arg(long)]
    pub target: String,
    /// Account index, from 0.
    #[arg(long, default_value_t = 0)]
    pub account: usize,
    #[arg(long, default_value_t = 0)]
    pub trades: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl Venue for (BaselineSegment, usize) {
    fn trade(&mut self, side: Side, currency: usize, amount: Money) -> Result<bool> {
        self.0
            .trade(self.1, currency, side == Side::Buy, amount.hundredths())
            .map_err(|error| os_error("the baseline segment", "trading", error))?;
        Ok(true)
    }
}

/// A product segment traded on by the same-work C, as `stress` worker
/// `account` (the account `exchange-lab stress` would give it), looped in
/// C so that no Rust is timed.
pub struct CSameTrader {
    exchange: Exchange,
    account: AccountId,
}

impl CSameTrader {
    /// Attaches to `address` and opens (or finds) the worker's account.
    pub fn attach(address: &str, account: usize) -> Result<CSameTrader> {
        let address: SegmentAddress = address.parse()?;
        let exchange = Exchange::attach(&address)?;
        let account = exchange.open_account(&worker_account(account))?;
        Ok(CSameTrader { exchange, account })
    }

    /// The stress worker's workload ([`trade_pairs`]'s too), in C.
    fn trade_pairs(&self, trades: u64, seed: u64) -> Result<WorkerReport> {
        let started = Instant::now();
        let run = self
            .exchange
            .run_in_c(self.account, CWorkload::Pairs { seed }, trades)?;
        Ok(WorkerReport {
            trades: run.traded,
            refused: run.refused,
            nanos: started.elapsed().as_nanos() as u64,
            finished_at: monotonic_nanos(),
        })
    }
}

/// The workload of every venue: a random buy of 0.01 to 1.00 of a random
/// currency, then the sell of the same, so a rich market refuses nothing.
pub fn trade_pairs(
    venue: &mut impl Venue,
    currencies: usize,
    trades: u64,
    seed: u64,
) -> Result<WorkerReport> {
    let mut random = SplitMix64::new(seed);
    let (mut currency, mut amount) = (0, Money::ZERO);
    let mut refused = 0;
    let started = Instant::now();
    for index in 0..trades {
        let side = if index % 2 == 0 {
            currency = random.below(currencies as u64) as usize;
            amount = Money::from_hundredths(1 + random.below(100) as i64);
            Side::Buy
        } else {
            Side::Sell
        };
        if !venue.trade(side, currency, amount)? {
            refused += 1;
        }
    }
    Ok(WorkerReport {
        trades: trades - refused,
        refused,
        nanos: started.elapsed().as_nanos() as u64,
        finished_at: monotonic_nanos(),
    })
}

/// Runs one worker: prepare, `ready`, wait for `go`, trade, report.
pub fn run(args: &WorkerArgs) -> Result<()> {
    let report = match args.kind {
        Kind::Board => return readers::run_board(&args.target),
        Kind::Baseline => {
            let segment = BaselineSegment::open(&args.target)
                .map_err(|error| os_error(&args.target, "opening", error))?;
            go(&mut (segment, args.account), BASELINE_CURRENCIES, args)?
        }
        Kind::CSame => {
            let trader = CSameTrader::attach(&args.target, args.account)?;
            stress::ready_then_wait_for_go();
            trader.trade_pairs(args.trades, args.seed)?
        }
        Kind::Sqlite => {
            let mut trader = sqlite::SqliteTrader::open(Path::new(&args.target), args.account)?;
            let currencies = trader.currencies();
            go(&mut trader, currencies, args)?
        }
        Kind::Redis => {
            let mut trader = redis::StoreTrader::attach(&args.target, args.account)?;
            let currencies = trader.currencies();
            go(&mut trader, currencies, args)?
        }
        Kind::RedisLua => {
            let mut trader = redis_lua::LuaTrader::attach(&args.target, args.account)?;
            let currencies = trader.currencies();
            go(&mut trader, currencies, args)?
        }
    };
    stress::print_report(&report);
    Ok(())
}

fn go(venue: &mut impl Venue, currencies: usize, args: &WorkerArgs) -> Result<WorkerReport> {
    stress::ready_then_wait_for_go();
    trade_pairs(venue, currencies, args.trades, args.seed)
}
