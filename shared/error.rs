//! One error type for the whole library. Every message names the cause and
//! the way out, on one line, and every variant knows its exit status.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

use crate::money::{DecimalError, Money};

/// Everything that can go wrong, from a typo to a corrupted segment.
#[derive(Debug)]
pub enum Error {
    // --- The exchange cannot be reached or trusted: exit status 2. ---
    /// `--segment` is not a valid address.
    Address(crate::address::AddressError),
    /// No segment exists at the address.
    NoExchange { address: String },
    /// Creating would clobber an existing segment.
    AlreadyExists { address: String },
    /// The segment exists but this user may not open it.
    PermissionDenied { address: String },
    /// Something exists at the address, but it is not an exchange.
    NotAnExchange { address: String, reason: String },
    /// An exchange made by an incompatible build (layout or ABI).
    Incompatible { address: String, reason: String },
    /// An exchange whose contents fail a consistency check.
    Corrupted { address: String, reason: String },
    /// The exchange was removed or replaced while attached.
    Retired { address: String },
    /// The exchange lock cannot be taken.
    Lock { address: String, reason: String },
    /// A config file is unreadable or invalid.
    Config { path: String, reason: String },
    /// An operating-system call failed.
    Os {
        address: String,
        what: &'static str,
        source: io::Error,
    },
    /// The account name given with `--name` is not valid.
    AccountName { name: String },
    /// Every account slot is taken.
    AccountTableFull { capacity: u32 },

    // --- One command is refused; the market is unchanged: exit status 1. ---
    /// The line is not a command.
    UnknownCommand {
        word: String,
        suggestion: Option<&'static str>,
    },
    /// Missing or extra arguments.
    Usage { usage: &'static str },
    /// A row count (`tape N`, `history N`) that is not a whole number
    /// from 1 to `max`.
    Count {
        text: String,
        max: usize,
        usage: &'static str,
    },
    /// No currency by that name.
    UnknownCurrency {
        name: String,
        suggestion: Option<String>,
    },
    /// The amount is not a positive decimal with at most two places.
    Amount { text: String, reason: String },
    /// A command's currency and amount given the other way round
    /// (`buy 10 DOLLAR`): `meant` is the line as it should read.
    Swapped { meant: String },
    /// The trader's balance does not cover the cost.
    InsufficientBalance { cost: Money, balance: Money },
    /// The exchange does not hold that much of the currency.
    InsufficientStock {
        currency: String,
        amount: Money,
        stock: Money,
    },
    /// The trader does not hold that much of the currency.
    InsufficientHolding {
        currency: String,
        amount: Money,
        holding: Money,
    },
    /// The exchange's cash reserve does not cover the proceeds.
    InsufficientCash { proceeds: Money, cash: Money },
    /// A sell whose proceeds round down to 0.00.
    NothingPaid { currency: String, smallest: Money },
    /// The result would not fit in the market's integers.
    Overflow,
    /// A command that takes no amount would carry a stored value past the
    /// largest the market holds: `action` would take `value` past it.
    PastLimit { action: String, value: String },
    /// An owner-only action asked for by another user.
    NotOwner { action: String, owner: u32 },
    /// `stress --unlocked` on a market that has (or, for a worker on one,
    /// would have) accounts other than stress accounts: the race would
    /// corrupt their market for good.
    MarketInUse {
        address: String,
        accounts: Vec<String>,
    },
    /// An `exchange-init` is creating the exchange right now.
    BeingCreated { address: String },
    /// An `exchange-init` died before it finished creating the exchange.
    HalfCreated { address: String },
    /// A command line longer than the limit; the rest of it was skipped.
    LineTooLong { limit: usize },
    /// Something class mode does not allow or cannot do.
    ClassMode { reason: String },
    /// The owner halted trading; reads go on.
    Halted,
    /// A `wait` time that is not a whole number of milliseconds in range.
    WaitTime {
        text: String,
        max: u64,
        usage: &'static str,
    },
    /// `trader round` while another round runs until this Unix time in
    /// milliseconds.
    RoundRunning { until: u64 },
    /// The timed round ended at this Unix time in milliseconds; see
    /// `crate::round`.
    RoundOver { ended_at: u64 },
    /// A trade on an account another uid opened.
    NotYourAccount { name: String },
    /// The session's account was closed by the owner since it was found.
    AccountClosed,
    /// This user may only read the exchange (it was attached read-only).
    ReadOnly { address: String },
    /// `close NAME` names no open account.
    UnknownAccount { name: String },
    /// A price that is not a positive decimal with at most four places.
    Price { text: String, reason: String },
    /// A quote whose buy price is above its sell price.
    CrossedQuote {
        currency: String,
        sell: crate::money::Price,
        buy: crate::money::Price,
    },
    /// Writers changed the market during every read for too long (a
    /// segment), or won every attempt to commit (Redis); nothing was
    /// changed and the command may be tried again: exit status 1.
    Busy { address: String },

    // --- A market on a Redis server (see `crate::store::redis`). ---
    /// No Redis server answers at the address: exit status 2.
    RedisUnreachable { server: String, reason: String },
    /// The server refused the login (a wrong or missing password): exit
    /// status 2. The address is shown with its password masked.
    RedisAuth { address: String },
    /// The connection to the server broke, or the server stopped answering,
    /// after it was made: exit status 2.
    ConnectionLost { server: String, reason: String },
    /// The same, met by an instrument that only reads (the board,
    /// `follow`): nothing of its can be half-applied.
    ReaderConnectionLost {
        server: String,
        reason: String,
        instrument: &'static str,
    },
    /// An option or action this kind of store does not have (`--mode` on
    /// Redis, say): exit status 2.
    Unsupported {
        what: String,
        address: String,
        way_out: &'static str,
    },
}

impl Error {
    /// The exit status the contract gives this error: refused for a
    /// refused command, unusable for anything that stops the trader from
    /// trading at all.
    pub fn exit_code(&self) -> crate::exit::ExitStatus {
        if self.is_refusal() {
            crate::exit::ExitStatus::Refused
        } else {
            crate::exit::ExitStatus::Unusable
        }
    }

    /// True when only the one command failed and the session can go on.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::UnknownCommand { .. }
                | Error::Usage { .. }
                | Error::Count { .. }
                | Error::UnknownCurrency { .. }
                | Error::Amount { .. }
                | Error::Swapped { .. }
                | Error::InsufficientBalance { .. }
                | Error::InsufficientStock { .. }
                | Error::InsufficientHolding { .. }
                | Error::InsufficientCash { .. }
                | Error::NothingPaid { .. }
                | Error::Overflow
                | Error::PastLimit { .. }
                | Error::NotOwner { .. }
                | Error::MarketInUse { .. }
                | Error::LineTooLong { .. }
                | Error::Halted
                | Error::RoundOver { .. }
                | Error::RoundRunning { .. }
                | Error::WaitTime { .. }
                | Error::NotYourAccount { .. }
                | Error::AccountClosed
                | Error::UnknownAccount { .. }
                | Error::Price { .. }
                | Error::CrossedQuote { .. }
                | Error::Busy { .. }
        )
    }

    /// This error as `instrument`, which only reads (the board, `follow`),
    /// tells it: a lost connection left nothing of its half-done, so the
    /// way out is only to start it again.
    pub fn for_reader(self, instrument: &'static str) -> Error {
        match self {
            Error::ConnectionLost { server, reason } => Error::ReaderConnectionLost {
                server,
                reason,
                instrument,
            },
            other => other,
        }
    }

    /// True when a script or a REPL goes on after this error: a refusal,
    /// or a write by a user who may only read (the reads still answer).
    pub fn session_goes_on(&self) -> bool {
        self.is_refusal() || matches!(self, Error::ReadOnly { .. })
    }

    /// True when the command itself was malformed: unknown, with too few or
    /// too many arguments, or with them swapped. A one-shot command line with one is a
    /// usage error (exit 2); in a script or a REPL it is one refused line.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::UnknownCommand { .. } | Error::Usage { .. } | Error::Swapped { .. }
        )
    }

    /// A stable name for the error, for scripts: the `"code"` of a JSON
    /// error object. Messages may be reworded; codes never change.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Address(_) => "bad_address",
            Error::NoExchange { .. } => "no_exchange",
            Error::AlreadyExists { .. } => "already_exists",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::NotAnExchange { .. } => "not_an_exchange",
            Error::Incompatible { .. } => "incompatible",
            Error::Corrupted { .. } => "corrupted",
            Error::Retired { .. } => "retired",
            Error::Lock { .. } => "lock_failed",
            Error::Config { .. } => "bad_config",
            Error::Os { .. } => "os_error",
            Error::AccountName { .. } => "bad_account_name",
            Error::AccountTableFull { .. } => "account_table_full",
            Error::UnknownCommand { .. } => "unknown_command",
            Error::Usage { .. } => "wrong_arguments",
            Error::Count { .. } => "bad_count",
            Error::UnknownCurrency { .. } => "unknown_currency",
            Error::Amount { .. } => "bad_amount",
            Error::Swapped { .. } => "swapped_arguments",
            Error::InsufficientBalance { .. } => "insufficient_balance",
            Error::InsufficientStock { .. } => "insufficient_stock",
            Error::InsufficientHolding { .. } => "insufficient_holding",
            Error::InsufficientCash { .. } => "insufficient_cash",
            Error::NothingPaid { .. } => "nothing_paid",
            Error::Overflow | Error::PastLimit { .. } => "overflow",
            Error::NotOwner { .. } => "not_owner",
            Error::MarketInUse { .. } => "market_in_use",
            Error::BeingCreated { .. } => "being_created",
            Error::HalfCreated { .. } => "half_created",
            Error::LineTooLong { .. } => "line_too_long",
            Error::ClassMode { .. } => "class_mode",
            Error::Halted => "halted",
            Error::RoundOver { .. } => "round_over",
            Error::RoundRunning { .. } => "round_running",
            Error::WaitTime { .. } => "bad_wait",
            Error::NotYourAccount { .. } => "not_your_account",
            Error::AccountClosed => "account_closed",
            Error::ReadOnly { .. } => "read_only",
            Error::UnknownAccount { .. } => "unknown_account",
            Error::Price { .. } => "bad_price",
            Error::CrossedQuote { .. } => "crossed_quote",
            Error::Busy { .. } => "busy",
            Error::RedisUnreachable { .. } => "redis_unreachable",
            Error::RedisAuth { .. } => "redis_auth",
            Error::ConnectionLost { .. } | Error::ReaderConnectionLost { .. } => "connection_lost",
            Error::Unsupported { .. } => "unsupported",
        }
    }

    pub(crate) fn amount(text: &str, reason: DecimalError) -> Error {
        Error::Amount {
            text: text.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The exchange was poisoned: a dead trader's change could not be
    /// repaired.
    pub(crate) fn poisoned(address: &impl fmt::Display) -> Error {
        Error::Corrupted {
            address: address.to_string(),
            reason: "a trader died mid-trade and its trade could not be repaired".into(),
        }
    }

    pub(crate) fn os(address: &impl fmt::Display, what: &'static str, source: io::Error) -> Error {
        Error::Os {
            address: address.to_string(),
            what,
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Address(error) => write!(f, "{error}"),
            Error::NoExchange { address } => {
                write!(f, "no exchange at {address}; run exchange-init first")
            }
            Error::AlreadyExists { address } => write!(
                f,
                "an exchange already exists at {address}; pass --force to replace it, or --remove it"
            ),
            Error::PermissionDenied { address } => write!(
                f,
                "permission denied opening {address}; ask its owner to widen --mode, or use your own --segment"
            ),
            Error::NotAnExchange { address, reason } => write!(
                f,
                "{address} is not an exchange ({reason}); remove it or choose another --segment"
            ),
            Error::Incompatible { address, reason } => write!(
                f,
                "the exchange at {address} was made by an incompatible build ({reason}); recreate it with exchange-init --force"
            ),
            Error::Corrupted { address, reason } => write!(
                f,
                "the exchange at {address} is corrupted ({reason}); recreate it with exchange-init --force"
            ),
            Error::Retired { address } => write!(
                f,
                "the exchange at {address} was removed or replaced; start the trader again to use the new one"
            ),
            Error::Lock { address, reason } => {
                write!(f, "cannot lock the exchange at {address}: {reason}")
            }
            Error::Config { path, reason } => {
                write!(f, "bad config {path}: {reason}; nothing was created")
            }
            Error::Os {
                address,
                what,
                source,
            } => write!(f, "{what} failed for {address}: {source}"),
            Error::AccountName { name } => write!(
                f,
                "bad account name {name:?}: use NAME or NAME:LABEL with --name, each part letters, digits, '_', '.' or '-', at most 31 bytes in all"
            ),
            Error::AccountTableFull { capacity } => write!(
                f,
                "the account table is full ({capacity} accounts); use an existing --name, or recreate the exchange with a larger `accounts` in its config"
            ),
            Error::UnknownCommand { word, suggestion } => {
                write!(f, "unknown command {word:?}")?;
                match suggestion {
                    Some(suggestion) => write!(f, "; did you mean {suggestion:?}? `help` lists them all"),
                    None => write!(f, "; `help` lists the commands"),
                }
            }
            Error::Usage { usage } => write!(f, "wrong arguments; usage: {usage}"),
            Error::Count { text, max, usage } => write!(
                f,
                "bad count {text:?}: give a whole number from 1 to {max}; usage: {usage}"
            ),
            Error::UnknownCurrency { name, suggestion } => {
                write!(f, "unknown currency {name:?}")?;
                match suggestion {
                    Some(suggestion) => write!(f, "; did you mean {suggestion}?"),
                    None => write!(f, "; `rates` lists them"),
                }
            }
            Error::Amount { text, reason } if text.is_empty() => write!(
                f,
                "bad amount: {reason}; give a positive amount like 10 or 2.50"
            ),
            Error::Amount { text, reason } => write!(
                f,
                "bad amount {text:?}: {reason}; give a positive amount like 10 or 2.50"
            ),
            Error::Swapped { meant } => write!(
                f,
                "the currency and the amount look swapped; did you mean `{meant}`?"
            ),
            Error::InsufficientBalance { cost, balance } => write!(
                f,
                "insufficient balance: the trade costs {cost} but your balance is {balance}; buy less"
            ),
            Error::InsufficientStock {
                currency,
                amount,
                stock,
            } => write!(
                f,
                "the exchange has only {stock} {currency}, not {amount}; buy less"
            ),
            Error::InsufficientHolding {
                currency,
                amount,
                holding,
            } => write!(
                f,
                "you hold only {holding} {currency}, not {amount}; sell less (see `portfolio`)"
            ),
            Error::InsufficientCash { proceeds, cash } => write!(
                f,
                "the exchange has only {cash} cash and cannot pay {proceeds}; sell less"
            ),
            Error::NothingPaid { currency, smallest } => write!(
                f,
                "selling so little {currency} pays nothing, since proceeds round down to the cent; sell at least {smallest}"
            ),
            Error::Overflow => f.write_str("the amount is too large for the market; use a smaller one"),
            Error::PastLimit { action, value } => write!(
                f,
                "{action} would take {value} past {}, the most the market can hold; nothing changed, try again once it is lower",
                Money::from_hundredths(i64::MAX)
            ),
            Error::MarketInUse { address, accounts } => {
                let shown: Vec<&str> = accounts.iter().take(3).map(String::as_str).collect();
                let more = accounts.len().saturating_sub(shown.len());
                write!(
                    f,
                    "refusing --unlocked on {address}: the race is for a market of its own stress accounts only, not for {}{}, whose audit it would leave inconsistent for good; make a market of its own: exchange-init --segment posix:/race, then exchange-lab --segment posix:/race stress --unlocked",
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                )
            }
            Error::NotOwner { action, owner } => write!(
                f,
                "only the owner of this exchange (uid {owner}) may {action}; ask them, or run it as root"
            ),
            Error::BeingCreated { address } => write!(
                f,
                "the exchange at {address} is still being created; try again in a moment"
            ),
            Error::HalfCreated { address } => write!(
                f,
                "the exchange at {address} was left half-created by a killed exchange-init; run exchange-init --force"
            ),
            Error::ClassMode { reason } => write!(f, "class mode: {reason}"),
            Error::LineTooLong { limit } => write!(
                f,
                "the line is longer than {limit} bytes and was skipped; split it into shorter commands"
            ),
            Error::Halted => f.write_str(
                "trading is halted by the exchange's owner; reads go on, trade again after `resume`",
            ),
            Error::WaitTime { text, max, usage } => write!(
                f,
                "bad wait {text:?}: give whole milliseconds from 0 to {max}; usage: {usage}"
            ),
            Error::RoundRunning { until } => write!(
                f,
                "a round is running until {}; wait for it, or end it with `trader round --finish`",
                crate::round::clock(*until)
            ),
            Error::RoundOver { ended_at } => write!(
                f,
                "the round ended at {}; reads go on, trade again in the next round",
                crate::round::clock(*ended_at)
            ),
            Error::NotYourAccount { name } => write!(
                f,
                "the account {name} belongs to another user; trade with your own --name"
            ),
            Error::AccountClosed => f.write_str(
                "your account was closed by the exchange's owner; run the command again to open it afresh",
            ),
            Error::ReadOnly { address } => write!(
                f,
                "the exchange at {address} is read-only for you; ask its owner for write access"
            ),
            Error::UnknownAccount { name } => {
                write!(f, "no open account named {name:?}; `traders` lists them")
            }
            Error::Price { text, reason } => write!(
                f,
                "bad price {text:?}: {reason}; give a positive price with at most 4 decimals, like 13.72"
            ),
            Error::CrossedQuote {
                currency,
                sell,
                buy,
            } => write!(
                f,
                "crossed quote for {currency}: buy {buy} is above sell {sell}, so a round trip would make money; give SELL first, then a BUY no higher"
            ),
            Error::Busy { address } => write!(
                f,
                "the exchange at {address} was changed by others during every attempt, and this command changed nothing; try again, or stop what floods it"
            ),
            Error::RedisUnreachable { server, reason } => write!(
                f,
                "cannot reach redis at {server} ({reason}); start redis-server or check the address"
            ),
            Error::RedisAuth { address } => write!(
                f,
                "the redis server refused the login for {address}; check the user and password in the address (redis://:PASSWORD@HOST:PORT/NAME)"
            ),
            Error::ConnectionLost { server, reason } => write!(
                f,
                "lost the connection to redis at {server} ({reason}); the server keeps the market: check it, then start the trader again (the last command may not have been applied; see `portfolio`)"
            ),
            Error::ReaderConnectionLost {
                server,
                reason,
                instrument,
            } => write!(
                f,
                "lost the connection to redis at {server} ({reason}); the server keeps the market: check it, then start `trader {instrument}` again"
            ),
            Error::Unsupported {
                what,
                address,
                way_out,
            } => write!(f, "{what} is not available on {address}; {way_out}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os { source, .. } => Some(source),
            Error::Address(error) => Some(error),
            _ => None,
        }
    }
}

impl From<crate::address::AddressError> for Error {
    fn from(error: crate::address::AddressError) -> Self {
        Error::Address(error)
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
