//! How the tape, an account's history and the owner's commands read: one
//! sentence per entry kind, shared by the table, the one-line and the
//! board shapes, so a price change or a reset reads the same everywhere.
#![forbid(unsafe_code)]

use crate::domain::{History, Side, TapeKind, TapeRow, TAPE_LEN};
use crate::table::{Align, Cell, Paint, Table};

/// The word for a trade's side.
pub(super) fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// The word for an entry's kind: the side of a trade, else the command.
pub fn kind_word(kind: &TapeKind) -> &'static str {
    match kind {
        TapeKind::Trade { side, .. } => side_word(*side),
        TapeKind::Price { .. } => "price",
        TapeKind::Halt => "halt",
        TapeKind::Resume => "resume",
        TapeKind::Reset => "reset",
        TapeKind::Close { .. } => "close",
        TapeKind::Tick { .. } => "tick",
    }
}

/// One entry on one line, as scripts read it:
/// `#7 ana buy 1.00 DOLLAR at 13.72 = 13.72`, `#8 price DOLLAR sell 14.10
/// buy 13.80`, `#9 halt`, `#10 close ana, balance 986.28 to the cash`.
pub fn row_line(row: &TapeRow) -> String {
    let seq = row.seq;
    match &row.kind {
        TapeKind::Trade {
            account,
            side,
            currency,
            amount,
            price,
            total,
        } => format!(
            "#{seq} {account} {} {amount} {currency} at {price} = {total}",
            side_word(*side)
        ),
        TapeKind::Price {
            currency,
            sell,
            buy,
        } => format!("#{seq} price {currency} sell {sell} buy {buy}"),
        TapeKind::Close { account, balance } => {
            format!("#{seq} close {account}, balance {balance} to the cash")
        }
        TapeKind::Tick { moves } => format!("#{seq} tick, {}", quotes_moved(*moves)),
        other => format!("#{seq} {}", kind_word(other)),
    }
}

/// How many quotes a tick moved, in words.
fn quotes_moved(moves: u32) -> String {
    if moves == 1 {
        "1 quote moved".to_owned()
    } else {
        format!("{moves} quotes moved")
    }
}

/// Entries on one line, `; ` apart.
pub(super) fn tape_line(rows: &[TapeRow]) -> String {
    let rows: Vec<String> = rows.iter().map(row_line).collect();
    rows.join("; ")
}

/// The tape as a table. An owner's command fills the columns that apply:
/// a price shows `SELL/BUY` under PRICE, a close the balance under TOTAL.
pub(crate) fn tape_table(rows: &[TapeRow]) -> Table {
    let mut table = Table::new(&[
        ("SEQ", Align::Right),
        ("ACCOUNT", Align::Left),
        ("ACTION", Align::Left),
        ("CURRENCY", Align::Left),
        ("AMOUNT", Align::Right),
        ("PRICE", Align::Right),
        ("TOTAL", Align::Right),
    ]);
    for row in rows {
        let word = kind_word(&row.kind);
        let cells = match &row.kind {
            TapeKind::Trade {
                account,
                side,
                currency,
                amount,
                price,
                total,
            } => [
                Cell::plain(account),
                Cell::painted(
                    word,
                    Some(match side {
                        Side::Buy => Paint::Gain,
                        Side::Sell => Paint::Loss,
                    }),
                ),
                Cell::plain(currency),
                Cell::plain(amount),
                Cell::plain(price),
                Cell::plain(total),
            ],
            TapeKind::Price {
                currency,
                sell,
                buy,
            } => [
                Cell::painted("owner", Some(Paint::Dim)),
                Cell::painted(word, Some(Paint::Header)),
                Cell::plain(currency),
                Cell::plain(""),
                Cell::plain(format!("{sell}/{buy}")),
                Cell::plain(""),
            ],
            TapeKind::Close { account, balance } => [
                Cell::plain(account),
                Cell::painted(word, Some(Paint::Header)),
                Cell::plain(""),
                Cell::plain(""),
                Cell::plain(""),
                Cell::plain(balance),
            ],
            TapeKind::Tick { moves } => [
                Cell::painted("ticker", Some(Paint::Dim)),
                Cell::painted(word, Some(Paint::Header)),
                Cell::plain(format!("{moves} moved")),
                Cell::plain(""),
                Cell::plain(""),
                Cell::plain(""),
            ],
            TapeKind::Halt | TapeKind::Resume | TapeKind::Reset => [
                Cell::painted("owner", Some(Paint::Dim)),
                Cell::painted(word, Some(Paint::Header)),
                Cell::plain(""),
                Cell::plain(""),
                Cell::plain(""),
                Cell::plain(""),
            ],
        };
        let mut line = vec![Cell::plain(row.seq)];
        line.extend(cells);
        table.row(line);
    }
    table
}

/// What `history` says beside its rows: nothing when every trade of the
/// account is shown, else how many it made and the last one's number, so
/// it never says "no trades yet" to an account whose trades left the tape.
pub(super) fn history_note(history: &History) -> Option<String> {
    let last = history.last_trade?;
    if history.rows.len() >= history.trades as usize {
        return None;
    }
    let made = if history.trades == 1 {
        "1 trade".to_owned()
    } else {
        format!("{} trades", history.trades)
    };
    Some(if history.rows.is_empty() {
        format!("{made}, the last #{last}; the tape keeps only the last {TAPE_LEN} entries")
    } else {
        format!("{made} in all, the last #{last}")
    })
}

/// `history` for a person (`table`) or a script (one line).
pub(super) fn history_text(history: &History, table: Option<bool>) -> String {
    let note = history_note(history);
    if history.rows.is_empty() {
        return note.unwrap_or_else(|| "no trades yet".to_owned());
    }
    let rows = match table {
        Some(colour) => tape_table(&history.rows).render(colour),
        None => tape_line(&history.rows),
    };
    match (note, table) {
        (None, _) => rows,
        (Some(note), Some(_)) => format!("{rows}\n({note})"),
        (Some(note), None) => format!("{rows}; {note}"),
    }
}

/// What one of the owner's commands did, as a sentence.
pub(super) fn announcement(kind: &TapeKind) -> String {
    match kind {
        TapeKind::Price {
            currency,
            sell,
            buy,
        } => format!("{currency} now sells at {sell} and buys at {buy}"),
        TapeKind::Halt => "trading halted: trades are refused until `resume`; reads go on".into(),
        TapeKind::Resume => "trading resumed".into(),
        TapeKind::Reset => "market reset: every account back to its starting balance with no holdings, stock and cash to their initial values, the tape cleared".into(),
        TapeKind::Close { account, balance } => format!(
            "closed {account}: its holdings went back to the stock and its balance {balance} to the cash"
        ),
        TapeKind::Tick { moves } => format!("ticker: {}", quotes_moved(*moves)),
        TapeKind::Trade { .. } => kind_word(kind).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Reply;
    use crate::money::{Money, Price};
    use crate::render::{reply, Style};

    fn money(hundredths: i64) -> Money {
        Money::from_hundredths(hundredths)
    }

    fn price(text: &str) -> Price {
        Price::parse(text).unwrap()
    }

    #[test]
    fn history_tells_the_truth_once_the_tape_moved_on() {
        let history = |rows, trades, last_trade| History {
            name: "ana".into(),
            rows,
            trades,
            last_trade,
        };
        let none = history(vec![], 0, None);
        assert_eq!(reply(&Reply::History(none), Style::Line), "no trades yet");
        let gone = history(vec![], 12, Some(301));
        assert_eq!(
            reply(&Reply::History(gone.clone()), Style::Table),
            "12 trades, the last #301; the tape keeps only the last 256 entries"
        );
        let json: serde_json::Value =
            serde_json::from_str(&reply(&Reply::History(gone), Style::Json)).unwrap();
        assert_eq!(json["command"], "history");
        assert_eq!(json["count"], 12);
        assert_eq!(json["last_trade"], 301);
        assert_eq!(json["trades"], serde_json::json!([]));
        let row = TapeRow {
            seq: 301,
            kind: TapeKind::Trade {
                account: "ana".into(),
                side: Side::Buy,
                currency: "EURO".into(),
                amount: money(100),
                price: price("19.50"),
                total: money(1950),
            },
        };
        let some = history(vec![row], 12, Some(301));
        assert_eq!(
            reply(&Reply::History(some), Style::Line),
            "#301 ana buy 1.00 EURO at 19.50 = 19.50; 12 trades in all, the last #301"
        );
    }

    #[test]
    fn owner_commands_read_the_same_on_the_tape_and_as_replies() {
        let price_kind = TapeKind::Price {
            currency: "DOLLAR".into(),
            sell: price("14.10"),
            buy: price("13.80"),
        };
        let close = TapeKind::Close {
            account: "ana".into(),
            balance: money(98_628),
        };
        let rows: Vec<TapeRow> = [price_kind.clone(), TapeKind::Halt, close.clone()]
            .into_iter()
            .zip(3..)
            .map(|(kind, seq)| TapeRow { seq, kind })
            .collect();
        assert_eq!(
            reply(&Reply::Tape(rows.clone()), Style::Line),
            "#3 price DOLLAR sell 14.10 buy 13.80; #4 halt; #5 close ana, balance 986.28 to the cash"
        );
        let table = reply(&Reply::Tape(rows.clone()), Style::Table);
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.contains("14.10/13.80"), "{table}");
        let json: serde_json::Value =
            serde_json::from_str(&reply(&Reply::Tape(rows), Style::Json)).unwrap();
        assert_eq!(
            json["trades"][0],
            serde_json::json!({"seq": 3, "kind": "price", "currency": "DOLLAR", "sell": "14.10", "buy": "13.80"})
        );
        assert_eq!(
            json["trades"][1],
            serde_json::json!({"seq": 4, "kind": "halt"})
        );
        let json: serde_json::Value =
            serde_json::from_str(&reply(&Reply::Instructor(close), Style::Json)).unwrap();
        assert_eq!(json["command"], "close");
        assert_eq!(json["balance"], "986.28");
        assert_eq!(
            reply(&Reply::Instructor(price_kind), Style::Line),
            "DOLLAR now sells at 14.10 and buys at 13.80"
        );
    }
}
