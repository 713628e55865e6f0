//! `exchange-lab`'s command line: the clap definitions of `stress`,
//! `bench` and their worker processes, and the dispatch to them.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use shm_exchange::address::{DEFAULT_SEGMENT, SEGMENT_ENV};
use shm_exchange::envelope::{Envelope, ErrorEnvelope};
use shm_exchange::render::{self, Style};
use shm_exchange::stress::StressOptions;
use shm_exchange::{Error, ExitStatus, MarketAddress};

use crate::{bench, serve, stress};

const LAB_EXAMPLES: &str = "\
Examples:
  exchange-lab stress --procs 4 --trades 100000     many traders at once, then the audit
  exchange-lab --segment posix:/race stress --procs 2 --trades 50000 --unlocked
                                                    the textbook race, on a market of its own
  exchange-lab bench --quick                        shared memory against its rivals, a smoke run
  exchange-lab bench --plot bench.svg               the full table, and its picture
  exchange-lab completions bash|zsh|fish            a completion script; `exchange-lab man`: the manual

The trading itself is `trader`'s; this program is never installed with a
class's privilege.

Exit status: 0 success, 1 refused (an owner-only run, an inconsistent
audit, a benchmark row that failed), 2 usage error or the exchange cannot
be used.";

/// The lab around a shared-memory exchange: stress runs, the race
/// demonstration and the benchmarks.
///
/// `--segment` and `--json` may come before or after the subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "exchange-lab",
    version,
    after_help = LAB_EXAMPLES,
    disable_help_subcommand = true
)]
pub struct LabArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: LabCommand,
}

/// The options every subcommand takes, anywhere on the line.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The exchange: posix:/NAME, sysv:KEY, sysv:PATH:ID, file:PATH or
    /// redis://[:PASSWORD@]HOST:PORT/NAME.
    #[arg(long, global = true, value_name = "SEG", env = SEGMENT_ENV, hide_env_values = true, default_value = DEFAULT_SEGMENT)]
    pub segment: MarketAddress,
    /// Print JSON: one object for a stress run; one a row, then the whole
    /// table, for bench.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What the lab does. The workers are the lab's own processes, started by
/// `stress` and `bench`, and hidden from help and completion.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Many trader processes at once, then the audit.
    Stress(StressArgs),
    /// Shared memory against its rivals (the C loop, SQLite, Redis,
    /// message passing), side by side.
    Bench(BenchArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, ...).
    #[command(after_help = "Examples:
  exchange-lab completions bash > ~/.local/share/bash-completion/completions/exchange-lab
  exchange-lab completions zsh > ~/.zfunc/_exchange-lab")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `exchange-lab man | man -l -`.
    Man,
    /// One process of a stress run (internal).
    #[command(hide = true)]
    StressWorker(StressWorkerArgs),
    /// One process of the C-loop, SQLite or Redis benchmark (internal).
    #[command(hide = true)]
    BenchWorker(bench::worker::WorkerArgs),
    /// The message-passing benchmark's server (internal).
    #[command(hide = true)]
    Serve(SocketArgs),
    /// A message-passing benchmark client (internal).
    #[command(hide = true)]
    MpClient(SocketArgs),
}

/// `exchange-lab stress`: many trader processes at once, then the audit.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  exchange-lab stress --procs 4 --trades 100000
  exchange-lab --segment posix:/race stress --procs 2 --trades 20000 --unlocked

Each process trades on its own account (stress-0 onwards): a random buy
of 0.01 to 1.00 of a random currency, then its sell, and again. The rate
counts committed trades over the wall time from the workers' common start
to the last one's end; refused trades are reported apart. The exchange's
owner funds the stress accounts from the exchange's cash first, by a
recorded transfer, so the audit still balances.

--unlocked skips the lock, as the textbook version does, to show the race.
It corrupts the market it runs on, so the library allows it only to the
exchange's owner (or root), only on a market whose accounts are all the
owner's stress accounts, and never while trading is halted: give it a
segment of its own.")]
pub struct StressArgs {
    /// Trader processes to start, on accounts stress-0 onwards.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub procs: u16,
    /// Trades each process makes: a random buy, then its sell, and again.
    #[arg(long, default_value_t = 10_000)]
    pub trades: u64,
    /// Seed of the random trades; the same seed makes the same trades.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the lock (race demonstration only; owner only, on a market of
    /// stress accounts).
    #[arg(long)]
    pub unlocked: bool,
}

/// `exchange-lab stress-worker`: one process of a stress run (internal).
#[derive(Debug, Args)]
pub struct StressWorkerArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    trades: u64,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    unlocked: bool,
}

/// `exchange-lab bench`: every benchmark, side by side.
#[derive(Debug, Args)]
#[command(
    after_help = "Each row is printed as soon as it is measured. A measurement that
fails gets a row saying why, and the run goes on; the exit status is then 1.

Examples:
  exchange-lab bench --quick
  exchange-lab bench --plot docs/bench.svg
  exchange-lab bench --redis-only          the Redis store beside the all-Lua trade
  exchange-lab bench --trade-only          the trade beside the same-work C, and read"
)]
pub struct BenchArgs {
    /// A short smoke run instead of the full one.
    #[arg(long)]
    pub quick: bool,
    /// Also draw trades/s against process count into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Only the Redis rows: the store beside the all-Lua trade, at 1, 2, 4
    /// and 8 clients.
    #[arg(long, conflicts_with = "plot")]
    pub redis_only: bool,
    /// Only rows (a), (b) and (c): the trade beside the same-work C and
    /// the C loop, at 1, 2, 4 and 8 processes, and read by boards.
    #[arg(long, conflicts_with_all = ["plot", "redis_only"])]
    pub trade_only: bool,
}

/// `exchange-lab serve` and `exchange-lab mp-client`: the message-passing
/// benchmark's server and client processes (internal).
#[derive(Debug, Args)]
pub struct SocketArgs {
    #[arg(long)]
    socket: PathBuf,
    #[arg(long, default_value_t = 0)]
    trades: u64,
}

/// The command line that completion offers: clap_complete's bash script
/// would offer hidden subcommands too, so the workers are left out here.
fn completed_command() -> clap::Command {
    let full = LabArgs::command();
    let listed: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|subcommand| !subcommand.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("exchange-lab")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .args(full.get_arguments().cloned())
        .subcommands(listed)
}

/// Writes `text` and a newline; a closed pipe is not an error worth a word.
pub fn print_line(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// Reports the failure of `command`: one JSON object on stdout with
/// `--json`, else one line on stderr. Returns the error's exit status.
fn fail(error: &Error, command: &str, json: bool) -> ExitStatus {
    if json {
        print_line(&render::error(error, command, Style::Json));
    } else {
        eprintln!("exchange-lab: {error}");
    }
    error.exit_code()
}

/// What clap could not parse: help and version go to stdout with status 0;
/// a usage error is clap's message and status 2, or with `--json` anywhere
/// before a `--`, one JSON object saying the same.
pub fn usage_error(error: clap::Error) -> ExitStatus {
    if !error.use_stderr() {
        let _ = error.print();
        return ExitStatus::Success;
    }
    let json = std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json");
    if json {
        let message = render::usage_error_line(&error.render().to_string(), "exchange-lab");
        print_line(&ErrorEnvelope::new("exchange-lab", "usage", &message).to_json());
    } else {
        let _ = error.print();
    }
    ExitStatus::Unusable
}

/// `exchange-lab`'s whole program, after clap.
pub fn run(args: LabArgs) -> ExitStatus {
    let global = &args.global;
    let json = global.json;
    let lab_exe = || std::env::current_exe().unwrap_or_else(|_| PathBuf::from("exchange-lab"));
    match &args.command {
        LabCommand::Stress(stress) => {
            let options = StressOptions {
                procs: usize::from(stress.procs),
                trades: stress.trades,
                seed: stress.seed,
                unlocked: stress.unlocked,
            };
            match stress::run_stress(&lab_exe(), &global.segment, &options) {
                Ok(report) => {
                    if json {
                        print_line(&Envelope::success("stress", &report).to_json());
                    } else {
                        print_line(&stress::describe(&report));
                    }
                    report.exit_status()
                }
                Err(error) => fail(&error, "stress", json),
            }
        }
        LabCommand::StressWorker(worker) => match stress::run_worker(
            &global.segment,
            &worker.name,
            worker.trades,
            worker.seed,
            worker.unlocked,
        ) {
            Ok(_) => ExitStatus::Success,
            Err(error) => fail(&error, "stress-worker", false),
        },
        LabCommand::Bench(options) => {
            let programs = bench::Programs::beside(lab_exe());
            if options.redis_only {
                return bench::redis_command(&programs, options.quick, json);
            }
            if options.trade_only {
                return bench::trade_command(&programs, options.quick, json);
            }
            bench::command(&programs, options.quick, options.plot.as_deref(), json)
                .unwrap_or_else(|error| fail(&error, "bench", json))
        }
        LabCommand::BenchWorker(worker) => match bench::worker::run(worker) {
            Ok(()) => ExitStatus::Success,
            Err(error) => fail(&error, "bench-worker", false),
        },
        LabCommand::Serve(server) => match global
            .segment
            .segment("exchange-lab serve")
            .and_then(|segment| serve::serve(segment, &server.socket))
        {
            Ok(()) => ExitStatus::Success,
            Err(error) => fail(&error, "serve", false),
        },
        LabCommand::MpClient(client) => {
            match serve::message_client(&client.socket, client.trades) {
                Ok(_) => ExitStatus::Success,
                Err(error) => fail(&error, "mp-client", false),
            }
        }
        LabCommand::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut completed_command(),
                "exchange-lab",
                &mut io::stdout(),
            );
            ExitStatus::Success
        }
        LabCommand::Man => {
            match clap_mangen::Man::new(LabArgs::command()).render(&mut io::stdout().lock()) {
                Ok(()) => ExitStatus::Success,
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
                Err(error) => {
                    eprintln!("exchange-lab: cannot write the manual page: {error}");
                    ExitStatus::Unusable
                }
            }
        }
    }
}
