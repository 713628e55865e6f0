//! The text of `trader watch`'s board: a header line, the rates and the
//! latest trades. It is plain text built from the library's own tables, so
//! it is tested without a terminal; the `trader` binary only draws it.
#![forbid(unsafe_code)]

use crate::error::Result;
use crate::money::Money;
use crate::render::{rates_table, tape_table};
use crate::store::Store;
use crate::stress::is_worker_account;

/// The board for `exchange`, with at most `trades_shown` trades, newest
/// first. Fails, as every command does, when the exchange was removed,
/// replaced or truncated.
pub fn board(exchange: &Store, trades_shown: usize) -> Result<String> {
    exchange.check_backing()?;
    let status = exchange.status()?;
    let mut tape = exchange.tape(trades_shown)?;
    tape.reverse();
    let unlocked = match status.unlocked_trades {
        0 => String::new(),
        count => format!(" + {count} UNLOCKED"),
    };
    let mut text = format!(
        "shm-exchange {}   trades {}{unlocked}   cash {}   accounts {}/{}   (q quits)\n",
        status.address, status.trades, status.cash, status.accounts, status.account_capacity
    );
    // Stress accounts are shown apart, so a class sees what a run did.
    let stress: Vec<_> = exchange
        .traders()?
        .into_iter()
        .filter(|trader| is_worker_account(&trader.name))
        .collect();
    if !stress.is_empty() {
        let balances = stress
            .iter()
            .try_fold(Money::ZERO, |sum, trader| sum.checked_add(trader.balance));
        text.push_str(&format!(
            "stress: {} account{}, balances {}\n",
            stress.len(),
            if stress.len() == 1 { "" } else { "s" },
            balances.map_or_else(|| "too large to sum".to_owned(), |sum| sum.to_string())
        ));
    }
    text.push('\n');
    text.push_str(&rates_table(&status.currencies).render(false));
    text.push_str("\n\nLATEST TRADES\n");
    if tape.is_empty() {
        text.push_str("(none yet)\n");
    } else {
        text.push_str(&tape_table(&tape).render(false));
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exchange, MarketConfig, SegmentAddress, Side};

    #[test]
    fn the_board_shows_rates_and_the_newest_trade_first() {
        let address: SegmentAddress = format!("posix:/shmx-board-{}", std::process::id())
            .parse()
            .unwrap();
        struct Remove<'a>(&'a SegmentAddress);
        impl Drop for Remove<'_> {
            fn drop(&mut self) {
                let _ = Exchange::remove(self.0);
            }
        }
        let exchange =
            Store::Segment(Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap());
        let _remove = Remove(&address);
        let empty = board(&exchange, 5).unwrap();
        assert!(empty.contains("trades 0"), "{empty}");
        assert!(empty.contains("LATEST TRADES\n(none yet)"), "{empty}");

        let ann = exchange.open_account("ann").unwrap();
        let pound = exchange.currency("POUND").unwrap();
        exchange
            .trade(ann, Side::Buy, pound, Money::from_hundredths(250))
            .unwrap();
        exchange
            .trade(ann, Side::Sell, pound, Money::from_hundredths(100))
            .unwrap();
        let stress = exchange.open_account("stress-0").unwrap();
        let euro = exchange.currency("EURO").unwrap();
        exchange
            .unlocked_demo()
            .unwrap()
            .trade(stress, Side::Buy, euro, Money::from_hundredths(100))
            .unwrap();
        let text = board(&exchange, 5).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("trades 2 + 1 UNLOCKED"), "{text}");
        assert!(
            lines[1].starts_with("stress: 1 account, balances 980.50"),
            "{text}"
        );
        assert!(lines[0].contains("accounts 2/64"), "{text}");
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("POUND") && line.contains("33.25")),
            "{text}"
        );
        let trades = text.split("LATEST TRADES\n").nth(1).unwrap();
        let rows: Vec<&str> = trades.lines().collect();
        assert!(rows[0].starts_with("SEQ"), "{text}");
        assert!(
            rows[1].contains("sell") && rows[1].contains("33.24"),
            "{text}"
        );
        assert!(
            rows[2].contains("buy") && rows[2].contains("83.13"),
            "{text}"
        );
    }
}
