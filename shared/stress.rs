//! The trading half of `exchange-lab stress`: what one worker process does
//! on its own account (random buys, each sold back, seeded, so runs
//! repeat), and the reports a run produces. Starting the processes,
//! releasing them together and showing progress is the `exchange-lab`
//! binary's job; what they trade and how a run is summed up is here,
//! testable in one process. An unlocked run's rights are the library's
//! ([`crate::store::shm::UnlockedDemo`]): a worker asks for them itself.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, Audit, CurrencyId, Side};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::store::{MarketAddress, Store};

/// What `exchange-lab stress` is asked to do.
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
    /// Trades committed.
    pub trades: u64,
    /// Trades the market refused (an empty balance, say).
    pub refused: u64,
    /// The worker's own trading time.
    pub nanos: u64,
    /// When it stopped trading, on [`monotonic_nanos`]'s clock, which every
    /// process of the machine shares: the run ends at the latest of these.
    pub finished_at: u64,
}

/// A worker reports its progress every this many trades.
pub const PROGRESS_EVERY: u64 = 4096;

/// Nanoseconds on `CLOCK_MONOTONIC`, one clock for every process of the
/// machine, so a parent and its workers can time one run together.
pub fn monotonic_nanos() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |now| {
        (now.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(now.tv_nsec() as u64)
    })
}

/// The outcome of a stress run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StressReport {
    pub procs: usize,
    pub trades_each: u64,
    pub seed: u64,
    pub unlocked: bool,
    /// Trades committed.
    pub trades: u64,
    /// Trades refused (an empty balance, say); not counted in the rate.
    pub refused: u64,
    /// From the common start (the workers' release) to the last worker's
    /// end.
    pub seconds: String,
    /// Committed trades per second of that wall time.
    pub trades_per_second: u64,
    /// What each worker's account was given from the exchange's cash
    /// before the run, by a recorded transfer; `None` when nothing was.
    pub funded_each: Option<Money>,
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

    /// A value in `0..bound` (0 when `bound` is 0), by multiplying and
    /// keeping the high half (Lemire's method) instead of a remainder: a
    /// 64-bit division cost a stress trade more than its lock did. The
    /// bias is below `bound / 2^64`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

pub use crate::store::shm::{is_worker_account, worker_account};

/// The largest amount a worker trades at once: 1.00.
const MAX_AMOUNT: i64 = 100;

/// Tops each worker account up from the exchange's cash, by a recorded
/// transfer, to what `options.trades` trades can lose to the
/// spread plus room to hold currency, so that refusals stay rare. Never
/// more than half the cash, shared among the workers. Only the owner may
/// move the cash: for anyone else, and for an unlocked run (whose market
/// is a demonstration), nothing is moved and `None` returned.
pub fn fund_workers(
    exchange: &Store,
    accounts: &[AccountId],
    options: &StressOptions,
) -> Result<Option<Money>> {
    if options.unlocked || accounts.is_empty() || exchange.require_owner("fund").is_err() {
        return Ok(None);
    }
    let rates = exchange.rates()?;
    let widest_spread = rates
        .iter()
        .map(|rate| rate.sell.ten_thousandths() - rate.buy.ten_thousandths())
        .max()
        .unwrap_or(0);
    let dearest = rates
        .iter()
        .map(|rate| rate.sell.ten_thousandths())
        .max()
        .unwrap_or(0);
    // Per trade at most MAX_AMOUNT x the spread, plus a cent of rounding;
    // and room to hold a hundred of the dearest currency. In hundredths.
    let per_trade = i128::from(widest_spread) * i128::from(MAX_AMOUNT) / 10_000 + 1;
    let need = i128::from(options.trades) * per_trade + i128::from(dearest) / 100 * 100;
    let cash = exchange.status()?.cash.hundredths();
    let share = i128::from(cash) / 2 / accounts.len() as i128;
    let target = need.min(share).clamp(0, i128::from(i64::MAX)) as i64;
    let mut funded = Money::ZERO;
    for &account in accounts {
        let balance = exchange.portfolio(account)?.balance.hundredths();
        if let Some(top_up) = target.checked_sub(balance).filter(|gap| *gap > 0) {
            let top_up = Money::from_hundredths(top_up);
            exchange.transfer_from_cash(account, top_up)?;
            funded = funded.max(top_up);
        }
    }
    Ok((funded > Money::ZERO).then_some(funded))
}

/// One worker, attached, its account open, ready to trade. Preparing
/// does everything slow (attach, open the account, look the currencies
/// up) so that [`Worker::trade`] measures trading only.
pub struct Worker {
    exchange: Store,
    account: AccountId,
    currencies: Vec<CurrencyId>,
}

impl Worker {
    /// Attaches to `address` and opens (or finds) `account_name`. For an
    /// `unlocked` run, the library's rights come first
    /// ([`Store::unlocked_demo`]), and the account must be a stress
    /// account, so a refused worker opens nothing.
    pub fn prepare(address: &MarketAddress, account_name: &str, unlocked: bool) -> Result<Worker> {
        let exchange = Store::attach(address)?;
        if unlocked {
            exchange.unlocked_demo()?;
            if !is_worker_account(account_name) {
                return Err(Error::MarketInUse {
                    address: exchange.address().to_string(),
                    accounts: vec![account_name.to_owned()],
                });
            }
        }
        let account = exchange.open_account(account_name)?;
        let currencies: Vec<_> = exchange
            .currencies()
            .iter()
            .map(|currency| exchange.currency(&currency.name))
            .collect::<Result<_>>()?;
        Ok(Worker {
            exchange,
            account,
            currencies,
        })
    }

    /// Makes `trades` trades from `seed`, in pairs: a buy of a random
    /// amount (0.01 to 1.00) of a random currency, then the sell of what
    /// it bought, so a funded account keeps trading however long the run
    /// (it loses only the spread), and the workload is the one every
    /// venue of `exchange-lab bench` runs. `unlocked` skips the lock, as
    /// the textbook does (demonstration only), and is refused unless the
    /// library allows this caller to race on this market
    /// ([`Store::unlocked_demo`]); a run that loses that right on the way
    /// (the market halted, another account opened) stops with its error.
    /// A refused trade counts as refused (a refused buy is followed by a
    /// new buy); anything worse stops the run. `progress` is told the trades done so far every
    /// [`PROGRESS_EVERY`] trades.
    pub fn trade(
        self,
        trades: u64,
        seed: u64,
        unlocked: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<WorkerReport> {
        let mut random = SplitMix64::new(seed);
        let mut report = WorkerReport {
            trades: 0,
            refused: 0,
            nanos: 0,
            finished_at: 0,
        };
        let exchange = &self.exchange;
        let unlocked = if unlocked {
            Some(exchange.unlocked_demo()?)
        } else {
            None
        };
        let mut bought: Option<(CurrencyId, Money)> = None;
        let started = Instant::now();
        for done in 0..trades {
            if done % BACKING_CHECK_EVERY == 0 {
                // Like a trader before every command, but every few trades,
                // so the check (an fstat) does not dominate a benchmark; a
                // page lost in between is the SIGBUS handler's to report.
                exchange.check_backing()?;
            }
            if done % PROGRESS_EVERY == 0 && done > 0 {
                progress(done);
            }
            let (side, currency, amount) = match bought.take() {
                Some((currency, amount)) => (Side::Sell, currency, amount),
                None => {
                    let index = random.below(self.currencies.len() as u64) as usize;
                    let amount = 1 + random.below(MAX_AMOUNT as u64) as i64;
                    (
                        Side::Buy,
                        self.currencies[index],
                        Money::from_hundredths(amount),
                    )
                }
            };
            let result = match &unlocked {
                Some(demo) => demo.trade(self.account, side, currency, amount),
                None => exchange.trade(self.account, side, currency, amount),
            };
            match result {
                Ok(fill) => {
                    report.trades += 1;
                    if side == Side::Buy {
                        bought = Some((currency, fill.amount));
                    }
                }
                Err(error) if error.is_refusal() && !(unlocked.is_some() && ends_race(&error)) => {
                    report.refused += 1
                }
                Err(error) => return Err(error),
            }
        }
        report.nanos = started.elapsed().as_nanos() as u64;
        report.finished_at = monotonic_nanos();
        Ok(report)
    }
}

/// A refusal that ends an unlocked run instead of one trade: the market
/// stopped being the race's to corrupt (halted, or an account that is not
/// a stress account, or not the caller's).
fn ends_race(error: &Error) -> bool {
    matches!(
        error,
        Error::Halted
            | Error::MarketInUse { .. }
            | Error::NotOwner { .. }
            | Error::NotYourAccount { .. }
    )
}

/// Trades between two checks of the segment's size by a stress worker:
/// a few milliseconds' worth. The check is a system call (`fstat`), which
/// every 64 trades cost a trade more than its lock; the SIGBUS handler
/// covers the trades in between.
const BACKING_CHECK_EVERY: u64 = 4096;

impl StressReport {
    /// Sums up a run of `options`: the workers' reports, the wall time
    /// from their common start to the last one's end, what each was
    /// funded with, and the audit after it. The rate counts committed
    /// trades only.
    pub fn new(
        options: &StressOptions,
        reports: &[WorkerReport],
        elapsed: Duration,
        funded_each: Option<Money>,
        audit: Audit,
    ) -> StressReport {
        let trades = reports.iter().map(|report| report.trades).sum::<u64>();
        let refused = reports.iter().map(|report| report.refused).sum::<u64>();
        let nanos = elapsed.as_nanos().max(1);
        StressReport {
            procs: options.procs,
            trades_each: options.trades,
            seed: options.seed,
            unlocked: options.unlocked,
            trades,
            refused,
            seconds: format!("{:.3}", elapsed.as_secs_f64()),
            trades_per_second: (u128::from(trades) * 1_000_000_000 / nanos) as u64,
            funded_each,
            audit,
        }
    }

    /// The exit status the run deserves: a locked run must audit clean; an
    /// unlocked one has done its job by showing the race; a run where
    /// nothing was committed has failed either way.
    pub fn exit_status(&self) -> crate::exit::ExitStatus {
        if self.trades == 0 && self.refused > 0 {
            crate::exit::ExitStatus::Refused
        } else if self.audit.consistent || self.unlocked {
            crate::exit::ExitStatus::Success
        } else {
            crate::exit::ExitStatus::Refused
        }
    }

    /// Refused trades as a percentage of all attempted, e.g. `"0.03%"`.
    pub fn refused_percent(&self) -> String {
        let all = (u128::from(self.trades) + u128::from(self.refused)).max(1);
        let hundredths = u128::from(self.refused) * 10_000 / all;
        format!("{}.{:02}%", hundredths / 100, hundredths % 100)
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
            let report = Worker::prepare(&address.clone().into(), &worker_account(0), false)
                .and_then(|worker| worker.trade(500, 42, false, |_| {}));
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
        // Buy-then-sell pairs: with nothing refused, every buy was sold
        // back, and only the spread was lost.
        assert_eq!(first.refused, 0);
        assert!(
            portfolio
                .holdings
                .iter()
                .all(|(_, amount)| *amount == Money::ZERO),
            "{portfolio:?}"
        );
        assert!(portfolio.balance < MarketConfig::default().starting_balance);
        let (second, same_portfolio, _) = run();
        assert_eq!(
            (first.trades, first.refused),
            (second.trades, second.refused)
        );
        assert_eq!(portfolio, same_portfolio);
    }

    #[test]
    fn below_stays_below_its_bound_and_reaches_every_value() {
        let mut random = SplitMix64::new(7);
        assert_eq!(random.below(0), 0);
        assert_eq!(random.below(1), 0);
        for bound in [2, 3, 4, 100] {
            let mut seen = vec![false; bound as usize];
            for _ in 0..10_000 {
                let value = random.below(bound);
                assert!(value < bound, "{value} from below({bound})");
                seen[value as usize] = true;
            }
            assert!(seen.iter().all(|&hit| hit), "below({bound}) missed a value");
        }
        assert!(random.below(u64::MAX) < u64::MAX);
    }

    #[test]
    fn a_report_sums_the_workers_and_rates_committed_trades_by_wall_time() {
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
            finished_at: 0,
        };
        let audit = Audit {
            consistent: true,
            currencies: Vec::new(),
            money: crate::domain::MoneyAudit {
                cash: crate::money::WideMoney::ZERO,
                balances: crate::money::WideMoney::ZERO,
                initial_cash: crate::money::WideMoney::ZERO,
                accounts: 0,
                accounts_opened: 0,
                starting_balances: crate::money::WideMoney::ZERO,
                discrepancy: crate::money::WideMoney::ZERO,
            },
        };
        let report = StressReport::new(
            &options,
            &[worker(8, 2, 500_000_000), worker(12, 0, 1_000_000_000)],
            Duration::from_millis(1250),
            None,
            audit,
        );
        assert_eq!((report.trades, report.refused), (20, 2));
        // 20 committed in 1.25 s of wall time; refusals do not count.
        assert_eq!(report.trades_per_second, 16);
        assert_eq!(report.seconds, "1.250");
        assert_eq!(report.refused_percent(), "9.09%");
        assert_eq!(report.exit_status(), crate::exit::ExitStatus::Success);
        let nothing = StressReport {
            trades: 0,
            ..report.clone()
        };
        assert_eq!(nothing.exit_status(), crate::exit::ExitStatus::Refused);
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
