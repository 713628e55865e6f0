//! How fast a bot's `wait` wakes after a trade, and what it costs while it
//! waits: a measurement to run by hand, not a test.
//!
//!     cargo build && cargo run --example wait_latency [ROUNDS]
//!
//! It creates a market of its own, starts `trader --json --script -` (the
//! bot) beside it, and ROUNDS times (default 200) sends `wait 5000`, lets
//! the bot fall asleep in the kernel, trades from this process and times
//! from just before the trade to the bot's answer on the pipe: the wake-up,
//! the reply's rendering and the pipe. Then it sends one `wait 1000` on a
//! quiet market and reads the bot's CPU time (`/proc/PID/stat`, utime +
//! stime) before and after.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shm_exchange::{MarketAddress, MarketConfig, Money, Side, Store};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(200);
    let address: MarketAddress = format!("posix:/shmx-wait-latency-{}", std::process::id())
        .parse()
        .expect("a valid address");
    let store = Store::create(&address, &MarketConfig::default(), None).expect("a new market");
    // Opened before the bot's `hello`, so that each `wait` wakes on one trade.
    let account = store.open_account("mover").expect("an account");
    let dollar = store.currency("DOLLAR").expect("a currency");
    let trader = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("trader")))
        .filter(|path| path.exists())
        .expect("build the trader first: cargo build");
    let mut bot = Command::new(trader)
        .args([
            "--segment",
            &address.to_string(),
            "--name",
            "bot",
            "--json",
            "--script",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the trader starts");
    let pid = bot.id();
    let mut to_bot = bot.stdin.take().expect("a pipe");
    let mut from_bot = BufReader::new(bot.stdout.take().expect("a pipe"));
    let mut ask = |line: &str| {
        writeln!(to_bot, "{line}")
            .and_then(|()| to_bot.flush())
            .expect("the bot reads");
    };
    let mut answer = String::new();
    let mut read = |answer: &mut String| {
        answer.clear();
        from_bot.read_line(answer).expect("the bot answers");
    };
    ask("hello");
    read(&mut answer);

    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        ask("wait 5000");
        wait_until_asleep(pid);
        let side = if round % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let traded = Instant::now();
        store
            .trade(account, side, dollar, Money::from_hundredths(1))
            .expect("the trade");
        read(&mut answer);
        latencies.push(traded.elapsed());
        assert!(answer.contains("\"changed\":true"), "{answer}");
    }
    latencies.sort();
    let at = |share: f64| latencies[((latencies.len() - 1) as f64 * share) as usize];
    println!(
        "wait after a trade, {rounds} rounds: median {:?}, p90 {:?}, max {:?}",
        at(0.5),
        at(0.9),
        at(1.0)
    );

    let before = cpu_ticks(pid);
    let started = Instant::now();
    ask("wait 1000");
    read(&mut answer);
    let after = cpu_ticks(pid);
    println!(
        "a quiet `wait 1000` ({:?}): the bot used {} clock ticks of CPU (utime + stime); {}",
        started.elapsed(),
        after - before,
        answer.trim()
    );
    ask("quit");
    drop(to_bot);
    let _ = bot.wait();
    let _ = Store::remove(&address);
}

/// Waits until the bot sleeps in the kernel (its state `S`, in a futex),
/// at most 100 ms.
fn wait_until_asleep(pid: u32) {
    let deadline = Instant::now() + Duration::from_millis(100);
    while Instant::now() < deadline {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        if wchan.contains("futex") {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the line, the 12th and 13th after it.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |index: usize| {
        fields
            .get(index)
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}
