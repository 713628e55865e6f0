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
    /// No currency by that name.
    UnknownCurrency {
        name: String,
        suggestion: Option<String>,
    },
    /// The amount is not a positive decimal with at most two places.
    Amount { text: String, reason: String },
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
    /// An owner-only action asked for by another user.
    NotOwner { action: String, owner: u32 },

    // --- A market on a Redis server (see `crate::redis`). ---
    /// No Redis server answers at the address: exit status 2.
    RedisUnreachable { server: String, reason: String },
    /// The server refused the login (a wrong or missing password): exit
    /// status 2. The address is shown with its password masked.
    RedisAuth { address: String },
    /// The connection to the server broke, or the server stopped answering,
    /// after it was made: exit status 2.
    ConnectionLost { server: String, reason: String },
    /// Other traders won every attempt to commit; nothing was changed and
    /// the command may be tried again: exit status 1.
    Busy { address: String, attempts: u32 },
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
                | Error::UnknownCurrency { .. }
                | Error::Amount { .. }
                | Error::InsufficientBalance { .. }
                | Error::InsufficientStock { .. }
                | Error::InsufficientHolding { .. }
                | Error::InsufficientCash { .. }
                | Error::NothingPaid { .. }
                | Error::Overflow
                | Error::NotOwner { .. }
                | Error::Busy { .. }
        )
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
                "bad account name {name:?}: use 1 to 31 letters, digits, '_', '.' or '-' with --name"
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
            Error::NotOwner { action, owner } => write!(
                f,
                "only the owner of this exchange (uid {owner}) may {action}; ask them, or run it as root"
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
            Error::Busy { address, attempts } => write!(
                f,
                "the market at {address} is too busy: other traders overtook {attempts} attempts in a row, and nothing was changed; try again"
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
