//! `exchange-init`'s command line: create, replace, remove or inspect an
//! exchange, and say what was done, as text or one JSON envelope.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

use shm_exchange::address::{DEFAULT_SEGMENT, SEGMENT_ENV};
use shm_exchange::market::Status;
use shm_exchange::render::{self, Style};
use shm_exchange::table::{Align, Cell, Table};
use shm_exchange::{Envelope, Error, ExitStatus, MarketAddress, MarketConfig, Store};

const INIT_EXAMPLES: &str = "\
Examples:
  exchange-init                           create the default exchange, posix:/shm-exchange
  exchange-init --force --mode 0666       replace it, open to every user
  exchange-init --segment sysv:0x5eed --config market.toml
  exchange-init --status --json
  exchange-init --segment redis://127.0.0.1:6379/class   a market on a Redis server
  exchange-init --remove

Exit status: 0 done, 1 the exchange already exists (pass --force),
2 anything else went wrong; nothing is changed then.";

/// Create, replace, remove or inspect a shared-memory exchange.
#[derive(Debug, Parser)]
#[command(name = "exchange-init", version, after_help = INIT_EXAMPLES)]
pub struct InitArgs {
    /// The exchange: posix:/NAME, sysv:KEY, sysv:PATH:ID, file:PATH or
    /// redis://[:PASSWORD@]HOST:PORT/NAME.
    #[arg(long, value_name = "SEG", env = SEGMENT_ENV, hide_env_values = true, default_value = DEFAULT_SEGMENT)]
    pub segment: MarketAddress,
    /// Seed the market from a TOML file (JSON if it ends in .json).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["remove", "status"])]
    pub config: Option<PathBuf>,
    /// Permission bits, applied exactly whatever the umask [default: 0600].
    /// Not for Redis, which has no file mode.
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode, conflicts_with_all = ["remove", "status"])]
    pub mode: Option<u32>,
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

/// Writes `text` and a newline; a closed pipe is not an error worth a word.
fn print_line(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// `exchange-init`'s whole program, after clap.
pub fn run(args: &InitArgs) -> ExitStatus {
    match run_init(args) {
        Ok(()) => ExitStatus::Success,
        Err(error) => {
            if args.json {
                print_line(&render::error(&error, Style::Json));
            } else {
                eprintln!("exchange-init: {error}");
            }
            match error {
                // Nothing was changed, and --force is the way on.
                Error::AlreadyExists { .. } => ExitStatus::Refused,
                _ => error.exit_code(),
            }
        }
    }
}

/// The JSON body of `--remove`.
#[derive(Serialize)]
struct Removed {
    removed: String,
}

fn run_init(args: &InitArgs) -> Result<(), Error> {
    if args.remove {
        Store::remove(&args.segment)?;
        if args.json {
            let removed = Removed {
                removed: args.segment.to_string(),
            };
            print_line(&Envelope::success("remove", removed).to_json());
        } else {
            print_line(&format!("removed the exchange at {}", args.segment));
        }
        return Ok(());
    }
    let (command, exchange) = if args.status {
        ("status", Store::attach(&args.segment)?)
    } else {
        let config = match &args.config {
            Some(path) => MarketConfig::load(path)?,
            None => MarketConfig::default(),
        };
        if args.force {
            (
                "replace",
                Store::replace(&args.segment, &config, args.mode)?,
            )
        } else {
            ("create", Store::create(&args.segment, &config, args.mode)?)
        }
    };
    let status = exchange.status()?;
    if args.json {
        print_line(&Envelope::success(command, &status).to_json());
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

/// The status for a person: the address and what the operating system
/// says, the header, and the rates.
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
    let mut rates = Table::new(&[
        ("CURRENCY", Align::Left),
        ("SELL", Align::Right),
        ("BUY", Align::Right),
        ("STOCK", Align::Right),
    ]);
    for rate in &status.currencies {
        rates.row(vec![
            Cell::plain(&rate.name),
            Cell::plain(rate.sell),
            Cell::plain(rate.buy),
            Cell::plain(rate.stock),
        ]);
    }
    for line in rates.render(false).lines() {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}
