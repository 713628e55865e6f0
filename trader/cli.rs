//! `trader`'s command line: the clap definitions of the trading mode and
//! of each instrument, and the dispatch from them to the library's drivers
//! and the binary's own instruments.
#![forbid(unsafe_code)]

use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use shm_exchange::address::{DEFAULT_SEGMENT, SEGMENT_ENV};
use shm_exchange::command::command_word;
use shm_exchange::driver;
use shm_exchange::envelope::{Envelope, ErrorEnvelope};
use shm_exchange::render::{self, Style};
use shm_exchange::stress::StressOptions;
use shm_exchange::{Error, ExitStatus, MarketAddress, Session, Store};

use crate::{bench, completions, follow, man, repl, serve, stress, ticker, watch};

const TRADER_EXAMPLES: &str = "\
Examples:
  trader                                  interactive, as $USER, on the default exchange
  trader --name alice buy DOLLAR 10       one command, then exit
  trader rates --json                     one JSON object (options go anywhere)
  trader --trace buy DOLLAR 1             and the system calls behind it, on stderr
  printf 'buy EURO 1\\nportfolio\\n' | trader --name bob
  trader --segment posix:/class --script orders.txt   (--script - reads stdin)
  trader --segment redis://10.0.0.5:6379/class    the same market, on a Redis server

Instruments for a class (each has its own --help):
  trader watch                            live board of rates, leaders and trades; q leaves
  trader follow [--json]                  every trade and owner's action as it happens
  trader ticker --every 2 --step 1        live prices, a seeded random walk (owner only)
  trader stress --procs 4 --trades 10000  many traders at once, then the audit
  trader stress --unlocked ...            the textbook race, on a market of its own
  trader bench --plot bench.svg           shared memory against its rivals, plotted
  trader completions bash|zsh|fish        a completion script; `trader man`: the manual

Exit status: 0 all commands succeeded, 1 a command was refused,
2 usage error or the exchange cannot be used.";

/// Buy and sell currency on a shared-memory exchange.
///
/// Options may come before or after the command words
/// (`trader rates --json`); `--segment`, `--name`, `--json` and `--trace`
/// are accepted by every instrument too (`trader stress --segment X`).
#[derive(Debug, Parser)]
#[command(
    name = "trader",
    version,
    after_help = TRADER_EXAMPLES,
    // `help` is a trading command (`trader help buy`), not clap's.
    disable_help_subcommand = true,
    subcommand_value_name = "INSTRUMENT",
    override_usage = "trader [OPTIONS] [COMMAND]...\n       trader [OPTIONS] <INSTRUMENT> [INSTRUMENT OPTIONS]",
    subcommand_help_heading = "Instruments"
)]
pub struct TraderArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Read commands from FILE, one a line; `-` reads stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "command")]
    pub script: Option<PathBuf>,
    #[command(subcommand)]
    pub instrument: Option<Instrument>,
    /// One command to run, e.g. `buy DOLLAR 10` (`help` lists them).
    #[arg(value_name = "COMMAND", allow_negative_numbers = true)]
    pub command: Vec<String>,
}

/// The options every mode and every instrument takes, anywhere on the line.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The exchange: posix:/NAME, sysv:KEY, sysv:PATH:ID, file:PATH or
    /// redis://[:PASSWORD@]HOST:PORT/NAME.
    #[arg(long, global = true, value_name = "SEG", env = SEGMENT_ENV, hide_env_values = true, default_value = DEFAULT_SEGMENT)]
    pub segment: MarketAddress,
    /// Account to trade as (default: $USER). Opened on first use.
    #[arg(long, global = true, value_name = "NAME")]
    pub name: Option<String>,
    /// Print one JSON object per command.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show on stderr the system calls and protocol steps behind each
    /// command: the attach, the lock and its wait, the redo record.
    #[arg(long, global = true)]
    pub trace: bool,
}

/// The instruments: programs of their own that share `trader`'s options.
#[derive(Debug, Subcommand)]
pub enum Instrument {
    /// Many trader processes at once, then the audit.
    Stress(StressArgs),
    /// A live board of rates, stock, cash, the leaders and the latest on the tape.
    Watch(WatchArgs),
    /// Every trade and owner's action as it happens, like tail -f.
    #[command(
        after_help = "Prints each new tape entry once, in order, and says how many it
missed if more than the tape's 256 went by unseen ({\"gap\": N} with
--json). Ctrl-C stops.

Examples:
  trader follow
  trader follow --json | jq -c 'select(.currency == \"EURO\")'"
    )]
    Follow,
    /// Live prices: every quote moves by a seeded random walk (owner only).
    Ticker(TickerArgs),
    /// Shared memory against its rivals (the C loop, SQLite, Redis,
    /// message passing), side by side.
    Bench(BenchArgs),
    /// Print a completion script for SHELL (bash, zsh or fish).
    #[command(after_help = completions::EXAMPLES)]
    Completions {
        #[arg(value_enum)]
        shell: completions::Shell,
    },
    /// Print the manual page (roff): `trader man | man -l -`.
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

/// Reports the failure of `command`: one JSON object on stdout with
/// `--json`, else one line on stderr. Returns the error's exit status.
fn fail(error: &Error, command: &str, json: bool) -> ExitStatus {
    if json {
        print_line(&render::error(error, command, Style::Json));
    } else {
        eprintln!("trader: {error}");
    }
    error.exit_code()
}

/// Scripted mode reads and writes in blocks this big. Output is flushed
/// whenever the input runs dry, so an interactive driver still gets each
/// answer at once.
const SCRIPT_BUFFER: usize = 64 * 1024;

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
        let message = render::usage_error_line(&error.render().to_string(), "trader");
        print_line(&ErrorEnvelope::new("trader", "usage", &message).to_json());
    } else {
        let _ = error.print();
    }
    ExitStatus::Unusable
}

/// `trader stress`: many trader processes at once, then the audit.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  trader stress --procs 4 --trades 100000
  trader --segment posix:/race stress --procs 2 --trades 20000 \\
      --unlocked

The rate counts committed trades over the wall time from the workers'
common start to the last one's end; refused trades are reported apart.
The exchange's owner funds the stress accounts from the exchange's cash
first, by a recorded transfer, so the audit still balances.

--unlocked skips the lock, as the textbook version does, to show the race.
It corrupts the market it runs on, so only the exchange's owner may run
it, and only on a market whose accounts are all stress accounts: give it
a segment of its own.")]
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

/// `trader stress-worker`: one process of a stress run (internal).
#[derive(Debug, Args)]
pub struct StressWorkerArgs {
    #[arg(long)]
    trades: u64,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    unlocked: bool,
}

/// `trader watch`: the live board.
#[derive(Debug, Args)]
#[command(after_help = "Keys: q, Esc or Ctrl-C leave.")]
pub struct WatchArgs {
    /// At most this many of the latest trades (default: as many as fit).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub trades: u16,
}

/// `trader ticker`: live prices.
#[derive(Debug, Args)]
#[command(
    after_help = "Moves every quote by a seeded random walk, sell always above buy,
until Ctrl-C; an owner's `price` in between is the walk's new start.
Only the exchange's owner (or root) may run it.

Examples:
  trader ticker
  trader ticker --every 0.5 --step 2 --seed 42"
)]
pub struct TickerArgs {
    /// Seconds between two moves.
    #[arg(long, default_value = "2", value_name = "SECONDS", value_parser = ticker::parse_every)]
    pub every: std::time::Duration,
    /// Largest move of one tick, in percent either way.
    #[arg(long, default_value = "1", value_name = "PERCENT", value_parser = shm_exchange::ticker::Step::parse)]
    pub step: shm_exchange::ticker::Step,
    /// Seed of the walk; the same seed makes the same prices (default: a fresh one, printed).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `trader bench`: every benchmark, side by side.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short smoke run instead of the full one.
    #[arg(long)]
    pub quick: bool,
    /// Also draw trades/s against process count into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// `trader serve` and `trader mp-client`: the message-passing benchmark's
/// server and client processes (internal).
#[derive(Debug, Args)]
pub struct SocketArgs {
    #[arg(long)]
    socket: PathBuf,
    #[arg(long, default_value_t = 0)]
    trades: u64,
}

/// Runs an instrument.
fn run_instrument(instrument: &Instrument, global: &GlobalArgs) -> ExitStatus {
    let json = global.json;
    let trader_exe = || std::env::current_exe().unwrap_or_else(|_| PathBuf::from("trader"));
    match instrument {
        Instrument::Stress(stress) => {
            let options = StressOptions {
                procs: usize::from(stress.procs),
                trades: stress.trades,
                seed: stress.seed,
                unlocked: stress.unlocked,
            };
            match stress::run_stress(&trader_exe(), &global.segment, &options) {
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
        Instrument::StressWorker(worker) => {
            let Some(name) = global.name.clone() else {
                eprintln!("trader: stress-worker needs --name");
                return ExitStatus::Unusable;
            };
            match stress::run_worker(
                &global.segment,
                &name,
                worker.trades,
                worker.seed,
                worker.unlocked,
            ) {
                Ok(_) => ExitStatus::Success,
                Err(error) => fail(&error, "stress-worker", false),
            }
        }
        Instrument::Watch(watch) => match Store::attach_or_read_only(&global.segment)
            .and_then(|exchange| watch::run_watch(&exchange, usize::from(watch.trades)))
        {
            Ok(status) => status,
            Err(error) => fail(&error.for_reader("watch"), "watch", json),
        },
        Instrument::Follow => match Store::attach_or_read_only(&global.segment)
            .and_then(|exchange| follow::run_follow(&exchange, json))
        {
            Ok(status) => status,
            Err(error) => fail(&error.for_reader("follow"), "follow", json),
        },
        Instrument::Ticker(options) => {
            let options = ticker::TickerOptions {
                every: options.every,
                step: options.step,
                seed: options.seed.unwrap_or_else(ticker::fresh_seed),
            };
            match Store::attach(&global.segment)
                .and_then(|exchange| ticker::run_ticker(&exchange, &options, json))
            {
                Ok(status) => status,
                Err(error) => fail(&error, "ticker", json),
            }
        }
        Instrument::Bench(options) => {
            match bench::command(&trader_exe(), options.quick, options.plot.as_deref()) {
                Ok(results) => {
                    if json {
                        print_line(&Envelope::success("bench", &results).to_json());
                    } else {
                        print_line(&bench::table(&results.rows));
                    }
                    ExitStatus::Success
                }
                Err(error) => fail(&error, "bench", json),
            }
        }
        Instrument::BenchWorker(worker) => match bench::worker::run(worker) {
            Ok(_) => ExitStatus::Success,
            Err(error) => fail(&error, "bench-worker", false),
        },
        Instrument::Completions { shell } => {
            print!("{}", completions::script(*shell));
            ExitStatus::Success
        }
        Instrument::Man => match io::stdout().lock().write_all(man::page().as_bytes()) {
            Ok(()) => ExitStatus::Success,
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
            Err(error) => {
                eprintln!("trader: cannot write the manual page: {error}");
                ExitStatus::Unusable
            }
        },
        Instrument::Serve(server) => match global
            .segment
            .segment("trader serve")
            .and_then(|segment| serve::serve(segment, &server.socket))
        {
            Ok(()) => ExitStatus::Success,
            Err(error) => fail(&error, "serve", false),
        },
        Instrument::MpClient(client) => {
            match serve::message_client(&client.socket, client.trades) {
                Ok(_) => ExitStatus::Success,
                Err(error) => fail(&error, "mp-client", false),
            }
        }
    }
}

/// Where `--script` reads from: a file, or stdin for `-`. A directory or
/// an unreadable path is a usage error that says so.
fn open_script(path: &Path) -> Result<Box<dyn Read>, String> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin()));
    }
    if path.is_dir() {
        return Err(format!(
            "the script {} is a directory; give a file of commands, one a line, or - for stdin",
            path.display()
        ));
    }
    std::fs::File::open(path)
        .map(|file| Box::new(file) as Box<dyn Read>)
        .map_err(|error| {
            format!(
                "cannot read the script {}: {error}; check the path",
                path.display()
            )
        })
}

/// `trader`'s whole program, after clap: an instrument, or trading in
/// one of the three modes (script, one-shot, REPL).
pub fn run(args: TraderArgs) -> ExitStatus {
    // A setgid trader (class mode) reads nothing with the group's rights:
    // only the attach takes them back, and then gives them up for good.
    if let Err(error) = shm_exchange::privilege::suspend_group_rights() {
        eprintln!("trader: {error}");
        return ExitStatus::Unusable;
    }
    let global = &args.global;
    if global.trace {
        shm_exchange::trace::enable(|line| {
            let _ = writeln!(io::stderr().lock(), "{line}");
        });
    }
    if let Some(instrument) = &args.instrument {
        return run_instrument(instrument, global);
    }
    let json = global.json;
    let command = if args.command.is_empty() {
        "trader".to_owned()
    } else {
        command_word(&args.command.join(" "))
    };
    let Some(name) = global.name.clone().or_else(default_account_name) else {
        eprintln!("trader: no account name: $USER is not set; pass --name NAME");
        return ExitStatus::Unusable;
    };
    // A bad --script is found before attaching: it is the user's to fix
    // whether or not the exchange is there.
    let script = match args.script.as_deref().map(open_script).transpose() {
        Ok(script) => script,
        Err(message) => {
            if json {
                print_line(&ErrorEnvelope::new("trader", "bad_script", &message).to_json());
            } else {
                eprintln!("trader: {message}");
            }
            return ExitStatus::Unusable;
        }
    };
    let mut session = match Session::open(&global.segment, &name) {
        Ok(session) => session,
        Err(error) => return fail(&error, &command, json),
    };
    let style = if json { Style::Json } else { Style::Line };
    let result = if let Some(script) = script {
        driver::run_script(
            &mut session,
            &mut BufReader::with_capacity(SCRIPT_BUFFER, script),
            &mut io::BufWriter::with_capacity(SCRIPT_BUFFER, io::stdout().lock()),
            &mut io::stderr().lock(),
            style,
        )
    } else if !args.command.is_empty() {
        let style = if json {
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
        return match repl::run_repl(&mut session, json) {
            Ok(status) => status,
            Err(error) => fail(&error, "trader", json),
        };
    } else {
        driver::run_script(
            &mut session,
            &mut BufReader::with_capacity(SCRIPT_BUFFER, io::stdin().lock()),
            &mut io::BufWriter::with_capacity(SCRIPT_BUFFER, io::stdout().lock()),
            &mut io::stderr().lock(),
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
