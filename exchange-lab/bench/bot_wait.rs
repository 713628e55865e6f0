//! A bot's `wait` (issue 22): how soon it answers after a trade, and what
//! it costs while it waits. A `trader --json --script -` (the bot) runs
//! beside a market of the bench's own; each round it is sent `wait 5000`,
//! falls asleep in the kernel, and this process trades: the time from just
//! before the trade to the bot's answer on its pipe is the wake-up, the
//! reply's rendering and the pipe. Then one `wait 1000` on a quiet market,
//! with the bot's CPU time (utime + stime) read before and after.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use shm_exchange::{Exchange, Money, Result, Side};

use super::BenchSegment;
use crate::stress::os_error;

/// What the rows report.
pub struct BotWait {
    pub median_us: f64,
    pub worst_us: f64,
    /// Clock ticks of CPU the bot used in a quiet `wait 1000`.
    pub idle_ticks: u64,
}

/// The bot's process and pipes; killed when dropped.
struct Bot {
    /// The market's address, for errors.
    address: String,
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
    line: String,
}

impl Bot {
    /// Sends one command line.
    fn send(&mut self, line: &str) -> Result<()> {
        writeln!(self.to, "{line}")
            .and_then(|()| self.to.flush())
            .map_err(|error| os_error(&self.address, "writing to the bot", error))
    }

    /// The bot's next answer line.
    fn answer(&mut self) -> Result<&str> {
        self.line.clear();
        match self.from.read_line(&mut self.line) {
            Ok(0) => Err(os_error(
                &self.address,
                "reading the bot's answer",
                std::io::ErrorKind::UnexpectedEof.into(),
            )),
            Ok(_) => Ok(&self.line),
            Err(error) => Err(os_error(&self.address, "reading the bot's answer", error)),
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rounds` wake-ups of a bot's `wait` by a trade, and its CPU while a
/// `wait` sleeps.
pub fn measure(trader: &Path, rounds: usize) -> Result<BotWait> {
    let segment = BenchSegment::create("wait")?;
    let exchange = Exchange::attach(&segment.0)?;
    // Opened before the bot's `hello`, so each `wait` wakes on one trade.
    let account = exchange.open_account("mover")?;
    let dollar = exchange.currency("DOLLAR")?;
    let mut child = Command::new(trader)
        .args(["--segment", &segment.0.to_string()])
        .args(["--name", "bot", "--json", "--script", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| os_error(trader.display(), "starting the bot's trader", error))?;
    let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        return Err(os_error(
            &segment.0,
            "the bot's pipes",
            std::io::ErrorKind::BrokenPipe.into(),
        ));
    };
    let pid = child.id();
    let mut bot = Bot {
        address: segment.0.to_string(),
        child,
        to,
        from: BufReader::new(from),
        line: String::new(),
    };
    bot.send("hello")?;
    bot.answer()?;
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        bot.send("wait 5000")?;
        until_asleep(pid);
        let side = if round % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let traded = Instant::now();
        exchange.trade(account, side, dollar, Money::from_hundredths(1))?;
        let answer = bot.answer()?;
        latencies.push(traded.elapsed().as_secs_f64() * 1e6);
        if !answer.contains("\"changed\":true") {
            let missed = format!("the bot's wait missed the trade: {}", answer.trim());
            return Err(os_error(
                &segment.0,
                "waiting",
                std::io::Error::other(missed),
            ));
        }
    }
    latencies.sort_by(f64::total_cmp);
    let before = cpu_ticks(pid);
    bot.send("wait 1000")?;
    bot.answer()?;
    let idle_ticks = cpu_ticks(pid).saturating_sub(before);
    Ok(BotWait {
        median_us: latencies[latencies.len() / 2],
        worst_us: latencies[latencies.len() - 1],
        idle_ticks,
    })
}

/// Waits until the bot sleeps in a futex, at most 100 ms: a bot asleep,
/// as it would be between two changes.
fn until_asleep(pid: u32) {
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
    // After the command's closing parenthesis, utime and stime are the
    // 12th and 13th fields.
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
