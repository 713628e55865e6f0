//! Turns a [`Reply`] or an [`Error`] into what a person or a script reads.
//!
//! Four shapes: `Table` and `ColourTable` for people (aligned columns,
//! several lines; the second with ANSI colour), `Line` for scripts (exactly
//! one line a command) and `Json` (exactly one [`crate::envelope`] object
//! a command). Only the table shapes may change to read better; scripts
//! parse the other two.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::IsTerminal;

use serde::Serialize;

use crate::command::{command_spec, CommandSpec, Reply};
use crate::domain::{Audit, Portfolio, Rate, Side, TapeRow};
use crate::envelope::{Envelope, ErrorEnvelope, NoFields};
use crate::error::Error;
use crate::table::{paint, Paint};

mod banner;
mod protocol;
mod status;
mod tables;
mod tape;

pub use banner::banner;
pub use status::{init_text, Init};
pub(crate) use tables::rates_table;
pub use tables::spread;
use tables::{help_text, portfolio_table, traders_table};
pub(crate) use tape::tape_table;
use tape::{announcement, history_text, side_word, tape_line};
pub use tape::{kind_word, row_line};

/// How replies are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Aligned tables for a person, without colour.
    Table,
    /// Aligned tables with ANSI colour, for a person at a terminal.
    ColourTable,
    /// One line a reply, for scripts.
    Line,
    /// One JSON object a reply.
    Json,
}

impl Style {
    /// The table style for output written to `stream`: coloured when it is
    /// a terminal, `NO_COLOR` is unset or empty and `TERM` is not `dumb`.
    pub fn table_for(stream: &impl IsTerminal) -> Style {
        let colour = wants_colour(
            stream.is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        );
        if colour {
            Style::ColourTable
        } else {
            Style::Table
        }
    }

    /// True for the two table styles.
    pub fn is_table(self) -> bool {
        matches!(self, Style::Table | Style::ColourTable)
    }

    /// True when output may carry ANSI colour.
    pub fn is_coloured(self) -> bool {
        self == Style::ColourTable
    }
}

/// The colour decision, given whether the output is a terminal and the
/// values of `NO_COLOR` (<https://no-color.org>: any non-empty value turns
/// colour off) and `TERM`.
pub fn wants_colour(is_terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    is_terminal && no_color.map_or(true, OsStr::is_empty) && term != Some(OsStr::new("dumb"))
}

/// Renders a reply without a trailing newline; `Quit` renders as nothing
/// except in JSON.
pub fn reply(reply: &Reply, style: Style) -> String {
    let mut text = String::new();
    write_reply(&mut text, reply, style);
    text
}

/// [`reply`], appended to `out`: a script's driver renders every reply
/// into one buffer, so the one-line shape allocates nothing per command.
pub fn write_reply(out: &mut String, reply: &Reply, style: Style) {
    match style {
        Style::Json => out.push_str(&json_reply(reply)),
        Style::Line => line_reply(reply, out),
        Style::Table | Style::ColourTable => out.push_str(&table_reply(reply, style.is_coloured())),
    }
}

/// Renders the error of `command` (a command's name, see
/// [`crate::command::command_word`]): one line of text, or one JSON
/// object with the command and the error's stable code. For a person, a
/// usage error also shows an example of the command.
pub fn error(error: &Error, command: &str, style: Style) -> String {
    match style {
        Style::Json => ErrorEnvelope::new(command, error.code(), &error.to_string()).to_json(),
        Style::Line => format!("error: {error}"),
        Style::Table | Style::ColourTable => format!(
            "{} {}",
            paint("error:", Paint::Error, style.is_coloured()),
            explain(error)
        ),
    }
}

/// A command-line parser's multi-line usage error (clap's `error: ...`,
/// a `tip:` line, the usage, "For more information, try '--help'") as
/// one line for a JSON object: the error, its tips, and where help is.
pub fn usage_error_line(rendered: &str, program: &str) -> String {
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let mut parts: Vec<&str> = lines
        .next()
        .map(|first| first.strip_prefix("error: ").unwrap_or(first))
        .into_iter()
        .collect();
    parts.extend(lines.filter(|line| line.starts_with("tip:")));
    format!("{}; see `{program} --help`", parts.join("; "))
}

/// An error's message for a person: a usage error gains an example of the
/// command, e.g. ``usage: buy CUR AMOUNT; for example `buy DOLLAR 10` ``.
pub fn explain(error: &Error) -> String {
    let mut text = error.to_string();
    if let Error::Usage { usage } = error {
        let example = usage
            .split_whitespace()
            .next()
            .and_then(command_spec)
            .map(|spec| spec.example);
        if let Some(example) = example {
            let _ = write!(text, "; for example `{example}`");
        }
    }
    text
}

/// The fields of a reply's JSON object beside `ok` and `command`.
#[derive(Serialize)]
#[serde(untagged)]
enum Fields<'a> {
    Currencies {
        currencies: &'a [Rate],
    },
    Traders {
        traders: &'a [Portfolio],
    },
    Trades {
        trades: &'a [TapeRow],
    },
    History {
        name: &'a str,
        trades: &'a [TapeRow],
        /// Trades the account made in all, shown or not.
        count: u32,
        last_trade: Option<u64>,
    },
    Commands {
        commands: &'a [&'static CommandSpec],
    },
    /// A portfolio, and `"open": false`.
    NotOpen {
        #[serde(flatten)]
        portfolio: &'a Portfolio,
        open: bool,
    },
}

/// The `"code"` of an audit that found money or currency created or lost.
pub const INCONSISTENT_AUDIT: &str = "inconsistent_audit";

/// What `portfolio` adds for an account not open yet.
const NOT_OPEN: &str =
    "not open yet: opening it would wait for the lock, or you may only read here; `buy` or `sell` opens it";

fn json_reply(reply: &Reply) -> String {
    match reply {
        Reply::Trade(receipt) => Envelope::success(side_word(receipt.side), receipt).to_json(),
        Reply::Rates(rates) => {
            Envelope::success("rates", Fields::Currencies { currencies: rates }).to_json()
        }
        Reply::Portfolio(portfolio) => Envelope::success("portfolio", portfolio).to_json(),
        Reply::NotOpen(portfolio) => Envelope::success(
            "portfolio",
            Fields::NotOpen {
                portfolio,
                open: false,
            },
        )
        .to_json(),
        Reply::Audit(audit) if !audit.consistent => {
            Envelope::failure("audit", INCONSISTENT_AUDIT, &audit_line(audit), audit).to_json()
        }
        Reply::Audit(audit) => Envelope::success("audit", audit).to_json(),
        Reply::Quote(quote) => Envelope::success("quote", quote).to_json(),
        Reply::Traders(traders) => {
            Envelope::success("traders", Fields::Traders { traders }).to_json()
        }
        Reply::Tape(rows) => Envelope::success("tape", Fields::Trades { trades: rows }).to_json(),
        Reply::History(history) => Envelope::success(
            "history",
            Fields::History {
                name: &history.name,
                trades: &history.rows,
                count: history.trades,
                last_trade: history.last_trade,
            },
        )
        .to_json(),
        Reply::Instructor(kind) => Envelope::success(kind_word(kind), kind).to_json(),
        Reply::Help(specs) => {
            Envelope::success("help", Fields::Commands { commands: specs }).to_json()
        }
        Reply::Hello(hello) => Envelope::success("hello", hello).to_json(),
        Reply::Wait(waited) => Envelope::success("wait", waited).to_json(),
        Reply::Quit => Envelope::success("quit", NoFields {}).to_json(),
    }
}

/// The one-line shape scripts parse, appended to `out`. Do not change it.
fn line_reply(reply: &Reply, out: &mut String) {
    match reply {
        Reply::Trade(_) | Reply::Quote(_) => sentence(reply, out),
        Reply::Rates(rates) => {
            for (index, rate) in rates.iter().enumerate() {
                if index > 0 {
                    out.push_str("; ");
                }
                let _ = write!(
                    out,
                    "{} sell {} buy {} stock {}",
                    rate.name, rate.sell, rate.buy, rate.stock
                );
            }
        }
        Reply::Portfolio(portfolio) | Reply::NotOpen(portfolio) => {
            let _ = write!(out, "{} balance {}", portfolio.name, portfolio.balance);
            for (name, amount) in &portfolio.holdings {
                let _ = write!(out, " {name} {amount}");
            }
            if let Reply::NotOpen(_) = reply {
                let _ = write!(out, "; {NOT_OPEN}");
            }
        }
        Reply::Audit(audit) => out.push_str(&audit_line(audit)),
        Reply::Traders(traders) => {
            let rows: Vec<String> = traders
                .iter()
                .map(|trader| {
                    let mut row = format!("{} balance {}", trader.name, trader.balance);
                    for (name, amount) in trader
                        .holdings
                        .iter()
                        .filter(|(_, amount)| amount.hundredths() != 0)
                    {
                        let _ = write!(row, " {name} {amount}");
                    }
                    row
                })
                .collect();
            out.push_str(&rows.join("; "));
        }
        Reply::Tape(rows) if rows.is_empty() => out.push_str("no trades yet"),
        Reply::Tape(rows) => out.push_str(&tape_line(rows)),
        Reply::History(history) => out.push_str(&history_text(history, None)),
        Reply::Instructor(kind) => out.push_str(&announcement(kind)),
        Reply::Help(specs) => {
            let usages: Vec<String> = specs
                .iter()
                .map(|spec| format!("{} ({}; e.g. `{}`)", spec.usage, spec.summary, spec.example))
                .collect();
            out.push_str(&usages.join("; "));
        }
        Reply::Hello(hello) => protocol::hello_line(hello, out),
        Reply::Wait(waited) => protocol::waited_line(waited, out),
        Reply::Quit => {}
    }
}

/// The sentence a trade or a quote is, in every text style, appended to
/// `out`.
fn sentence(reply: &Reply, out: &mut String) {
    let _ = match reply {
        Reply::Trade(receipt) => {
            let verb = match receipt.side {
                Side::Buy => "bought",
                Side::Sell => "sold",
            };
            write!(
                out,
                "{verb} {} {} at {} for {}; balance {}",
                receipt.amount, receipt.currency, receipt.price, receipt.total, receipt.balance
            )
        }
        Reply::Quote(quote) => {
            let (verb, outcome) = match quote.side {
                Side::Buy => ("buying", "would cost"),
                Side::Sell => ("selling", "would pay"),
            };
            write!(
                out,
                "{verb} {} {} at {} {outcome} {}",
                quote.amount, quote.currency, quote.price, quote.total
            )
        }
        _ => Ok(()),
    };
}

/// The aligned, optionally coloured shape for a person.
fn table_reply(reply: &Reply, colour: bool) -> String {
    match reply {
        Reply::Trade(receipt) => {
            let paint_as = match receipt.side {
                Side::Buy => Paint::Gain,
                Side::Sell => Paint::Loss,
            };
            let mut text = String::new();
            sentence(reply, &mut text);
            // Colour only the verb, so the numbers stay easy to read.
            match text.split_once(' ') {
                Some((verb, rest)) => format!("{} {rest}", paint(verb, paint_as, colour)),
                None => text,
            }
        }
        Reply::Quote(_) => {
            let mut text = String::new();
            sentence(reply, &mut text);
            text
        }
        Reply::Audit(audit) => paint(
            &audit_line(audit),
            if audit.consistent {
                Paint::Gain
            } else {
                Paint::Loss
            },
            colour,
        ),
        Reply::Rates(rates) => rates_table(rates).render(colour),
        Reply::Portfolio(portfolio) => portfolio_table(portfolio, colour),
        Reply::NotOpen(portfolio) => format!(
            "{}\n{}",
            portfolio_table(portfolio, colour),
            paint(&format!("({NOT_OPEN})"), Paint::Dim, colour)
        ),
        Reply::Traders(traders) => traders_table(traders).render(colour),
        Reply::Tape(rows) if rows.is_empty() => "no trades yet".to_owned(),
        Reply::Tape(rows) => tape_table(rows).render(colour),
        Reply::History(history) => history_text(history, Some(colour)),
        Reply::Instructor(kind) => announcement(kind),
        Reply::Help(specs) => help_text(specs, colour),
        Reply::Hello(hello) => protocol::hello_text(hello),
        Reply::Wait(waited) => {
            let mut text = String::new();
            protocol::waited_line(waited, &mut text);
            text
        }
        Reply::Quit => String::new(),
    }
}

fn audit_line(audit: &Audit) -> String {
    if audit.consistent {
        return format!(
            "audit: consistent; {} and {}, cash {} + balances {} = initial cash {} + starting balances {}",
            plural(audit.currencies.len(), "currency", "currencies"),
            plural(audit.money.accounts as usize, "account", "accounts"),
            audit.money.cash,
            audit.money.balances,
            audit.money.initial_cash,
            audit.money.starting_balances
        );
    }
    let mut problems: Vec<String> = audit
        .currencies
        .iter()
        .filter(|row| row.discrepancy.hundredths() != 0)
        .map(|row| {
            format!(
                "{} {} {}",
                row.name,
                created_or_lost(row.discrepancy.hundredths()),
                row.discrepancy.abs()
            )
        })
        .collect();
    if audit.money.discrepancy.hundredths() != 0 {
        problems.push(format!(
            "money {} {}",
            created_or_lost(audit.money.discrepancy.hundredths()),
            audit.money.discrepancy.abs()
        ));
    }
    format!("audit: INCONSISTENT: {}", problems.join(", "))
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn created_or_lost(discrepancy: i128) -> &'static str {
    if discrepancy > 0 {
        "created"
    } else {
        "lost"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::COMMANDS;
    use crate::domain::{CurrencyAudit, MoneyAudit, Receipt, TapeKind};
    use crate::money::{Money, Price, WideMoney};

    fn money(hundredths: i64) -> Money {
        Money::from_hundredths(hundredths)
    }

    fn price(text: &str) -> Price {
        Price::parse(text).unwrap()
    }

    fn rates() -> Reply {
        Reply::Rates(vec![
            Rate {
                name: "DOLLAR".into(),
                sell: price("13.72"),
                buy: price("13.40"),
                stock: money(999_000),
            },
            Rate {
                name: "STERLIN".into(),
                sell: price("24.552"),
                buy: price("24.551"),
                stock: money(1_000_000),
            },
        ])
    }

    fn portfolio(profit: i64) -> Portfolio {
        Portfolio {
            name: "alice".into(),
            balance: money(86_280),
            holdings: vec![("DOLLAR".into(), money(1000)), ("EURO".into(), money(0))],
            values: vec![
                ("DOLLAR".into(), money(13_400).into()),
                ("EURO".into(), money(0).into()),
            ],
            net_worth: money(100_000 + profit).into(),
            starting_balance: money(100_000),
            profit: money(profit).into(),
        }
    }

    fn assert_no_ansi(text: &str) {
        assert!(
            !text.contains('\x1b'),
            "colour where none was asked: {text:?}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let term = Some(OsStr::new("xterm-256color"));
        assert!(wants_colour(true, None, term));
        assert!(wants_colour(true, Some(OsStr::new("")), term));
        assert!(wants_colour(true, None, None));
        assert!(!wants_colour(false, None, term));
        assert!(!wants_colour(true, Some(OsStr::new("1")), term));
        assert!(!wants_colour(true, None, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn rates_table_is_aligned_and_shows_the_spread() {
        let text = reply(&rates(), Style::Table);
        assert_no_ansi(&text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "CURRENCY    SELL     BUY  SPREAD  SPREAD %     STOCK"
        );
        assert_eq!(
            lines[1],
            "DOLLAR     13.72   13.40    0.32    2.332%   9990.00"
        );
        assert_eq!(
            lines[2],
            "STERLIN   24.552  24.551   0.001    0.004%  10000.00"
        );
    }

    #[test]
    fn spread_rounds_half_up() {
        assert_eq!(
            spread(price("10"), price("9")),
            (price("1"), "10.000%".into())
        );
        assert_eq!(spread(price("3"), price("2")).1, "33.333%");
        assert_eq!(spread(price("3"), price("1")).1, "66.667%");
        assert_eq!(spread(price("5"), price("5")).1, "0.000%");
    }

    #[test]
    fn colour_codes_never_break_alignment() {
        let plain = reply(&rates(), Style::Table);
        let coloured = reply(&rates(), Style::ColourTable);
        assert!(coloured.contains("\x1b[1mCURRENCY\x1b[0m"), "{coloured:?}");
        assert_eq!(strip_ansi(&coloured), plain);
        let plain = reply(&Reply::Portfolio(portfolio(-320)), Style::Table);
        let coloured = reply(&Reply::Portfolio(portfolio(-320)), Style::ColourTable);
        assert!(coloured.contains("\x1b[31m3.20\x1b[0m"), "{coloured:?}");
        assert_eq!(strip_ansi(&coloured), plain);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn portfolio_shows_values_and_profit_or_loss() {
        let text = reply(&Reply::Portfolio(portfolio(-320)), Style::Table);
        assert_eq!(
            text,
            "portfolio of alice; values at the exchange's buy price\n\
             CURRENCY      HOLDING    VALUE\n\
             DOLLAR          10.00   134.00\n\
             EURO             0.00     0.00\n\
             balance                 862.80\n\
             net worth               996.80\n\
             started with           1000.00\n\
             loss                      3.20"
        );
        let text = reply(&Reply::Portfolio(portfolio(1250)), Style::Table);
        assert!(text.ends_with("\nprofit                   12.50"), "{text}");
        // The script shape is unchanged.
        assert_eq!(
            reply(&Reply::Portfolio(portfolio(-320)), Style::Line),
            "alice balance 862.80 DOLLAR 10.00 EURO 0.00"
        );
    }

    #[test]
    fn line_and_json_shapes_are_one_line() {
        let receipt = Reply::Trade(Receipt {
            side: Side::Buy,
            currency: "DOLLAR".into(),
            amount: money(1000),
            price: price("13.72"),
            total: money(13_720),
            balance: money(86_280),
        });
        let audit = Reply::Audit(Audit {
            consistent: true,
            currencies: vec![CurrencyAudit {
                name: "DOLLAR".into(),
                stock: money(999_000).into(),
                held: money(1000).into(),
                initial: money(1_000_000).into(),
                discrepancy: money(0).into(),
            }],
            money: MoneyAudit {
                cash: money(1).into(),
                balances: money(2).into(),
                initial_cash: money(1).into(),
                accounts: 1,
                accounts_opened: 1,
                starting_balances: money(2).into(),
                discrepancy: money(0).into(),
            },
        });
        let help = Reply::Help(COMMANDS.iter().collect());
        for reply_ in [
            rates(),
            receipt,
            audit,
            help,
            Reply::Portfolio(portfolio(5)),
        ] {
            for style in [Style::Line, Style::Json] {
                let text = reply(&reply_, style);
                assert_eq!(text.lines().count(), 1, "{style:?}: {text}");
                assert_no_ansi(&text);
            }
        }
        assert_eq!(
            reply(&rates(), Style::Line),
            "DOLLAR sell 13.72 buy 13.40 stock 9990.00; STERLIN sell 24.552 buy 24.551 stock 10000.00"
        );
    }

    #[test]
    fn help_gives_usage_and_an_example() {
        let all = reply(&Reply::Help(COMMANDS.iter().collect()), Style::Table);
        for line in all.lines() {
            assert!(line.len() <= 80, "wider than a terminal: {line:?}");
        }
        for spec in COMMANDS {
            assert!(all.contains(spec.usage), "{all}");
            assert!(all.contains(&format!("e.g. {}", spec.example)), "{all}");
        }
        let one = reply(
            &Reply::Help(vec![command_spec("quote").unwrap()]),
            Style::Table,
        );
        assert_eq!(
            one,
            "usage:    quote buy|sell CUR AMOUNT\n          \
             show what a trade would cost or pay, without trading\n\
             example:  quote buy POUND 3"
        );
    }

    #[test]
    fn usage_errors_show_an_example_to_a_person_only() {
        let usage = Error::Usage {
            usage: "buy CUR AMOUNT",
        };
        assert_eq!(
            error(&usage, "buy", Style::Table),
            "error: wrong arguments; usage: buy CUR AMOUNT; for example `buy DOLLAR 10`"
        );
        assert_eq!(
            error(&usage, "buy", Style::ColourTable),
            "\x1b[1;31merror:\x1b[0m wrong arguments; usage: buy CUR AMOUNT; for example `buy DOLLAR 10`"
        );
        assert_eq!(
            error(&usage, "buy", Style::Line),
            "error: wrong arguments; usage: buy CUR AMOUNT"
        );
        assert_eq!(
            error(&usage, "buy", Style::Json),
            r#"{"ok":false,"command":"buy","code":"wrong_arguments","error":"wrong arguments; usage: buy CUR AMOUNT"}"#
        );
    }

    #[test]
    fn an_absurd_audit_renders_without_overflow() {
        let audit = Audit {
            consistent: false,
            currencies: vec![CurrencyAudit {
                name: "DOLLAR".into(),
                stock: WideMoney::ZERO,
                held: WideMoney::ZERO,
                initial: WideMoney::ZERO,
                discrepancy: WideMoney::from_hundredths(i128::MIN),
            }],
            money: MoneyAudit {
                accounts_opened: 0,
                cash: WideMoney::ZERO,
                balances: WideMoney::ZERO,
                initial_cash: WideMoney::ZERO,
                accounts: 0,
                starting_balances: WideMoney::ZERO,
                discrepancy: WideMoney::from_hundredths(i128::MIN),
            },
        };
        for style in [Style::Line, Style::Json, Style::Table] {
            let text = reply(&Reply::Audit(audit.clone()), style);
            assert!(text.contains("INCONSISTENT"), "{text}");
        }
    }

    #[test]
    fn usage_errors_become_one_line() {
        let clap = "error: unexpected argument '--jsn' found\n\n  tip: a similar argument exists: '--json'\n\nUsage: trader --json [COMMAND]...\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(clap, "trader"),
            "unexpected argument '--jsn' found; tip: a similar argument exists: '--json'; see `trader --help`"
        );
    }

    #[test]
    fn tape_table_lines_up() {
        let row = |seq, account: &str, side| TapeRow {
            seq,
            kind: TapeKind::Trade {
                account: account.into(),
                side,
                currency: "EURO".into(),
                amount: money(250),
                price: price("19.50"),
                total: money(4875),
            },
        };
        let text = reply(
            &Reply::Tape(vec![row(9, "al", Side::Buy), row(10, "bob", Side::Sell)]),
            Style::Table,
        );
        assert_eq!(
            text,
            "SEQ  ACCOUNT  ACTION  CURRENCY  AMOUNT  PRICE  TOTAL\n  \
             9  al       buy     EURO        2.50  19.50  48.75\n \
             10  bob      sell    EURO        2.50  19.50  48.75"
        );
    }
}
