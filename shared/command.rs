//! The trader's command language: [`parse`] a line into a [`Command`], and
//! [`Session::execute`] it into a [`Reply`]. The REPL, the script runner
//! and the one-shot mode are thin drivers over these two calls, so every
//! command can be tested without a terminal.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::market::{AccountId, Audit, Portfolio, Rate, Receipt, Side, TapeRow};
use crate::money::Money;
use crate::store::{MarketAddress, Store};

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `buy CUR AMOUNT` or `sell CUR AMOUNT`.
    Trade {
        side: Side,
        currency: String,
        amount: Money,
    },
    /// `rates`: quotes and stock.
    Rates,
    /// `portfolio`: your balance and holdings.
    Portfolio,
    /// `audit`: check the conservation laws.
    Audit,
    /// `quote buy|sell CUR AMOUNT`: what a trade would cost or pay.
    Quote {
        side: Side,
        currency: String,
        amount: Money,
    },
    /// `traders`: every account's balance and holdings.
    Traders,
    /// `history [N]`: your last N trades.
    History { limit: usize },
    /// `tape [N]`: everyone's last N trades.
    Tape { limit: usize },
    /// `help [CMD]`.
    Help { topic: Option<String> },
    /// `quit` or `exit`.
    Quit,
}

/// A command's name, usage, one-line summary and an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    pub example: &'static str,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "buy",
        usage: "buy CUR AMOUNT",
        summary: "buy AMOUNT of CUR from the exchange at its sell price",
        example: "buy DOLLAR 10",
    },
    CommandSpec {
        name: "sell",
        usage: "sell CUR AMOUNT",
        summary: "sell AMOUNT of CUR to the exchange at its buy price",
        example: "sell EURO 2.50",
    },
    CommandSpec {
        name: "rates",
        usage: "rates",
        summary: "show each currency's prices, spread and stock",
        example: "rates",
    },
    CommandSpec {
        name: "portfolio",
        usage: "portfolio",
        summary: "show your holdings, their value, and profit or loss",
        example: "portfolio",
    },
    CommandSpec {
        name: "quote",
        usage: "quote buy|sell CUR AMOUNT",
        summary: "show what a trade would cost or pay, without trading",
        example: "quote buy POUND 3",
    },
    CommandSpec {
        name: "traders",
        usage: "traders",
        summary: "list every account with its balance and holdings",
        example: "traders",
    },
    CommandSpec {
        name: "history",
        usage: "history [N]",
        summary: "show your last N trades (default 10)",
        example: "history 5",
    },
    CommandSpec {
        name: "tape",
        usage: "tape [N]",
        summary: "show everyone's last N trades (default 10)",
        example: "tape 20",
    },
    CommandSpec {
        name: "audit",
        usage: "audit",
        summary: "check that no currency or money was created or lost",
        example: "audit",
    },
    CommandSpec {
        name: "help",
        usage: "help [CMD]",
        summary: "list the commands, or explain one",
        example: "help buy",
    },
    CommandSpec {
        name: "quit",
        usage: "quit",
        summary: "leave (so do `exit`, Ctrl-D and the end of input)",
        example: "quit",
    },
];

/// Other names for commands: `(alias, command)`.
pub const ALIASES: &[(&str, &str)] = &[("exit", "quit")];

/// Looks a command up by name or alias, ignoring case.
pub fn command_spec(name: &str) -> Option<&'static CommandSpec> {
    let name = name.to_ascii_lowercase();
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name.as_str(), |(_, target)| target);
    COMMANDS.iter().find(|spec| spec.name == name)
}

/// Parses one line. Blank lines and `#` comments are `Ok(None)`.
pub fn parse(line: &str) -> Result<Option<Command>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&first, args)) = words.split_first() else {
        return Ok(None);
    };
    if first.starts_with('#') {
        return Ok(None);
    }
    let spec = command_spec(first).ok_or_else(|| Error::UnknownCommand {
        word: first.to_owned(),
        suggestion: crate::suggest::closest(first, COMMANDS.iter().map(|spec| spec.name)),
    })?;
    let usage = || Error::Usage { usage: spec.usage };
    let command = match (spec.name, args) {
        ("buy" | "sell", [currency, amount]) => Command::Trade {
            side: if spec.name == "buy" {
                Side::Buy
            } else {
                Side::Sell
            },
            currency: (*currency).to_owned(),
            amount: parse_amount(amount)?,
        },
        ("quote", [side, currency, amount]) => Command::Quote {
            side: match side.to_ascii_lowercase().as_str() {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                _ => return Err(usage()),
            },
            currency: (*currency).to_owned(),
            amount: parse_amount(amount)?,
        },
        ("traders", []) => Command::Traders,
        ("history", []) => Command::History {
            limit: DEFAULT_TAPE_ROWS,
        },
        ("tape", []) => Command::Tape {
            limit: DEFAULT_TAPE_ROWS,
        },
        ("history", [count]) => Command::History {
            limit: parse_count(count).ok_or_else(usage)?,
        },
        ("tape", [count]) => Command::Tape {
            limit: parse_count(count).ok_or_else(usage)?,
        },
        ("rates", []) => Command::Rates,
        ("portfolio", []) => Command::Portfolio,
        ("audit", []) => Command::Audit,
        ("help", []) => Command::Help { topic: None },
        ("help", [topic]) => Command::Help {
            topic: Some((*topic).to_owned()),
        },
        ("quit", []) => Command::Quit,
        _ => return Err(usage()),
    };
    Ok(Some(command))
}

/// Trades `history` and `tape` show when no N is given.
pub const DEFAULT_TAPE_ROWS: usize = 10;

/// A row count for `history N` and `tape N`: 1 to the tape's length.
fn parse_count(text: &str) -> Option<usize> {
    text.parse()
        .ok()
        .filter(|count| (1..=crate::market::TAPE_LEN).contains(count))
}

/// A trade amount: a positive decimal with at most two fractional digits.
pub fn parse_amount(text: &str) -> Result<Money> {
    let amount = Money::parse(text).map_err(|error| Error::amount(text, error))?;
    if !amount.is_positive() {
        return Err(Error::Amount {
            text: text.to_owned(),
            reason: "it must be more than zero".into(),
        });
    }
    Ok(amount)
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Trade(Receipt),
    Rates(Vec<Rate>),
    Portfolio(Portfolio),
    Audit(Audit),
    Quote(Quote),
    Traders(Vec<Portfolio>),
    /// Trades from the tape, oldest first; `mine` for `history`.
    Tape {
        rows: Vec<TapeRow>,
        mine: bool,
    },
    /// Help for every command, or for one.
    Help(Vec<&'static CommandSpec>),
    Quit,
}

/// What a trade would cost or pay, from `quote`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quote {
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: crate::money::Price,
    pub total: Money,
}

/// A trader attached to an exchange, acting for one account.
pub struct Session {
    exchange: Store,
    account: AccountId,
    name: String,
}

impl Session {
    /// Attaches to the exchange and opens (or finds) the named account.
    pub fn open(address: &MarketAddress, name: &str) -> Result<Session> {
        // Check the name before attaching, so a bad --name is reported as
        // such even when there is no exchange yet.
        if !crate::names::is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        let exchange = Store::attach(address)?;
        let account = exchange.open_account(name)?;
        Ok(Session {
            exchange,
            account,
            name: name.to_owned(),
        })
    }

    /// The account this session trades for.
    pub fn account_name(&self) -> &str {
        &self.name
    }

    /// The exchange this session is attached to.
    pub fn exchange(&self) -> &Store {
        &self.exchange
    }

    /// Parses and executes one line; `Ok(None)` for a blank or comment.
    pub fn run_line(&mut self, line: &str) -> Result<Option<Reply>> {
        match parse(line)? {
            Some(command) => self.execute(command).map(Some),
            None => Ok(None),
        }
    }

    /// Executes one command against the exchange.
    pub fn execute(&mut self, command: Command) -> Result<Reply> {
        if command == Command::Quit {
            return Ok(Reply::Quit);
        }
        if let Command::Help { topic } = &command {
            return help(topic.as_deref());
        }
        // Before touching the segment, make sure it is still there and
        // whole: never trade on an orphan, never fault past its end.
        self.exchange.check_backing()?;
        match command {
            Command::Trade {
                side,
                currency,
                amount,
            } => {
                let currency = self.exchange.currency(&currency)?;
                let fill = self.exchange.trade(self.account, side, currency, amount)?;
                Ok(Reply::Trade(self.exchange.receipt(fill)))
            }
            Command::Rates => self.exchange.rates().map(Reply::Rates),
            Command::Portfolio => self.exchange.portfolio(self.account).map(Reply::Portfolio),
            Command::Audit => self.exchange.audit().map(Reply::Audit),
            Command::Quote {
                side,
                currency,
                amount,
            } => {
                let id = self.exchange.currency(&currency)?;
                let (price, total) = self.exchange.quote(side, id, amount)?;
                Ok(Reply::Quote(Quote {
                    side,
                    currency: self.exchange.currency_info(id)?.name.clone(),
                    amount,
                    price,
                    total,
                }))
            }
            Command::Traders => self.exchange.traders().map(Reply::Traders),
            Command::History { limit } => Ok(Reply::Tape {
                rows: self.exchange.tape(limit, Some(self.account))?,
                mine: true,
            }),
            Command::Tape { limit } => Ok(Reply::Tape {
                rows: self.exchange.tape(limit, None)?,
                mine: false,
            }),
            Command::Help { .. } | Command::Quit => unreachable!("handled above"),
        }
    }
}

fn help(topic: Option<&str>) -> Result<Reply> {
    match topic {
        None => Ok(Reply::Help(COMMANDS.iter().collect())),
        Some(topic) => command_spec(topic)
            .map(|spec| Reply::Help(vec![spec]))
            .ok_or_else(|| Error::UnknownCommand {
                word: topic.to_owned(),
                suggestion: crate::suggest::closest(topic, COMMANDS.iter().map(|spec| spec.name)),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(line: &str) -> String {
        match parse(line) {
            Err(error) => {
                assert!(error.is_refusal(), "{line:?}: {error}");
                error.to_string()
            }
            Ok(command) => panic!("{line:?} parsed as {command:?}"),
        }
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(
            parse("  BUY dollar 12.5 ").unwrap(),
            Some(Command::Trade {
                side: Side::Buy,
                currency: "dollar".into(),
                amount: Money::from_hundredths(1250)
            })
        );
        assert_eq!(parse("rates").unwrap(), Some(Command::Rates));
        assert_eq!(parse("exit").unwrap(), Some(Command::Quit));
        assert_eq!(
            parse("help sell").unwrap(),
            Some(Command::Help {
                topic: Some("sell".into())
            })
        );
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("# a comment").unwrap(), None);
    }

    #[test]
    fn refuses_bad_lines_with_the_fix() {
        assert!(refused("biy DOLLAR 1").contains("did you mean \"buy\""));
        assert!(refused("buy DOLLAR").contains("usage: buy CUR AMOUNT"));
        assert!(refused("buy DOLLAR 1 2").contains("usage: buy CUR AMOUNT"));
        assert!(refused("rates now").contains("usage: rates"));
        for amount in [
            "0",
            "0.00",
            "-1",
            "1e3",
            "1.234",
            "NaN",
            "99999999999999999999",
            "abc",
        ] {
            let message = refused(&format!("buy DOLLAR {amount}"));
            assert!(message.starts_with("bad amount"), "{amount}: {message}");
        }
    }
}
