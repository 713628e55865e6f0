//! The measurements made by many processes at once: the C loop, the
//! same-work C, SQLite,
//! Redis (counted by [`super::redis_lua`]) and the message-passing server,
//! each at a given process count, with the same release-together protocol
//! as `exchange-lab stress`
//! ([`stress::run_workers`]). Each returns aggregate trades per second as
//! `stress` counts them: committed trades over the wall time from the
//! common start to the last worker's end.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use shm_exchange::stress::WorkerReport;
use shm_exchange::testing::BaselineSegment;
use shm_exchange::{Error, Exchange, MarketConfig, Result};

use super::sqlite::SqliteMarket;
use super::{per_second, BenchSegment};
use crate::stress::{self, os_error};

/// Starts `procs` `exchange-lab bench-worker --kind KIND` processes on `target`,
/// one account each, releases them together and rates the run.
fn bench_workers(lab: &Path, kind: &str, target: &str, procs: usize, trades: u64) -> Result<f64> {
    counted_workers(lab, kind, target, procs, trades).map(|(rate, _)| rate)
}

/// [`bench_workers`], with the count of committed trades.
pub(super) fn counted_workers(
    lab: &Path,
    kind: &str,
    target: &str,
    procs: usize,
    trades: u64,
) -> Result<(f64, u64)> {
    let commands = (0..procs)
        .map(|account| {
            let mut command = Command::new(lab);
            command
                .args(["bench-worker", "--kind", kind])
                .args(["--target", target])
                .args(["--account", &account.to_string()])
                .args(["--trades", &trades.to_string()])
                .args(["--seed", &(account + 1).to_string()]);
            command
        })
        .collect();
    let (elapsed, reports) = stress::run_workers(commands, |_| Ok(()))?;
    let committed = reports.iter().map(|report| report.trades).sum();
    Ok((rate(&reports, elapsed), committed))
}

/// Committed trades over the run's wall time; refused ones do not count.
fn rate(reports: &[WorkerReport], elapsed: Duration) -> f64 {
    let committed = reports.iter().map(|report| report.trades).sum();
    per_second(committed, elapsed.as_nanos())
}

/// The C loop with `procs` processes on one baseline segment.
pub fn c_loop(lab: &Path, procs: usize, trades: u64) -> Result<f64> {
    let name = format!("/shmx-bench-{}-cloop{procs}", std::process::id());
    let _segment = BaselineSegment::create(&name)
        .map_err(|error| os_error(&name, "creating the C loop's segment", error))?;
    bench_workers(lab, "baseline", &name, procs, trades)
}

/// The same-work C with `procs` processes on a product segment, one
/// stress account each; refused if the market fails its audit after.
pub fn c_same(lab: &Path, procs: usize, trades: u64) -> Result<f64> {
    let segment = BenchSegment::create(&format!("csame{procs}"))?;
    let target = segment.0.to_string();
    let rate = bench_workers(lab, "c-same", &target, procs, trades)?;
    if !Exchange::attach(&segment.0)?.audit()?.consistent {
        return Err(Error::Corrupted {
            address: target,
            reason: "a same-work C run failed its audit".into(),
        });
    }
    Ok(rate)
}

/// Refuses a rival's run whose totals moved: a store that loses money is
/// not a rival, whatever its speed.
fn audit(store: &str, before: (Vec<i64>, i64), after: (Vec<i64>, i64)) -> Result<()> {
    if before == after {
        return Ok(());
    }
    Err(Error::Corrupted {
        address: store.to_owned(),
        reason: format!("its totals moved from {before:?} to {after:?}"),
    })
}

/// SQLite with `procs` processes on one database in `/dev/shm`.
pub fn sqlite(lab: &Path, config: &MarketConfig, procs: usize, trades: u64) -> Result<f64> {
    let path =
        Path::new("/dev/shm").join(format!("shmx-bench-{}-{procs}.sqlite", std::process::id()));
    let market = SqliteMarket::create(path, config, procs)?;
    let before = market.totals()?;
    let target = market.path().display().to_string();
    let rate = bench_workers(lab, "sqlite", &target, procs, trades)?;
    audit(&target, before, market.totals()?)?;
    Ok(rate)
}

/// Aggregate trades per second with `clients` message-passing traders.
pub fn message_passing(lab: &Path, clients: usize, trades: u64) -> Result<f64> {
    let segment = BenchSegment::create(&format!("mp{clients}"))?;
    let socket =
        std::env::temp_dir().join(format!("shmx-bench-{}-{clients}.sock", std::process::id()));
    let mut server = Command::new(lab)
        .arg("--segment")
        .arg(segment.0.to_string())
        .arg("serve")
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| os_error("the server", "starting", error))?;
    // The server says "ready" once it listens.
    let mut ready = String::new();
    if let Some(stdout) = server.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut ready);
    }
    if let Some(mut stdin) = server.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let commands = (0..clients)
        .map(|_| {
            let mut command = Command::new(lab);
            command
                .arg("mp-client")
                .arg("--socket")
                .arg(&socket)
                .arg("--trades")
                .arg(trades.to_string());
            command
        })
        .collect();
    let outcome = stress::run_workers(commands, |_| Ok(()));
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&socket);
    // Wall time from the common start to the last client's end, as stress.
    let (elapsed, _) = outcome?;
    Ok(per_second(trades * clients as u64, elapsed.as_nanos()))
}
