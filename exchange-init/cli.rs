//! `exchange-init`'s command line: create, replace, remove or inspect an
//! exchange, and say what was done, as text or one JSON envelope.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use serde::Serialize;

use shm_exchange::address::{DEFAULT_SEGMENT, SEGMENT_ENV};
use shm_exchange::render;
use shm_exchange::{
    Envelope, Error, ErrorEnvelope, ExitStatus, MarketAddress, MarketConfig, Store,
};

const INIT_EXAMPLES: &str = "\
Examples:
  exchange-init                           create the default exchange, posix:/shm-exchange
  exchange-init --force --mode 0666       replace it, open to every user
  exchange-init --segment sysv:0x5eed --config market.toml
  exchange-init --status --json
  exchange-init --segment redis://127.0.0.1:6379/class   a market on a Redis server
  exchange-init --remove
  exchange-init --print-config > market.toml   the default market, to edit
  exchange-init --man | man -l -                this manual page

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
    /// Class mode: mode 0660 and this group, for a trader installed setuid
    /// to the exchange user and setgid GROUP (6755); account names are
    /// logins, or LOGIN:LABEL.
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["remove", "status", "mode"])]
    pub group: Option<String>,
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
    /// Print the default market as a TOML config (what --config reads).
    #[arg(long, exclusive = true)]
    pub print_config: bool,
    /// Print this manual page (roff): `exchange-init --man | man -l -`.
    #[arg(long, exclusive = true)]
    pub man: bool,
    /// Print a completion script for SHELL (bash, zsh, fish, ...).
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8).ok().filter(|_| octal) {
        Some(mode) if mode <= 0o777 && mode & 0o600 == 0o600 => Ok(mode),
        Some(mode) if mode <= 0o777 => Err(format!(
            "{text:?} would lock the owner out of the exchange; give the owner read and write, like 0600 or 0644"
        )),
        _ => Err(format!("{text:?} is not an octal mode from 0600 to 0777")),
    }
}

/// Writes `text` and a newline; a closed pipe is not an error worth a word.
fn print_line(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// What clap could not parse: help and version go to stdout with status 0;
/// a usage error is clap's message and status 2, or with `--json`, one
/// JSON object saying the same.
pub fn usage_error(error: clap::Error) -> ExitStatus {
    if !error.use_stderr() {
        let _ = error.print();
        return ExitStatus::Success;
    }
    if std::env::args_os().skip(1).any(|arg| arg == "--json") {
        let message = render::usage_error_line(&error.render().to_string(), "exchange-init");
        print_line(&ErrorEnvelope::new("exchange-init", "usage", &message).to_json());
    } else {
        let _ = error.print();
    }
    ExitStatus::Unusable
}

/// The action `args` asks for, as the JSON `"command"` names it.
fn action(args: &InitArgs) -> &'static str {
    if args.remove {
        "remove"
    } else if args.status {
        "status"
    } else if args.force {
        "replace"
    } else {
        "create"
    }
}

/// `--print-config`, `--man` and `--completions`: text about the program,
/// no exchange involved.
fn print_about(args: &InitArgs) -> Option<io::Result<()>> {
    let mut stdout = io::stdout().lock();
    if args.print_config {
        Some(write!(stdout, "{}", MarketConfig::default().to_toml()))
    } else if args.man {
        Some(clap_mangen::Man::new(InitArgs::command()).render(&mut stdout))
    } else {
        args.completions.map(|shell| {
            clap_complete::generate(
                shell,
                &mut InitArgs::command(),
                "exchange-init",
                &mut stdout,
            );
            Ok(())
        })
    }
}

/// `exchange-init`'s whole program, after clap.
pub fn run(args: &InitArgs) -> ExitStatus {
    if let Some(printed) = print_about(args) {
        return match printed {
            Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("exchange-init: cannot write to stdout: {error}");
                ExitStatus::Unusable
            }
            _ => ExitStatus::Success,
        };
    }
    match run_init(args) {
        Ok(()) => ExitStatus::Success,
        Err(error) => {
            let message = match &error {
                Error::NoExchange { address } if args.remove => format!(
                    "no exchange at {address}, so there is nothing to remove; check --segment (or $EXCHANGE_SEGMENT)"
                ),
                _ => error.to_string(),
            };
            if args.json {
                print_line(&ErrorEnvelope::new(action(args), error.code(), &message).to_json());
            } else {
                eprintln!("exchange-init: {message}");
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
    /// What was there, when it was not a sound exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    found: Option<String>,
}

/// True when `error` says something is at the address that `--force` may
/// replace (if the caller owns it).
fn is_occupied(error: &Error) -> bool {
    matches!(
        error,
        Error::AlreadyExists { .. }
            | Error::HalfCreated { .. }
            | Error::NotAnExchange { .. }
            | Error::Corrupted { .. }
            | Error::Incompatible { .. }
            | Error::Retired { .. }
    )
}

fn run_init(args: &InitArgs) -> Result<(), Error> {
    if args.remove {
        let found = Store::remove(&args.segment)?;
        if args.json {
            let removed = Removed {
                removed: args.segment.to_string(),
                found,
            };
            print_line(&Envelope::success("remove", removed).to_json());
        } else {
            print_line(&match found {
                Some(found) => format!("removed {}: {found}", args.segment),
                None => format!("removed the exchange at {}", args.segment),
            });
        }
        return Ok(());
    }
    let (command, exchange, found) = if args.status {
        ("status", Store::attach(&args.segment)?, None)
    } else {
        let config = match &args.config {
            Some(path) => MarketConfig::load(path)?,
            None => MarketConfig::default(),
        };
        // Created, or with --force replaced: try to create first, so the
        // report says which happened.
        let group = args.group.as_deref().map(group_id).transpose()?;
        let create = || match group {
            Some(group) => Store::create_for_class(&args.segment, &config, group),
            None => Store::create(&args.segment, &config, args.mode),
        };
        match create() {
            Err(error) if args.force && is_occupied(&error) => {
                let (exchange, found) = match group {
                    Some(group) => Store::replace_for_class(&args.segment, &config, group)?,
                    None => Store::replace(&args.segment, &config, args.mode)?,
                };
                ("replace", exchange, found)
            }
            created => ("create", created?, None),
        }
    };
    let status = exchange.status()?;
    if args.json {
        print_line(&Envelope::success(command, &status).to_json());
    } else {
        let done = match (command, found) {
            ("status", _) => render::Init::Status,
            ("replace", found) => render::Init::Replaced { found },
            _ => render::Init::Created,
        };
        let group = args.group.as_deref().filter(|_| !args.status);
        print_line(&render::init_text(done, &status, group));
    }
    Ok(())
}

/// The id of the group named `name`.
fn group_id(name: &str) -> Result<u32, Error> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        _ => Err(Error::ClassMode {
            reason: format!("no group named {name:?}; create it first (groupadd {name})"),
        }),
    }
}
