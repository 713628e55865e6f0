//! Turns a [`Reply`] or an [`Error`] into what a person or a script reads.
//!
//! Three shapes: `Table` for people (aligned, several lines), `Line` for
//! scripts (exactly one line a command) and `Json` (exactly one object a
//! command, always with `"ok"`).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::command::Reply;
use crate::error::Error;
use crate::market::{Audit, Side};
use crate::money::Money;

/// How replies are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Aligned tables for a person at a terminal.
    Table,
    /// One line a reply, for scripts.
    Line,
    /// One JSON object a reply.
    Json,
}

/// Renders a reply without a trailing newline; `Quit` renders as nothing
/// except in JSON.
pub fn reply(reply: &Reply, style: Style) -> String {
    match style {
        Style::Json => json_reply(reply).to_string(),
        Style::Table | Style::Line => text_reply(reply, style == Style::Table),
    }
}

/// Renders an error: one line of text, or one JSON object.
pub fn error(error: &Error, style: Style) -> String {
    match style {
        Style::Json => json!({ "ok": false, "error": error.to_string() }).to_string(),
        Style::Table | Style::Line => format!("error: {error}"),
    }
}

fn with_ok(command: &str, value: impl serde::Serialize) -> Value {
    let mut object = json!({ "ok": true, "command": command });
    if let (Value::Object(target), Ok(Value::Object(fields))) =
        (&mut object, serde_json::to_value(value))
    {
        target.extend(fields);
    }
    object
}

fn json_reply(reply: &Reply) -> Value {
    match reply {
        Reply::Trade(receipt) => with_ok(
            match receipt.side {
                Side::Buy => "buy",
                Side::Sell => "sell",
            },
            receipt,
        ),
        Reply::Rates(rates) => with_ok("rates", json!({ "currencies": rates })),
        Reply::Portfolio(portfolio) => with_ok("portfolio", portfolio),
        Reply::Audit(audit) => with_ok("audit", audit),
        Reply::Quote(quote) => with_ok("quote", quote),
        Reply::Traders(traders) => with_ok("traders", json!({ "traders": traders })),
        Reply::Tape { rows, mine } => with_ok(
            if *mine { "history" } else { "tape" },
            json!({ "trades": rows }),
        ),
        Reply::Help(specs) => with_ok(
            "help",
            json!({ "commands": specs.iter().map(|spec| json!({
                "name": spec.name,
                "usage": spec.usage,
                "summary": spec.summary,
                "example": spec.example,
            })).collect::<Vec<_>>() }),
        ),
        Reply::Quit => with_ok("quit", json!({})),
    }
}

fn text_reply(reply: &Reply, table: bool) -> String {
    let mut out = String::new();
    match reply {
        Reply::Trade(receipt) => {
            let verb = match receipt.side {
                Side::Buy => "bought",
                Side::Sell => "sold",
            };
            let _ = write!(
                out,
                "{verb} {} {} at {} for {}; balance {}",
                receipt.amount, receipt.currency, receipt.price, receipt.total, receipt.balance
            );
        }
        Reply::Rates(rates) if table => {
            let _ = write!(
                out,
                "{:<15} {:>10} {:>10} {:>14}",
                "CURRENCY", "SELL", "BUY", "STOCK"
            );
            for rate in rates {
                let _ = write!(
                    out,
                    "\n{:<15} {:>10} {:>10} {:>14}",
                    rate.name,
                    rate.sell.to_string(),
                    rate.buy.to_string(),
                    rate.stock.to_string()
                );
            }
        }
        Reply::Rates(rates) => {
            let rows: Vec<String> = rates
                .iter()
                .map(|rate| {
                    format!(
                        "{} sell {} buy {} stock {}",
                        rate.name, rate.sell, rate.buy, rate.stock
                    )
                })
                .collect();
            out.push_str(&rows.join("; "));
        }
        Reply::Portfolio(portfolio) if table => {
            let _ = write!(out, "{:<15} {:>14}", portfolio.name, "HOLDING");
            for (name, amount) in &portfolio.holdings {
                let _ = write!(out, "\n{:<15} {:>14}", name, amount.to_string());
            }
            let _ = write!(
                out,
                "\n{:<15} {:>14}",
                "balance",
                portfolio.balance.to_string()
            );
        }
        Reply::Portfolio(portfolio) => {
            let _ = write!(out, "{} balance {}", portfolio.name, portfolio.balance);
            for (name, amount) in &portfolio.holdings {
                let _ = write!(out, " {name} {amount}");
            }
        }
        Reply::Audit(audit) => out.push_str(&audit_line(audit)),
        Reply::Quote(quote) => {
            let verb = match quote.side {
                Side::Buy => "buying",
                Side::Sell => "selling",
            };
            let outcome = match quote.side {
                Side::Buy => "would cost",
                Side::Sell => "would pay",
            };
            let _ = write!(
                out,
                "{verb} {} {} at {} {outcome} {}",
                quote.amount, quote.currency, quote.price, quote.total
            );
        }
        Reply::Traders(traders) if table => {
            let _ = write!(
                out,
                "{:<31} {:>14} {:>14}  HOLDINGS",
                "ACCOUNT", "BALANCE", "PROFIT"
            );
            for trader in traders {
                let held: Vec<String> = trader
                    .holdings
                    .iter()
                    .filter(|(_, amount)| amount.hundredths() != 0)
                    .map(|(name, amount)| format!("{name} {amount}"))
                    .collect();
                let _ = write!(
                    out,
                    "\n{:<31} {:>14} {:>14}  {}",
                    trader.name,
                    trader.balance.to_string(),
                    trader.profit.to_string(),
                    if held.is_empty() {
                        "-".to_owned()
                    } else {
                        held.join(", ")
                    }
                );
            }
        }
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
        Reply::Tape { rows, .. } if rows.is_empty() => out.push_str("no trades yet"),
        Reply::Tape { rows, .. } if table => {
            let _ = write!(
                out,
                "{:>8}  {:<20} {:<4} {:<10} {:>12} {:>9} {:>12}",
                "SEQ", "ACCOUNT", "SIDE", "CURRENCY", "AMOUNT", "PRICE", "TOTAL"
            );
            for row in rows {
                let _ = write!(
                    out,
                    "\n{:>8}  {:<20} {:<4} {:<10} {:>12} {:>9} {:>12}",
                    row.seq,
                    row.account,
                    side_word(row.side),
                    row.currency,
                    row.amount.to_string(),
                    row.price.to_string(),
                    row.total.to_string()
                );
            }
        }
        Reply::Tape { rows, .. } => {
            let rows: Vec<String> = rows
                .iter()
                .map(|row| {
                    format!(
                        "#{} {} {} {} {} at {} = {}",
                        row.seq,
                        row.account,
                        side_word(row.side),
                        row.amount,
                        row.currency,
                        row.price,
                        row.total
                    )
                })
                .collect();
            out.push_str(&rows.join("; "));
        }
        Reply::Help(specs) if table => {
            for (index, spec) in specs.iter().enumerate() {
                if index > 0 {
                    out.push('\n');
                }
                let _ = write!(out, "{:<16} {}", spec.usage, spec.summary);
                if specs.len() == 1 {
                    let _ = write!(out, "\nexample: {}", spec.example);
                }
            }
        }
        Reply::Help(specs) => {
            let usages: Vec<String> = specs
                .iter()
                .map(|spec| format!("{} ({}; e.g. `{}`)", spec.usage, spec.summary, spec.example))
                .collect();
            out.push_str(&usages.join("; "));
        }
        Reply::Quit => {}
    }
    out
}

fn audit_line(audit: &Audit) -> String {
    if audit.consistent {
        return format!(
            "audit: consistent; {} currencies and {} accounts, cash {} + balances {} = {} + {}",
            audit.currencies.len(),
            audit.money.accounts,
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
                Money::from_hundredths(row.discrepancy.hundredths().abs())
            )
        })
        .collect();
    if audit.money.discrepancy.hundredths() != 0 {
        problems.push(format!(
            "money {} {}",
            created_or_lost(audit.money.discrepancy.hundredths()),
            Money::from_hundredths(audit.money.discrepancy.hundredths().abs())
        ));
    }
    format!("audit: INCONSISTENT: {}", problems.join(", "))
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn created_or_lost(discrepancy: i64) -> &'static str {
    if discrepancy > 0 {
        "created"
    } else {
        "lost"
    }
}
