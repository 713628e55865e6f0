//! The trader's command language: [`parse`] a line into a [`Command`], and
//! [`Session::execute`] it into a [`Reply`]. The REPL, the script runner
//! and the one-shot mode are thin drivers over these two calls, so every
//! command can be tested without a terminal.
#![forbid(unsafe_code)]

use crate::domain::{AccountId, Audit, History, Portfolio, Rate, Receipt, Side, TapeKind, TapeRow};
use crate::error::{Error, Result};
use crate::money::{Money, Price, WideMoney};
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
    /// `traders`: every account ranked by net worth.
    Traders,
    /// `history [N]`: your last N trades.
    History { limit: usize },
    /// `tape [N]`: the last N entries: everyone's trades and the owner's
    /// commands.
    Tape { limit: usize },
    /// `price CUR SELL BUY` (owner): set a quote.
    Price {
        currency: String,
        sell: Price,
        buy: Price,
    },
    /// `halt` (owner): stop trading.
    Halt,
    /// `resume` (owner): let trading go on.
    Resume,
    /// `reset` (owner): every account and the market back to the start.
    Reset,
    /// `close NAME` (owner): remove an account.
    Close { name: String },
    /// `hello`: the protocol version, the market, the account's rights,
    /// the currencies and the limits (see [`crate::protocol`]).
    Hello,
    /// `wait [MS]`: sleep until the market changes or MS milliseconds pass.
    Wait { ms: u64 },
    /// `help [CMD]`.
    Help { topic: Option<String> },
    /// `quit` or `exit`.
    Quit,
}

/// A command's name, usage, one-line summary and an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
        summary: "rank every account by net worth, richest first",
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
        summary: "show the last N trades and owner's commands",
        example: "tape 20",
    },
    CommandSpec {
        name: "audit",
        usage: "audit",
        summary: "check that no currency or money was created or lost",
        example: "audit",
    },
    CommandSpec {
        name: "price",
        usage: "price CUR SELL BUY",
        summary: "owner: set CUR's quote; SELL at least BUY",
        example: "price DOLLAR 14.10 13.80",
    },
    CommandSpec {
        name: "halt",
        usage: "halt",
        summary: "owner: stop trading; reads go on",
        example: "halt",
    },
    CommandSpec {
        name: "resume",
        usage: "resume",
        summary: "owner: let trading go on after `halt`",
        example: "resume",
    },
    CommandSpec {
        name: "reset",
        usage: "reset",
        summary: "owner: every account and the market back to start",
        example: "reset",
    },
    CommandSpec {
        name: "close",
        usage: "close NAME",
        summary: "owner: remove an account, returning its money",
        example: "close ana",
    },
    CommandSpec {
        name: "hello",
        usage: "hello",
        summary: "show the protocol version, market, rights and limits",
        example: "hello",
    },
    CommandSpec {
        name: "wait",
        usage: "wait [MS]",
        summary: "sleep until the market changes or MS ms pass (1000)",
        example: "wait 500",
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

/// The longest command line accepted, in bytes, not counting its newline:
/// no command comes near it, and a bound keeps every reader's memory
/// bounded whatever the input.
pub const MAX_LINE: usize = 4096;

/// Looks a command up by name or alias, ignoring case.
pub fn command_spec(name: &str) -> Option<&'static CommandSpec> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map_or(name, |(_, target)| target);
    COMMANDS
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(name))
}

/// The name of the command a line runs, for the `"command"` of its JSON
/// error: the command's own name for a known command or alias (`exit` is
/// `quit`), else the first word as typed, lowercased.
pub fn command_word(line: &str) -> String {
    let first = line.split_whitespace().next().unwrap_or("");
    command_spec(first).map_or_else(|| first.to_ascii_lowercase(), |spec| spec.name.to_owned())
}

/// Parses one line. Blank lines and `#` comments are `Ok(None)`.
pub fn parse(line: &str) -> Result<Option<Command>> {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
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
    // No command takes more than three arguments: a fourth is kept only so
    // that its line matches no command below and is refused with the usage.
    let mut kept = [""; 4];
    let mut count = 0;
    for word in words.take(kept.len()) {
        kept[count] = word;
        count += 1;
    }
    let args = &kept[..count];
    let command = match (spec.name, args) {
        ("buy" | "sell", [currency, amount]) => Command::Trade {
            side: if spec.name == "buy" {
                Side::Buy
            } else {
                Side::Sell
            },
            currency: (*currency).to_owned(),
            amount: parse_amount(amount)
                .map_err(|error| swapped(error, currency, amount, spec.name))?,
        },
        ("quote", [side, currency, amount]) => Command::Quote {
            side: match side.to_ascii_lowercase().as_str() {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                _ => return Err(usage()),
            },
            currency: (*currency).to_owned(),
            amount: parse_amount(amount)
                .map_err(|error| swapped(error, currency, amount, &format!("quote {side}")))?,
        },
        ("traders", []) => Command::Traders,
        ("history", []) => Command::History {
            limit: DEFAULT_TAPE_ROWS,
        },
        ("tape", []) => Command::Tape {
            limit: DEFAULT_TAPE_ROWS,
        },
        ("history", [count]) => Command::History {
            limit: parse_count(count, spec.usage)?,
        },
        ("tape", [count]) => Command::Tape {
            limit: parse_count(count, spec.usage)?,
        },
        ("price", [currency, sell, buy]) => Command::Price {
            currency: (*currency).to_owned(),
            sell: parse_price(sell)?,
            buy: parse_price(buy)?,
        },
        ("halt", []) => Command::Halt,
        ("resume", []) => Command::Resume,
        ("reset", []) => Command::Reset,
        ("close", [name]) => Command::Close {
            name: (*name).to_owned(),
        },
        ("rates", []) => Command::Rates,
        ("portfolio", []) => Command::Portfolio,
        ("audit", []) => Command::Audit,
        ("hello", []) => Command::Hello,
        ("wait", []) => Command::Wait {
            ms: crate::protocol::DEFAULT_WAIT_MS,
        },
        ("wait", [ms]) => Command::Wait {
            ms: parse_wait(ms, spec.usage)?,
        },
        ("help", []) => Command::Help { topic: None },
        ("help", [topic]) => Command::Help {
            topic: Some((*topic).to_owned()),
        },
        ("quit", []) => Command::Quit,
        _ => return Err(usage()),
    };
    Ok(Some(command))
}

/// `error`, the amount's, unless the words look swapped (`buy 10 DOLLAR`:
/// a number where the currency goes and a name where the amount goes):
/// then what the line should have been.
fn swapped(error: Error, currency: &str, amount: &str, command: &str) -> Error {
    let name_like = amount.starts_with(|c: char| c.is_ascii_alphabetic());
    if name_like && Money::parse(currency).is_ok() {
        Error::Swapped {
            meant: format!("{command} {amount} {currency}"),
        }
    } else {
        error
    }
}

/// Trades `history` and `tape` show when no N is given.
pub const DEFAULT_TAPE_ROWS: usize = 10;

/// A row count for `history N` and `tape N`: 1 to the tape's length.
fn parse_count(text: &str, usage: &'static str) -> Result<usize> {
    let max = crate::domain::TAPE_LEN;
    text.parse()
        .ok()
        .filter(|count| (1..=max).contains(count))
        .ok_or_else(|| Error::Count {
            text: text.to_owned(),
            max,
            usage,
        })
}

/// A `wait`'s milliseconds: 0 to [`crate::protocol::MAX_WAIT_MS`].
fn parse_wait(text: &str, usage: &'static str) -> Result<u64> {
    let max = crate::protocol::MAX_WAIT_MS;
    text.parse()
        .ok()
        .filter(|ms| *ms <= max)
        .ok_or_else(|| Error::WaitTime {
            text: text.to_owned(),
            max,
            usage,
        })
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

/// A quote's price: a positive decimal with at most four fractional
/// digits.
pub fn parse_price(text: &str) -> Result<Price> {
    let price = Price::parse(text).map_err(|error| Error::Price {
        text: text.to_owned(),
        reason: error.to_string(),
    })?;
    if price.ten_thousandths() <= 0 {
        return Err(Error::Price {
            text: text.to_owned(),
            reason: "it must be more than zero".into(),
        });
    }
    Ok(price)
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Trade(Receipt),
    Rates(Vec<Rate>),
    Portfolio(Portfolio),
    /// The portfolio of an account not open yet, from a snapshot: the
    /// starting balance and nothing held. Given when opening it would wait
    /// for the lock, or this user may only read.
    NotOpen(Portfolio),
    Audit(Audit),
    Quote(Quote),
    /// Every open account, richest first.
    Traders(Vec<Portfolio>),
    /// Entries from the tape, oldest first.
    Tape(Vec<TapeRow>),
    /// The account's trades on the tape, and its count of trades in all.
    History(History),
    /// What one of the owner's commands did, as the tape records it.
    Instructor(TapeKind),
    /// Help for every command, or for one.
    Help(Vec<&'static CommandSpec>),
    Hello(Box<crate::protocol::Hello>),
    Wait(crate::protocol::Waited),
    Quit,
}

impl Reply {
    /// The exit status this reply earns: an inconsistent audit is a failed
    /// command (DESIGN.md), everything else succeeded.
    pub fn exit_status(&self) -> crate::exit::ExitStatus {
        match self {
            Reply::Audit(audit) if !audit.consistent => crate::exit::ExitStatus::Refused,
            _ => crate::exit::ExitStatus::Success,
        }
    }
}

/// What a trade would cost or pay, from `quote`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Quote {
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: crate::money::Price,
    pub total: Money,
}

/// A trader attached to an exchange, acting for one account, which is
/// opened by the first command that needs it (`buy`, `sell`, `portfolio`,
/// `history`), never by a read of the market. `portfolio` and `history`
/// never wait for the lock to open it: while another process holds the
/// lock they answer from a snapshot that it is not open yet.
pub struct Session {
    exchange: Store,
    /// Found or opened on first use; forgotten when the owner closes it.
    account: Option<AccountId>,
    name: String,
    /// Queued commands run since the segment's backing was last checked.
    unchecked: u32,
    /// The change counter the last `wait` or `hello` answered, which the
    /// next `wait` waits past, so no change between two is missed.
    seen: Option<u32>,
}

/// How often queued commands check the segment's backing: see
/// [`Session::run_queued_line`].
const QUEUED_CHECK_EVERY: u32 = 256;

/// When a command checks that the segment is still there and whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackingCheck {
    /// Before this command.
    Now,
    /// Before one queued command in [`QUEUED_CHECK_EVERY`].
    Queued,
}

impl Session {
    /// Attaches to the exchange, read-write or, for a user who may only
    /// read it, read-only. Opens no account.
    pub fn open(address: &MarketAddress, name: &str) -> Result<Session> {
        // Check the name before attaching, so a bad --name is reported as
        // such even when there is no exchange yet.
        if !crate::names::is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        let exchange = Store::attach_or_read_only(address)?;
        Ok(Session {
            exchange,
            account: None,
            name: name.to_owned(),
            unchecked: 0,
            seen: None,
        })
    }

    /// The session's account, opened (or found) now if it was not yet.
    fn account(&mut self) -> Result<AccountId> {
        if let Some(account) = self.account {
            return Ok(account);
        }
        let account = self.exchange.open_account(&self.name)?;
        self.account = Some(account);
        Ok(account)
    }

    /// The session's account for a read: found, or opened if that needs
    /// no wait for the lock; `None` (not open yet) if opening would wait
    /// (another process holds the lock) or this user may only read. Reads
    /// never wait for the lock.
    fn found_account(&mut self) -> Result<Option<AccountId>> {
        if self.account.is_none() {
            self.account = self.exchange.open_account_if_free(&self.name)?;
        }
        Ok(self.account)
    }

    /// What an account not open yet would hold: the starting balance and
    /// none of any currency.
    fn not_open_portfolio(&self) -> Result<Portfolio> {
        let starting_balance = self.exchange.starting_balance()?;
        let zero: Vec<(String, Money)> = self
            .exchange
            .currencies()
            .iter()
            .map(|currency| (currency.name.clone(), Money::ZERO))
            .collect();
        Ok(Portfolio {
            name: self.name.clone(),
            balance: starting_balance,
            holdings: zero.clone(),
            values: zero
                .iter()
                .map(|(name, _)| (name.clone(), WideMoney::ZERO))
                .collect(),
            net_worth: starting_balance.into(),
            starting_balance,
            profit: WideMoney::ZERO,
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
        self.run(line, BackingCheck::Now)
    }

    /// [`Session::run_line`] for a line that was already waiting in the
    /// input when the line before it was run: a script's or a paste's.
    /// These check the segment's backing once in [`QUEUED_CHECK_EVERY`]
    /// commands instead of before each, because the check (an `fstat`)
    /// cost more than the command.
    ///
    /// Skipping it between lines loses no safety. `exchange-init
    /// --remove` and `--force` mark the segment retired before unlinking
    /// it, and every read (the snapshot) and every write (the lock)
    /// refuses a retired segment before anything else. A page lost to a
    /// shrink is the SIGBUS handler's to report, with the same exit status
    /// and one line. What a skipped check can miss is an object unlinked
    /// by hand, for at most that many commands, on memory that is still
    /// whole. A line that was not queued (a person's, or a program's that
    /// waits for each answer) is checked as before.
    pub fn run_queued_line(&mut self, line: &str) -> Result<Option<Reply>> {
        self.run(line, BackingCheck::Queued)
    }

    fn run(&mut self, line: &str, check: BackingCheck) -> Result<Option<Reply>> {
        if line.trim_end_matches(['\n', '\r']).len() > MAX_LINE {
            return Err(Error::LineTooLong { limit: MAX_LINE });
        }
        match parse(line)? {
            Some(command) => self.execute_with(command, check).map(Some),
            None => Ok(None),
        }
    }

    /// Executes one command against the exchange.
    pub fn execute(&mut self, command: Command) -> Result<Reply> {
        self.execute_with(command, BackingCheck::Now)
    }

    fn execute_with(&mut self, command: Command, check: BackingCheck) -> Result<Reply> {
        if command == Command::Quit {
            return Ok(Reply::Quit);
        }
        if let Command::Help { topic } = &command {
            return help(topic.as_deref());
        }
        // Before touching the segment, make sure it is still there and
        // whole: never trade on an orphan, never fault past its end.
        if check == BackingCheck::Now || self.unchecked >= QUEUED_CHECK_EVERY {
            self.exchange.check_backing()?;
            self.unchecked = 0;
        } else {
            self.unchecked += 1;
        }
        let reply = self.execute_checked(command);
        if let Err(Error::AccountClosed) = reply {
            self.account = None;
        }
        reply
    }

    fn execute_checked(&mut self, command: Command) -> Result<Reply> {
        match command {
            Command::Trade {
                side,
                currency,
                amount,
            } => {
                let currency = self.exchange.currency(&currency)?;
                let account = self.account()?;
                let fill = self.exchange.trade(account, side, currency, amount)?;
                Ok(Reply::Trade(self.exchange.receipt(fill)))
            }
            Command::Rates => self.exchange.rates().map(Reply::Rates),
            Command::Portfolio => match self.found_account()? {
                Some(account) => self.exchange.portfolio(account).map(Reply::Portfolio),
                None => self.not_open_portfolio().map(Reply::NotOpen),
            },
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
            Command::History { limit } => match self.found_account()? {
                Some(account) => self.exchange.history(account, limit).map(Reply::History),
                None => Ok(Reply::History(History {
                    name: self.name.clone(),
                    rows: Vec::new(),
                    trades: 0,
                    last_trade: None,
                })),
            },
            Command::Tape { limit } => self.exchange.tape(limit).map(Reply::Tape),
            Command::Price {
                currency,
                sell,
                buy,
            } => {
                self.exchange.require_owner("set prices")?;
                let id = self.exchange.currency(&currency)?;
                self.exchange.set_price(id, sell, buy)?;
                Ok(Reply::Instructor(TapeKind::Price {
                    currency: self.exchange.currency_info(id)?.name.clone(),
                    sell,
                    buy,
                }))
            }
            Command::Halt => self
                .exchange
                .halt()
                .map(|()| Reply::Instructor(TapeKind::Halt)),
            Command::Resume => self
                .exchange
                .resume()
                .map(|()| Reply::Instructor(TapeKind::Resume)),
            Command::Reset => self
                .exchange
                .reset()
                .map(|()| Reply::Instructor(TapeKind::Reset)),
            Command::Close { name } => {
                let balance = self.exchange.close_account(&name)?;
                Ok(Reply::Instructor(TapeKind::Close {
                    account: name,
                    balance,
                }))
            }
            Command::Hello => {
                let hello = crate::protocol::hello(self.exchange.market(), &self.name)?;
                self.seen = Some(hello.seq);
                Ok(Reply::Hello(Box::new(hello)))
            }
            Command::Wait { ms } => {
                let seen = self
                    .seen
                    .unwrap_or_else(|| self.exchange.settled_change_seq());
                let waited = crate::protocol::wait(
                    self.exchange.market(),
                    seen,
                    std::time::Duration::from_millis(ms),
                );
                self.seen = Some(waited.seq);
                Ok(Reply::Wait(waited))
            }
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
    use crate::{Exchange, SegmentAddress};

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

    /// An exchange of this test's own, removed however the test ends.
    struct Market(SegmentAddress);

    impl Drop for Market {
        fn drop(&mut self) {
            let _ = Exchange::remove(&self.0);
            if let SegmentAddress::Posix { name } = &self.0 {
                let _ = nix::sys::mman::shm_unlink(name.as_str());
            }
        }
    }

    /// An object unlinked by hand, behind exchange-init's back, is found
    /// by the next line that was not queued, and by a queued line within
    /// [`QUEUED_CHECK_EVERY`] commands.
    #[test]
    fn queued_lines_check_the_backing_every_few_hundred_commands() {
        let address: SegmentAddress = format!("posix:/shmx-command-{}", std::process::id())
            .parse()
            .unwrap();
        let market = Market(address);
        Exchange::create(&market.0, &crate::MarketConfig::default(), 0o600).unwrap();
        let address = MarketAddress::Segment(market.0.clone());
        let mut person = Session::open(&address, "ann").unwrap();
        let mut script = Session::open(&address, "bo").unwrap();
        let SegmentAddress::Posix { name } = &market.0 else {
            unreachable!("made above")
        };
        nix::sys::mman::shm_unlink(name.as_str()).unwrap();

        assert!(matches!(
            person.run_line("rates"),
            Err(Error::Retired { .. })
        ));
        let refused_at = (0..=QUEUED_CHECK_EVERY)
            .position(|_| script.run_queued_line("rates").is_err())
            .expect("no queued line checked the backing");
        assert_eq!(refused_at, QUEUED_CHECK_EVERY as usize);
        assert!(matches!(
            script.run_queued_line("rates"),
            Err(Error::Retired { .. })
        ));
    }

    #[test]
    fn refuses_bad_lines_with_the_fix() {
        assert!(refused("biy DOLLAR 1").contains("did you mean \"buy\""));
        assert!(refused("buy DOLLAR").contains("usage: buy CUR AMOUNT"));
        assert!(refused("buy DOLLAR 1 2").contains("usage: buy CUR AMOUNT"));
        assert!(refused("rates now").contains("usage: rates"));
        let count = refused("tape 300");
        assert!(count.contains("from 1 to 256"), "{count}");
        assert!(count.contains("usage: tape [N]"), "{count}");
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

    #[test]
    fn swapped_arguments_are_named_as_such() {
        for (line, meant) in [
            ("buy 10 DOLLAR", "buy DOLLAR 10"),
            ("sell 2.50 euro", "sell euro 2.50"),
            ("quote buy 3 POUND", "quote buy POUND 3"),
        ] {
            let error = parse(line).unwrap_err();
            assert_eq!(error.code(), "swapped_arguments", "{line}");
            assert!(
                error
                    .to_string()
                    .contains(&format!("did you mean `{meant}`?")),
                "{line}: {error}"
            );
            assert!(error.is_refusal() && error.is_usage(), "{line}");
        }
        // A bad amount that is not a swap stays a bad amount.
        assert_eq!(parse("buy DOLLAR x").unwrap_err().code(), "bad_amount");
        assert_eq!(parse("buy 10 -2").unwrap_err().code(), "bad_amount");
    }
}
