//! The two command lines, `exchange-init` and `trader`, as plain functions
//! so that each binary's `main` is one call.

use std::io::{self, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::address::{SegmentAddress, DEFAULT_SEGMENT, SEGMENT_ENV};
use crate::command::Session;
use crate::config::MarketConfig;
use crate::driver::{self, EXIT_FATAL, EXIT_REFUSED};
use crate::error::Error;
use crate::market::{Exchange, Status};
use crate::render::Style;

const TRADER_EXAMPLES: &str = "\
Examples:
  trader                                  interactive, as $USER, on the default exchange
  trader --name alice buy DOLLAR 10       one command, then exit
  trader --json rates                     one JSON object
  printf 'buy EURO 1\\nportfolio\\n' | trader --name bob
  trader --segment posix:/class --script orders.txt

Instruments for a class (each has its own --help):
  trader watch                            live board of rates and trades; q leaves
  trader stress --procs 4 --trades 10000  many traders at once, then the audit
  trader stress --unlocked ...            the textbook race, on a segment of its own
  trader bench                            shared memory against message passing

Exit status: 0 all commands succeeded, 1 a command was refused,
2 usage error or the exchange cannot be used.";

/// Buy and sell currency on a shared-memory exchange.
#[derive(Debug, Parser)]
#[command(name = "trader", version, after_help = TRADER_EXAMPLES)]
pub struct TraderArgs {
    /// The exchange: posix:/NAME, sysv:KEY, sysv:PATH:ID or file:PATH.
    #[arg(long, value_name = "SEG", env = SEGMENT_ENV, default_value = DEFAULT_SEGMENT)]
    pub segment: SegmentAddress,
    /// Account to trade as (default: $USER). Opened on first use.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Print one JSON object per command.
    #[arg(long)]
    pub json: bool,
    /// Read commands from FILE, one a line.
    #[arg(long, value_name = "FILE", conflicts_with = "command")]
    pub script: Option<PathBuf>,
    /// One command to run, e.g. `buy DOLLAR 10`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

const INIT_EXAMPLES: &str = "\
Examples:
  exchange-init                           create the default exchange, posix:/shm-exchange
  exchange-init --force --mode 0666       replace it, open to every user
  exchange-init --segment sysv:0x5eed --config market.toml
  exchange-init --status --json
  exchange-init --remove

Exit status: 0 done, 1 the exchange already exists (pass --force),
2 anything else went wrong; nothing is changed then.";

/// Create, replace, remove or inspect a shared-memory exchange.
#[derive(Debug, Parser)]
#[command(name = "exchange-init", version, after_help = INIT_EXAMPLES)]
pub struct InitArgs {
    /// The exchange: posix:/NAME, sysv:KEY, sysv:PATH:ID or file:PATH.
    #[arg(long, value_name = "SEG", env = SEGMENT_ENV, default_value = DEFAULT_SEGMENT)]
    pub segment: SegmentAddress,
    /// Seed the market from a TOML file (JSON if it ends in .json).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["remove", "status"])]
    pub config: Option<PathBuf>,
    /// Permission bits, applied exactly whatever the umask.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = parse_mode, conflicts_with_all = ["remove", "status"])]
    pub mode: u32,
    /// Replace an existing exchange (its traders are told to restart).
    #[arg(long, conflicts_with_all = ["remove", "status"])]
    pub force: bool,
    /// Remove the exchange (its traders are told it is gone).
    #[arg(long, conflicts_with = "status")]
    pub remove: bool,
    /// Show the header, size, mode and attached processes.
    #[arg(long)]
    pub status: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8).ok().filter(|_| octal) {
        Some(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("{text:?} is not an octal mode from 0000 to 0777")),
    }
}

fn default_account_name() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
}

/// Writes `text` and a newline; a closed pipe is not an error worth a word.
fn print_line(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// Scripted mode reads and writes in blocks this big. Output is flushed
/// whenever the input runs dry, so an interactive driver still gets each
/// answer at once.
const SCRIPT_BUFFER: usize = 64 * 1024;

/// `trader`'s whole program.
pub fn trader_main() -> ExitCode {
    let args = TraderArgs::parse();
    ExitCode::from(run_trader(args))
}

/// `trader stress`: many trader processes at once, then the audit.
#[derive(Debug, Parser)]
#[command(
    name = "trader stress",
    bin_name = "trader stress",
    after_help = "Examples:
  trader stress --procs 4 --trades 100000
  trader --segment posix:/race stress --procs 2 --trades 20000 --unlocked

--unlocked skips the lock, as the textbook version does, to show the race.
It is for that demonstration only: it corrupts the market it runs on, so
give it a segment of its own."
)]
pub struct StressArgs {
    /// Trader processes to start, on accounts stress-0 onwards.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub procs: u16,
    /// Random buys and sells each process makes.
    #[arg(long, default_value_t = 10_000)]
    pub trades: u64,
    /// Seed of the random trades; the same seed makes the same trades.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the lock (race demonstration only).
    #[arg(long)]
    pub unlocked: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trader stress-worker`: one process of a stress run (internal).
#[derive(Debug, Parser)]
#[command(name = "trader stress-worker")]
struct StressWorkerArgs {
    #[arg(long)]
    trades: u64,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    unlocked: bool,
}

/// `trader watch`: the live board.
#[derive(Debug, Parser)]
#[command(
    name = "trader watch",
    bin_name = "trader watch",
    after_help = "Keys: q, Esc or Ctrl-C leave."
)]
pub struct WatchArgs {
    /// How many of the latest trades to show.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub trades: u16,
}

/// `trader bench`: every benchmark, side by side.
#[derive(Debug, Parser)]
#[command(name = "trader bench", bin_name = "trader bench")]
pub struct BenchArgs {
    /// A short smoke run instead of the full one.
    #[arg(long)]
    pub quick: bool,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trader serve` and `trader mp-client`: the message-passing benchmark's
/// server and client processes (internal).
#[derive(Debug, Parser)]
#[command(name = "trader serve")]
struct SocketArgs {
    #[arg(long)]
    socket: PathBuf,
    #[arg(long, default_value_t = 0)]
    trades: u64,
}

/// Runs `trader stress|watch|bench|...`, or `None` for a trading command.
fn run_instrument(args: &TraderArgs, name: &str) -> Option<u8> {
    let words = args.command.iter().map(String::as_str);
    let usage = |error: clap::Error| {
        let _ = error.print();
        u8::try_from(error.exit_code()).unwrap_or(EXIT_FATAL)
    };
    let fail = |error: Error| {
        eprintln!("trader: {error}");
        error.exit_code()
    };
    let trader_exe = || std::env::current_exe().unwrap_or_else(|_| PathBuf::from("trader"));
    let status = match args.command.first()?.as_str() {
        "stress" => {
            let stress = match StressArgs::try_parse_from(words) {
                Ok(stress) => stress,
                Err(error) => return Some(usage(error)),
            };
            let options = crate::stress::StressOptions {
                procs: usize::from(stress.procs),
                trades: stress.trades,
                seed: stress.seed,
                unlocked: stress.unlocked,
            };
            match crate::stress::run_stress(&trader_exe(), &args.segment, &options) {
                Ok(report) if stress.json || args.json => {
                    let mut value = serde_json::json!({ "ok": true, "command": "stress" });
                    if let (
                        serde_json::Value::Object(fields),
                        Ok(serde_json::Value::Object(more)),
                    ) = (&mut value, serde_json::to_value(&report))
                    {
                        fields.extend(more);
                    }
                    print_line(&value.to_string());
                    stress_status(&report)
                }
                Ok(report) => {
                    print_line(&describe_stress(&report));
                    stress_status(&report)
                }
                Err(error) => fail(error),
            }
        }
        "stress-worker" => match StressWorkerArgs::try_parse_from(words) {
            Ok(worker) => {
                match crate::stress::run_worker(
                    &args.segment,
                    name,
                    worker.trades,
                    worker.seed,
                    worker.unlocked,
                ) {
                    Ok(_) => 0,
                    Err(error) => fail(error),
                }
            }
            Err(error) => usage(error),
        },
        "watch" => match WatchArgs::try_parse_from(words) {
            Ok(watch) => match Exchange::attach(&args.segment)
                .and_then(|exchange| crate::watch::run_watch(&exchange, usize::from(watch.trades)))
            {
                Ok(status) => status,
                Err(error) => fail(error),
            },
            Err(error) => usage(error),
        },
        "bench" => {
            match BenchArgs::try_parse_from(words) {
                Ok(bench) => {
                    let size = if bench.quick {
                        crate::bench::BenchSize::QUICK
                    } else {
                        crate::bench::BenchSize::FULL
                    };
                    match crate::bench::run(&trader_exe(), size, |step| {
                        eprintln!("running {step}...")
                    }) {
                        Ok(rows) if bench.json || args.json => {
                            print_line(&serde_json::json!({ "ok": true, "command": "bench", "rows": rows }).to_string());
                            0
                        }
                        Ok(rows) => {
                            print_line(&crate::bench::table(&rows));
                            0
                        }
                        Err(error) => fail(error),
                    }
                }
                Err(error) => usage(error),
            }
        }
        "serve" => match SocketArgs::try_parse_from(words) {
            Ok(serve) => match crate::bench::serve(&args.segment, &serve.socket) {
                Ok(()) => 0,
                Err(error) => fail(error),
            },
            Err(error) => usage(error),
        },
        "mp-client" => match SocketArgs::try_parse_from(words) {
            Ok(client) => match crate::bench::message_client(&client.socket, client.trades) {
                Ok(_) => 0,
                Err(error) => fail(error),
            },
            Err(error) => usage(error),
        },
        _ => return None,
    };
    Some(status)
}

/// Locked runs must audit clean; an unlocked run has done its job by
/// showing the race.
fn stress_status(report: &crate::stress::StressReport) -> u8 {
    if report.audit.consistent || report.unlocked {
        0
    } else {
        EXIT_REFUSED
    }
}

fn describe_stress(report: &crate::stress::StressReport) -> String {
    let mode = if report.unlocked {
        "UNLOCKED: trades skip the lock, as in the textbook (race demonstration only)"
    } else {
        "locked"
    };
    format!(
        "stress: {} processes x {} trades, seed {}, {mode}\n  {} trades ({} refused) in {} s: {:.2} M trades/s\n  {}",
        report.procs,
        report.trades_each,
        report.seed,
        report.trades,
        report.refused,
        report.seconds,
        report.trades_per_second as f64 / 1e6,
        crate::render::reply(&crate::command::Reply::Audit(report.audit.clone()), Style::Line)
    )
}

fn run_trader(args: TraderArgs) -> u8 {
    let fail = |error: &Error| {
        if args.json {
            print_line(&crate::render::error(error, Style::Json));
        } else {
            eprintln!("trader: {error}");
        }
        error.exit_code()
    };
    let Some(name) = args.name.clone().or_else(default_account_name) else {
        eprintln!("trader: no account name: $USER is not set; pass --name NAME");
        return EXIT_FATAL;
    };
    if let Some(status) = run_instrument(&args, &name) {
        return status;
    }
    let mut session = match Session::open(&args.segment, &name) {
        Ok(session) => session,
        Err(error) => return fail(&error),
    };
    let style = if args.json { Style::Json } else { Style::Line };
    let result = if let Some(path) = &args.script {
        match std::fs::File::open(path) {
            Ok(file) => driver::run_script(
                &mut session,
                &mut BufReader::with_capacity(SCRIPT_BUFFER, file),
                &mut io::BufWriter::with_capacity(SCRIPT_BUFFER, io::stdout().lock()),
                style,
            ),
            Err(error) => {
                eprintln!(
                    "trader: cannot read the script {}: {error}; check the path",
                    path.display()
                );
                return EXIT_FATAL;
            }
        }
    } else if !args.command.is_empty() {
        driver::run_one_shot(
            &mut session,
            &args.command,
            args.json,
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        )
    } else if io::stdin().is_terminal() {
        let style = if args.json { Style::Json } else { Style::Table };
        return match driver::run_repl(&mut session, style) {
            Ok(status) => status,
            Err(error) => fail(&error),
        };
    } else {
        let stdout = io::stdout().lock();
        let mut output = io::BufWriter::with_capacity(SCRIPT_BUFFER, stdout);
        driver::run_script(
            &mut session,
            &mut BufReader::with_capacity(SCRIPT_BUFFER, io::stdin().lock()),
            &mut output,
            style,
        )
    };
    match result {
        Ok(status) => status,
        // The reader went away (a closed pipe): stop quietly.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => EXIT_REFUSED,
        Err(error) => {
            eprintln!("trader: {error}");
            EXIT_FATAL
        }
    }
}

/// `exchange-init`'s whole program.
pub fn init_main() -> ExitCode {
    let args = InitArgs::parse();
    match run_init(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if args.json {
                print_line(&crate::render::error(&error, Style::Json));
            } else {
                eprintln!("exchange-init: {error}");
            }
            ExitCode::from(match error {
                Error::AlreadyExists { .. } => EXIT_REFUSED,
                _ => EXIT_FATAL,
            })
        }
    }
}

fn run_init(args: &InitArgs) -> Result<(), Error> {
    if args.remove {
        Exchange::remove(&args.segment)?;
        if args.json {
            print_line(
                &serde_json::json!({ "ok": true, "removed": args.segment.to_string() }).to_string(),
            );
        } else {
            print_line(&format!("removed the exchange at {}", args.segment));
        }
        return Ok(());
    }
    let exchange = if args.status {
        Exchange::attach(&args.segment)?
    } else {
        let config = match &args.config {
            Some(path) => MarketConfig::load(path)?,
            None => MarketConfig::default(),
        };
        if args.force {
            Exchange::replace(&args.segment, &config, args.mode)?
        } else {
            Exchange::create(&args.segment, &config, args.mode)?
        }
    };
    let status = exchange.status()?;
    if args.json {
        let mut value = serde_json::to_value(&status).unwrap_or_default();
        if let serde_json::Value::Object(fields) = &mut value {
            fields.insert("ok".into(), true.into());
        }
        print_line(&value.to_string());
    } else {
        let verb = if args.status {
            "exchange"
        } else {
            "created the exchange"
        };
        print_line(&format!("{verb} at {}", describe(&status)));
    }
    Ok(())
}

fn describe(status: &Status) -> String {
    let mut text = format!(
        "{}: {} bytes, mode {}, owner uid {}",
        status.address, status.size, status.mode, status.owner_uid
    );
    if let Some(attached) = status.attached {
        text.push_str(&format!(", {attached} attached besides this one"));
    }
    text.push_str(&format!(
        "\n  layout version {}, {} of {} accounts open, cash {}, {} trades",
        status.layout_version, status.accounts, status.account_capacity, status.cash, status.trades
    ));
    text.push_str(&format!(
        "\n  {:<15} {:>10} {:>10} {:>14}",
        "CURRENCY", "SELL", "BUY", "STOCK"
    ));
    for rate in &status.currencies {
        text.push_str(&format!(
            "\n  {:<15} {:>10} {:>10} {:>14}",
            rate.name,
            rate.sell.to_string(),
            rate.buy.to_string(),
            rate.stock.to_string()
        ));
    }
    text
}
