//! `trader`'s command line: the clap definitions of the trading mode and
//! of each instrument, and the dispatch from them to the library's drivers
//! and the binary's own instruments.
#![forbid(unsafe_code)]

use std::io::{self, BufReader, IsTerminal, Write};
use std::path::PathBuf;

use clap::Parser;

use shm_exchange::address::{DEFAULT_SEGMENT, SEGMENT_ENV};
use shm_exchange::driver;
use shm_exchange::envelope::Envelope;
use shm_exchange::render::{self, Style};
use shm_exchange::stress::StressOptions;
use shm_exchange::{Error, ExitStatus, MarketAddress, Session, Store};

use crate::{bench, repl, serve, stress, watch};

const TRADER_EXAMPLES: &str = "\
Examples:
  trader                                  interactive, as $USER, on the default exchange
  trader --name alice buy DOLLAR 10       one command, then exit
  trader --json rates                     one JSON object
  printf 'buy EURO 1\\nportfolio\\n' | trader --name bob
  trader --segment posix:/class --script orders.txt
  trader --segment redis://10.0.0.5:6379/class    the same market, on a Redis server

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
    /// The exchange: posix:/NAME, sysv:KEY, sysv:PATH:ID, file:PATH or
    /// redis://[:PASSWORD@]HOST:PORT/NAME.
    #[arg(long, value_name = "SEG", env = SEGMENT_ENV, hide_env_values = true, default_value = DEFAULT_SEGMENT)]
    pub segment: MarketAddress,
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
fn run_instrument(args: &TraderArgs, name: &str) -> Option<ExitStatus> {
    let words = args.command.iter().map(String::as_str);
    let usage = |error: clap::Error| {
        let _ = error.print();
        // clap exits 0 for --help and --version, 2 for a usage error.
        if error.exit_code() == 0 {
            ExitStatus::Success
        } else {
            ExitStatus::Unusable
        }
    };
    let fail = |error: Error| {
        eprintln!("trader: {error}");
        error.exit_code()
    };
    let trader_exe = || std::env::current_exe().unwrap_or_else(|_| PathBuf::from("trader"));
    let status = match args.command.first()?.as_str() {
        "stress" => match StressArgs::try_parse_from(words) {
            Ok(stress) => {
                let options = StressOptions {
                    procs: usize::from(stress.procs),
                    trades: stress.trades,
                    seed: stress.seed,
                    unlocked: stress.unlocked,
                };
                match stress::run_stress(&trader_exe(), &args.segment, &options) {
                    Ok(report) => {
                        if stress.json || args.json {
                            print_line(&Envelope::success("stress", &report).to_json());
                        } else {
                            print_line(&stress::describe(&report));
                        }
                        report.exit_status()
                    }
                    Err(error) => fail(error),
                }
            }
            Err(error) => usage(error),
        },
        "stress-worker" => match StressWorkerArgs::try_parse_from(words) {
            Ok(worker) => {
                match stress::run_worker(
                    &args.segment,
                    name,
                    worker.trades,
                    worker.seed,
                    worker.unlocked,
                ) {
                    Ok(_) => ExitStatus::Success,
                    Err(error) => fail(error),
                }
            }
            Err(error) => usage(error),
        },
        "watch" => match WatchArgs::try_parse_from(words) {
            Ok(watch) => match Store::attach(&args.segment)
                .and_then(|exchange| watch::run_watch(&exchange, usize::from(watch.trades)))
            {
                Ok(status) => status,
                Err(error) => fail(error),
            },
            Err(error) => usage(error),
        },
        "bench" => match BenchArgs::try_parse_from(words) {
            Ok(options) => {
                let size = if options.quick {
                    bench::BenchSize::QUICK
                } else {
                    bench::BenchSize::FULL
                };
                match bench::run(&trader_exe(), size, |step| eprintln!("running {step}...")) {
                    Ok(rows) => {
                        if options.json || args.json {
                            print_line(&Envelope::success("bench", bench::Rows { rows }).to_json());
                        } else {
                            print_line(&bench::table(&rows));
                        }
                        ExitStatus::Success
                    }
                    Err(error) => fail(error),
                }
            }
            Err(error) => usage(error),
        },
        "serve" => match SocketArgs::try_parse_from(words) {
            Ok(server) => match args
                .segment
                .segment("trader serve")
                .and_then(|segment| serve::serve(segment, &server.socket))
            {
                Ok(()) => ExitStatus::Success,
                Err(error) => fail(error),
            },
            Err(error) => usage(error),
        },
        "mp-client" => match SocketArgs::try_parse_from(words) {
            Ok(client) => match serve::message_client(&client.socket, client.trades) {
                Ok(_) => ExitStatus::Success,
                Err(error) => fail(error),
            },
            Err(error) => usage(error),
        },
        _ => return None,
    };
    Some(status)
}

/// `trader`'s whole program, after clap: an instrument, or trading in
/// one of the three modes (script, one-shot, REPL).
pub fn run(args: TraderArgs) -> ExitStatus {
    let fail = |error: &Error| {
        if args.json {
            print_line(&render::error(error, Style::Json));
        } else {
            eprintln!("trader: {error}");
        }
        error.exit_code()
    };
    let Some(name) = args.name.clone().or_else(default_account_name) else {
        eprintln!("trader: no account name: $USER is not set; pass --name NAME");
        return ExitStatus::Unusable;
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
                return ExitStatus::Unusable;
            }
        }
    } else if !args.command.is_empty() {
        let style = if args.json {
            Style::Json
        } else {
            Style::table_for(&io::stdout())
        };
        driver::run_one_shot(
            &mut session,
            &args.command,
            style,
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        )
    } else if io::stdin().is_terminal() {
        let style = if args.json { Style::Json } else { Style::Table };
        return match repl::run_repl(&mut session, style) {
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
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Refused,
        Err(error) => {
            eprintln!("trader: {error}");
            ExitStatus::Unusable
        }
    }
}
