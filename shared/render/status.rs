//! What `exchange-init` says it did, and `--status` for a person: the
//! address and what the operating system says, the header, and the rates.
//! (With `--json` the [`Status`] itself is the envelope's payload.)
#![forbid(unsafe_code)]

use crate::domain::Status;
use crate::table::{Align, Cell, Table};

/// What `exchange-init` did before it reports the market's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// `--status`: nothing changed.
    Status,
    /// A new market.
    Created,
    /// `--force` replaced what was there, and what that was when it was
    /// not a sound exchange.
    Replaced { found: Option<String> },
}

/// The report for a person: what was done, at which address, with the
/// market's status; with `group`, the class mode it was created in.
pub fn init_text(done: Init, status: &Status, group: Option<&str>) -> String {
    let verb = match done {
        Init::Status => "exchange".to_owned(),
        Init::Replaced { found: Some(found) } => {
            format!("replaced what was there ({found}) with the exchange")
        }
        Init::Replaced { found: None } => "replaced the exchange".to_owned(),
        Init::Created => "created the exchange".to_owned(),
    };
    let mut text = format!("{verb} at {}", describe(status));
    if let Some(group) = group {
        text.push_str(&format!(
            "\n  class mode: group {group}, mode 0660; only the trader installed for the class opens it, and a student trades as their login or LOGIN:LABEL"
        ));
    }
    text
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
    if status.unlocked_trades > 0 {
        text.push_str(&format!(
            " and {} UNLOCKED (stress --unlocked: not on the tape, the audit cannot balance)",
            status.unlocked_trades
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rate;
    use crate::money::{Money, Price};

    fn status() -> Status {
        Status {
            address: "posix:/m".into(),
            size: 4096,
            mode: "0600".into(),
            owner_uid: 1000,
            attached: None,
            layout_version: 8,
            accounts: 1,
            account_capacity: 64,
            cash: Money::from_hundredths(100),
            trades: 2,
            unlocked_trades: 0,
            halted: false,
            currencies: vec![Rate {
                name: "DOLLAR".into(),
                sell: Price::from_ten_thousandths(10_100),
                buy: Price::from_ten_thousandths(9_900),
                stock: Money::from_hundredths(500),
            }],
        }
    }

    #[test]
    fn a_replacement_names_what_was_there_and_the_class_mode() {
        let found = Some("a file of 3 bytes".to_owned());
        let text = init_text(Init::Replaced { found }, &status(), Some("class"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "replaced what was there (a file of 3 bytes) with the exchange at posix:/m: 4096 bytes, mode 0600, owner uid 1000"
        );
        assert!(lines[1].contains("1 of 64 accounts open"), "{text}");
        assert!(lines.iter().any(|line| line.contains("DOLLAR")), "{text}");
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("  class mode: group class"),
            "{text}"
        );
        let plain = init_text(Init::Status, &status(), None);
        assert!(plain.starts_with("exchange at posix:/m"), "{plain}");
        assert!(!plain.contains("class mode"), "{plain}");
    }
}
