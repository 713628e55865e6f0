//! `trader`'s command line: the clap definitions of the trading mode and
//! of each instrument, and the dispatch from them to the library's drivers
//! and the binary's own instruments. Every subcommand is listed: nothing
//! hidden is reachable in a program that may run with a class's privilege.
#![forbid(unsafe_code)]

use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use shm_exchange::address::{DEFAULT_SEGMENT, SEGMENT_ENV};
use shm_exchange::command::command_word;
use shm_exchange::driver;
use shm_exchange::envelope::ErrorEnvelope;
use shm_exchange::render::{self, Style};
use shm_exchange::{Error, ExitStatus, MarketAddress, Session, Store};

use crate::history::History;
use crate::{completions, follow, man, moved, repl, round, ticker, watch};

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
  trader round --for 5m                   a timed round, then the ranking (owner only)
  trader completions bash|zsh|fish        a completion script; `trader man`: the manual

Stress runs, the race demonstration and the benchmarks are exchange-lab's.

Exit status: 0 all commands succeeded, 1 a command was refused,
2 usage error or the exchange cannot be used.";

/// Buy and sell currency on a shared-memory exchange.
///
/// Options may come before or after the command words
/// (`trader rates --json`); `--segment`, `--name`, `--json` and `--trace`
/// are accepted by every instrument too (`trader watch --segment X`).
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
    /// Account to trade as: NAME or NAME:LABEL (default: $USER). Opened on
    /// first use; in class mode, your login or LOGIN:LABEL.
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
    /// A timed round: reset, prices moving, every trade recorded; then halt,
    /// ranking and a picture (owner only).
    Round(round::RoundArgs),
    /// Print a completion script for SHELL (bash, zsh or fish).
    #[command(after_help = completions::EXAMPLES)]
    Completions {
        #[arg(value_enum)]
        shell: completions::Shell,
    },
    /// Print the manual page (roff): `trader man | man -l -`.
    Man,
}

fn default_account_name() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| shm_exchange::caller::login().map(str::to_owned))
}

/// Gives up a class trader's privileges for good (see
/// `shm_exchange::privilege`), on a path that opens no class segment;
/// `Err` with the status to stop with when that fails.
pub fn drop_privileges() -> Result<(), ExitStatus> {
    shm_exchange::privilege::drop_for_good().map_err(|error| {
        eprintln!("trader: {error}");
        ExitStatus::Unusable
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
    if let Err(status) = drop_privileges() {
        return status;
    }
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

/// Runs an instrument.
fn run_instrument(instrument: &Instrument, global: &GlobalArgs) -> ExitStatus {
    let json = global.json;
    match instrument {
        Instrument::Watch(watch) => match Store::attach_or_read_only(&global.segment)
            .and_then(|exchange| watch::run_watch(exchange.market(), usize::from(watch.trades)))
        {
            Ok(status) => status,
            Err(error) => fail(&error.for_reader("watch"), "watch", json),
        },
        Instrument::Follow => match Store::attach_or_read_only(&global.segment)
            .and_then(|exchange| follow::run_follow(exchange.market(), json))
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
                .and_then(|exchange| ticker::run_ticker(exchange.market(), &options, json))
            {
                Ok(status) => status,
                Err(error) => fail(&error, "ticker", json),
            }
        }
        Instrument::Round(options) => match Store::attach(&global.segment)
            .and_then(|exchange| round::run(options, exchange.market()))
        {
            Ok(status) => status,
            Err(error) => fail(&error, "round", json),
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
    let global = &args.global;
    if global.trace {
        shm_exchange::trace::enable(|line| {
            let _ = writeln!(io::stderr().lock(), "{line}");
        });
    }
    // A class trader keeps its privileges (set aside) only for the attach
    // of a segment, which gives them up for good; every other path gives
    // them up now. The caller's own files (script, history) are opened
    // before either, with the caller's own rights.
    let attaches_segment = matches!(global.segment, MarketAddress::Segment(_))
        && matches!(
            args.instrument,
            None | Some(
                Instrument::Watch(_)
                    | Instrument::Follow
                    | Instrument::Ticker(_)
                    | Instrument::Round(_)
            )
        );
    if let Some(instrument) = &args.instrument {
        if !attaches_segment {
            if let Err(status) = drop_privileges() {
                return status;
            }
        }
        return run_instrument(instrument, global);
    }
    let json = global.json;
    if let Some(message) = moved::lab_usage_error(&args.command) {
        if let Err(status) = drop_privileges() {
            return status;
        }
        if json {
            print_line(&ErrorEnvelope::new("trader", "usage", &message).to_json());
        } else {
            eprintln!("trader: {message}");
        }
        return ExitStatus::Unusable;
    }
    let command = if args.command.is_empty() {
        "trader".to_owned()
    } else {
        command_word(&args.command.join(" "))
    };
    let interactive = args.script.is_none() && args.command.is_empty() && io::stdin().is_terminal();
    let history = interactive.then(History::open).flatten();
    // A bad --script is found before attaching: it is the user's to fix
    // whether or not the exchange is there.
    let script = args.script.as_deref().map(open_script).transpose();
    if script.is_err() || !attaches_segment {
        if let Err(status) = drop_privileges() {
            return status;
        }
    }
    let Some(name) = global.name.clone().or_else(default_account_name) else {
        let _ = drop_privileges();
        eprintln!("trader: no account name: $USER is not set; pass --name NAME");
        return ExitStatus::Unusable;
    };
    let script = match script {
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
        Err(error) => {
            // A bad name is refused before any attach.
            if let Err(status) = drop_privileges() {
                return status;
            }
            return fail(&error, &command, json);
        }
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
    } else if interactive {
        return match repl::run_repl(&mut session, json, history) {
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
