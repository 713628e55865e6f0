//! The trading half of `trader stress`: what one worker process does on
//! its own account (random buys and sells, seeded, so runs repeat), and
//! the reports a run produces. Starting the processes, releasing them
//! together and showing progress is the `trader` binary's job; what they
//! trade and how a run is summed up is here, testable in one process.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::market::{AccountId, Audit, CurrencyId, Side};
use crate::money::Money;
use crate::store::{MarketAddress, Store};

/// What `trader stress` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StressOptions {
    pub procs: usize,
    pub trades: u64,
    pub seed: u64,
    /// Skip the lock, as the textbook version does. Demonstration only.
    pub unlocked: bool,
}

/// What one worker did, as it reports it on its stdout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub trades: u64,
    pub refused: u64,
    pub nanos: u64,
}

/// The outcome of a stress run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StressReport {
    pub procs: usize,
    pub trades_each: u64,
    pub seed: u64,
    pub unlocked: bool,
    /// Trades that went through.
    pub trades: u64,
    /// Trades refused (an empty balance, say); they took the lock too.
    pub refused: u64,
    /// From the release of the workers to the last one exiting.
    pub seconds: String,
    pub trades_per_second: u64,
    pub audit: Audit,
}

/// A small, fast, seedable generator (SplitMix64): reproducible runs
/// without a dependency.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// The account name of worker `index`.
pub fn worker_account(index: usize) -> String {
    format!("stress-{index}")
}

/// One worker, attached and holding a copy of its account, ready to
/// trade. Preparing does everything slow (attach, open the account, look
/// the currencies up) so that [`Worker::trade`] measures trading only.
pub struct Worker {
    exchange: Store,
    account: AccountId,
    currencies: Vec<CurrencyId>,
    balance: Money,
    holdings: Vec<Money>,
}

impl Worker {
    /// Attaches to `address` and opens (or finds) `account_name`.
    pub fn prepare(address: &MarketAddress, account_name: &str) -> Result<Worker> {
        let exchange = Store::attach(address)?;
        let account = exchange.open_account(account_name)?;
        let currencies: Vec<_> = exchange
            .currencies()
            .iter()
            .map(|currency| exchange.currency(&currency.name))
            .collect::<Result<_>>()?;
        let portfolio = exchange.portfolio(account)?;
        Ok(Worker {
            exchange,
            account,
            currencies,
            balance: portfolio.balance,
            holdings: portfolio
                .holdings
                .into_iter()
                .map(|(_, amount)| amount)
                .collect(),
        })
    }

    /// Makes `trades` random trades from `seed`; `unlocked` skips the lock,
    /// as the textbook does (demonstration only). A refused trade counts as
    /// refused; anything worse stops the run.
    pub fn trade(mut self, trades: u64, seed: u64, unlocked: bool) -> Result<WorkerReport> {
        let mut random = SplitMix64::new(seed);
        let mut report = WorkerReport {
            trades: 0,
            refused: 0,
            nanos: 0,
        };
        let exchange = &self.exchange;
        let unlocked = if unlocked {
            Some(exchange.unlocked_demo()?)
        } else {
            None
        };
        let started = Instant::now();
        for _ in 0..trades {
            let index = random.below(self.currencies.len() as u64) as usize;
            let currency = self.currencies[index];
            let amount = Money::from_hundredths(1 + random.below(100) as i64);
            // Random, but a buy the balance cannot pay for becomes a sell of
            // something held, so long runs keep trading instead of refusing.
            let can_sell = self.holdings[index] >= amount;
            let can_buy = exchange
                .quote(Side::Buy, currency, amount)
                .is_ok_and(|(_, cost)| cost <= self.balance);
            let side = match (can_buy, can_sell) {
                (true, true) if random.below(2) == 0 => Side::Sell,
                (false, true) => Side::Sell,
                _ => Side::Buy,
            };
            let result = match &unlocked {
                Some(demo) => demo.trade(self.account, side, currency, amount),
                None => exchange.trade(self.account, side, currency, amount),
            };
            match result {
                Ok(fill) => {
                    report.trades += 1;
                    self.balance = fill.balance;
                    let holding = &mut self.holdings[index];
                    *holding = match side {
                        Side::Buy => holding.checked_add(fill.amount),
                        Side::Sell => holding.checked_sub(fill.amount),
                    }
                    .unwrap_or(*holding);
                }
                Err(error) if error.is_refusal() => report.refused += 1,
                Err(error) => return Err(error),
            }
        }
        report.nanos = started.elapsed().as_nanos() as u64;
        Ok(report)
    }
}

impl StressReport {
    /// Sums up a run of `options`: the workers' reports, the time from
    /// their release to the last exit, and the audit after it.
    pub fn new(
        options: &StressOptions,
        reports: &[WorkerReport],
        elapsed: Duration,
        audit: Audit,
    ) -> StressReport {
        let trades = reports.iter().map(|report| report.trades).sum::<u64>();
        let refused = reports.iter().map(|report| report.refused).sum::<u64>();
        // The workers start together on "go"; the slowest one's own clock
        // is the run's length, free of the parent's polling granularity.
        let nanos = reports
            .iter()
            .map(|report| report.nanos)
            .max()
            .unwrap_or(0)
            .max(1);
        StressReport {
            procs: options.procs,
            trades_each: options.trades,
            seed: options.seed,
            unlocked: options.unlocked,
            trades,
            refused,
            seconds: format!("{:.3}", elapsed.as_secs_f64()),
            trades_per_second: ((u128::from(trades + refused) * 1_000_000_000) / u128::from(nanos))
                as u64,
            audit,
        }
    }

    /// The exit status the run deserves: a locked run must audit clean; an
    /// unlocked one has done its job by showing the race.
    pub fn exit_status(&self) -> crate::exit::ExitStatus {
        if self.audit.consistent || self.unlocked {
            crate::exit::ExitStatus::Success
        } else {
            crate::exit::ExitStatus::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exchange, MarketConfig, SegmentAddress};

    #[test]
    fn a_seeded_worker_trades_the_same_way_twice_and_audits_clean() {
        let address: SegmentAddress = format!("posix:/shmx-stress-{}", std::process::id())
            .parse()
            .unwrap();
        let run = || {
            let exchange = Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap();
            let report = Worker::prepare(&address.clone().into(), &worker_account(0))
                .and_then(|worker| worker.trade(500, 42, false));
            let account = exchange.open_account(&worker_account(0));
            let portfolio = account.and_then(|account| exchange.portfolio(account));
            let audit = exchange.audit();
            let _ = Exchange::remove(&address);
            (report.unwrap(), portfolio.unwrap(), audit.unwrap())
        };
        let (first, portfolio, audit) = run();
        assert_eq!(first.trades + first.refused, 500);
        assert!(first.trades > 0);
        assert!(audit.consistent);
        let (second, same_portfolio, _) = run();
        assert_eq!(
            (first.trades, first.refused),
            (second.trades, second.refused)
        );
        assert_eq!(portfolio, same_portfolio);
    }

    #[test]
    fn a_report_sums_the_workers_and_rates_by_the_slowest() {
        let options = StressOptions {
            procs: 2,
            trades: 10,
            seed: 1,
            unlocked: false,
        };
        let worker = |trades, refused, nanos| WorkerReport {
            trades,
            refused,
            nanos,
        };
        let audit = Audit {
            consistent: true,
            currencies: Vec::new(),
            money: crate::market::MoneyAudit {
                cash: Money::ZERO,
                balances: Money::ZERO,
                initial_cash: Money::ZERO,
                accounts: 0,
                starting_balances: Money::ZERO,
                discrepancy: Money::ZERO,
            },
        };
        let report = StressReport::new(
            &options,
            &[worker(8, 2, 500_000_000), worker(10, 0, 1_000_000_000)],
            Duration::from_millis(1250),
            audit,
        );
        assert_eq!((report.trades, report.refused), (18, 2));
        assert_eq!(report.trades_per_second, 20);
        assert_eq!(report.seconds, "1.250");
        assert_eq!(report.exit_status(), crate::exit::ExitStatus::Success);
        let failed = StressReport {
            audit: Audit {
                consistent: false,
                ..report.audit.clone()
            },
            ..report
        };
        assert_eq!(failed.exit_status(), crate::exit::ExitStatus::Refused);
    }
}
