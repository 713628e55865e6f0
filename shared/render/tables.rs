//! The aligned tables a person reads: rates with their spread, a
//! portfolio with its profit or loss, the traders, the tape and help. Kept
//! apart from the one-line and JSON shapes, which scripts parse and which
//! must not change; these may change to read better.
#![forbid(unsafe_code)]

use crate::command::CommandSpec;
use crate::domain::{Portfolio, Rate};
use crate::money::{Price, WideMoney};
use crate::table::{Align, Cell, Paint, Table};

pub(crate) fn rates_table(rates: &[Rate]) -> Table {
    let mut table = Table::new(&[
        ("CURRENCY", Align::Left),
        ("SELL", Align::Right),
        ("BUY", Align::Right),
        ("SPREAD", Align::Right),
        ("SPREAD %", Align::Right),
        ("STOCK", Align::Right),
    ]);
    for rate in rates {
        let (spread, percent) = spread(rate.sell, rate.buy);
        table.row(vec![
            Cell::plain(&rate.name),
            Cell::plain(rate.sell),
            Cell::plain(rate.buy),
            Cell::plain(spread),
            Cell::plain(percent),
            Cell::plain(rate.stock),
        ]);
    }
    table
}

/// The spread `sell - buy`, and that as a percentage of `sell` with three
/// decimals, rounded half up.
pub fn spread(sell: Price, buy: Price) -> (Price, String) {
    let spread = sell.ten_thousandths().saturating_sub(buy.ten_thousandths());
    let sell_units = i128::from(sell.ten_thousandths());
    let thousandths_of_percent = if sell_units > 0 {
        (i128::from(spread) * 200_000 + sell_units) / (2 * sell_units)
    } else {
        0
    };
    (
        Price::from_ten_thousandths(spread),
        format!(
            "{}.{:03}%",
            thousandths_of_percent / 1000,
            thousandths_of_percent % 1000
        ),
    )
}

pub(super) fn portfolio_table(portfolio: &Portfolio, colour: bool) -> String {
    let mut table = Table::new(&[
        ("CURRENCY", Align::Left),
        ("HOLDING", Align::Right),
        ("VALUE", Align::Right),
    ]);
    for (name, amount) in &portfolio.holdings {
        let value = portfolio
            .values
            .iter()
            .find(|(valued, _)| valued == name)
            .map_or(WideMoney::ZERO, |(_, value)| *value);
        let paint_as = (amount.hundredths() == 0).then_some(Paint::Dim);
        table.row(vec![
            Cell::painted(name, paint_as),
            Cell::painted(amount, paint_as),
            Cell::painted(value, paint_as),
        ]);
    }
    for (label, amount) in [
        ("balance", portfolio.balance.into()),
        ("net worth", portfolio.net_worth),
        ("started with", portfolio.starting_balance.into()),
    ] {
        table.row(vec![
            Cell::plain(label),
            Cell::plain(""),
            Cell::plain(amount),
        ]);
    }
    // "loss 3.20", never "loss -3.20": the word carries the sign.
    let (label, paint_as) = match portfolio.profit.hundredths().signum() {
        -1 => ("loss", Some(Paint::Loss)),
        1 => ("profit", Some(Paint::Gain)),
        _ => ("profit", None),
    };
    table.row(vec![
        Cell::plain(label),
        Cell::plain(""),
        Cell::painted(portfolio.profit.abs(), paint_as),
    ]);
    format!(
        "portfolio of {}; values at the exchange's buy price\n{}",
        portfolio.name,
        table.render(colour)
    )
}

fn profit_cell(profit: WideMoney) -> Cell {
    let paint_as = match profit.hundredths().signum() {
        1 => Some(Paint::Gain),
        -1 => Some(Paint::Loss),
        _ => None,
    };
    let text = if profit.hundredths() > 0 {
        format!("+{profit}")
    } else {
        profit.to_string()
    };
    Cell::painted(text, paint_as)
}

pub(super) fn traders_table(traders: &[Portfolio]) -> Table {
    let mut table = Table::new(&[
        ("ACCOUNT", Align::Left),
        ("BALANCE", Align::Right),
        ("NET WORTH", Align::Right),
        ("PROFIT", Align::Right),
        ("HOLDINGS", Align::Left),
    ]);
    for trader in traders {
        let held: Vec<String> = trader
            .holdings
            .iter()
            .filter(|(_, amount)| amount.hundredths() != 0)
            .map(|(name, amount)| format!("{name} {amount}"))
            .collect();
        table.row(vec![
            Cell::plain(&trader.name),
            Cell::plain(trader.balance),
            Cell::plain(trader.net_worth),
            profit_cell(trader.profit),
            if held.is_empty() {
                Cell::painted("-", Some(Paint::Dim))
            } else {
                Cell::plain(held.join(", "))
            },
        ]);
    }
    table
}

pub(super) fn help_text(specs: &[&CommandSpec], colour: bool) -> String {
    if let [spec] = specs {
        let mut table = Table::without_header(&[Align::Left, Align::Left]);
        table.row(vec![
            Cell::plain("usage:"),
            Cell::painted(spec.usage, Some(Paint::Header)),
        ]);
        table.row(vec![Cell::plain(""), Cell::plain(spec.summary)]);
        table.row(vec![Cell::plain("example:"), Cell::plain(spec.example)]);
        return table.render(colour);
    }
    let mut table = Table::new(&[("COMMAND", Align::Left), ("WHAT IT DOES", Align::Left)]);
    for spec in specs {
        table.row(vec![Cell::plain(spec.usage), Cell::plain(spec.summary)]);
        table.row(vec![
            Cell::plain(""),
            Cell::painted(format!("e.g. {}", spec.example), Some(Paint::Dim)),
        ]);
    }
    format!(
        "{}\n`help CMD` shows one command; Tab completes commands and currencies",
        table.render(colour)
    )
}
