//! The tape list's lines: one entry a line, its sequence number and kind
//! first, numbers as integers (hundredths, ten-thousandths), currencies by
//! index, and accounts by slot, serial and name, so a history tells an
//! account from a later one of the same name or slot, and the tape names a
//! closed account until a new one takes its slot, then shows `(closed)`,
//! as a segment does.
//!
//! ```text
//! SEQ buy|sell ACCOUNT SERIAL NAME CURRENCY AMOUNT PRICE TOTAL
//! SEQ price CURRENCY SELL BUY
//! SEQ halt | SEQ resume | SEQ reset
//! SEQ close ACCOUNT SERIAL NAME BALANCE
//! SEQ tick MOVES
//! ```
#![forbid(unsafe_code)]

use std::fmt;

use crate::domain::{Currency, Side, TapeKind, TapeRow, CLOSED};
use crate::money::{Money, Price};
use crate::names::is_account_name;

/// One line of the tape list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub seq: u64,
    pub kind: EntryKind,
}

/// What happened, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EntryKind {
    Trade {
        account: u32,
        serial: u32,
        name: String,
        side: Side,
        currency: usize,
        amount: Money,
        price: Price,
        total: Money,
    },
    Price {
        currency: usize,
        sell: Price,
        buy: Price,
    },
    Halt,
    Resume,
    Reset,
    Close {
        account: u32,
        serial: u32,
        name: String,
        balance: Money,
    },
    /// The ticker moved `moves` quotes at once.
    Tick {
        moves: u32,
    },
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.kind)
    }
}

/// An entry without its sequence number: what a trade's script prefixes
/// with the number it takes.
impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::Trade {
                account,
                serial,
                name,
                side,
                currency,
                amount,
                price,
                total,
            } => write!(
                f,
                "{} {account} {serial} {name} {currency} {} {} {}",
                side_word(*side),
                amount.hundredths(),
                price.ten_thousandths(),
                total.hundredths()
            ),
            EntryKind::Price {
                currency,
                sell,
                buy,
            } => write!(
                f,
                "price {currency} {} {}",
                sell.ten_thousandths(),
                buy.ten_thousandths()
            ),
            EntryKind::Halt => f.write_str("halt"),
            EntryKind::Resume => f.write_str("resume"),
            EntryKind::Reset => f.write_str("reset"),
            EntryKind::Close {
                account,
                serial,
                name,
                balance,
            } => write!(
                f,
                "close {account} {serial} {name} {}",
                balance.hundredths()
            ),
            EntryKind::Tick { moves } => write!(f, "tick {moves}"),
        }
    }
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

impl Entry {
    /// Parses a line; `None` for anything malformed, which readers skip.
    pub fn parse(line: &str) -> Option<Entry> {
        let mut words = line.split(' ');
        let mut next = || words.next();
        let seq = next()?.parse().ok()?;
        let name =
            |word: Option<&str>| word.filter(|name| is_account_name(name)).map(str::to_owned);
        let kind = match next()? {
            word @ ("buy" | "sell") => EntryKind::Trade {
                side: if word == "buy" { Side::Buy } else { Side::Sell },
                account: next()?.parse().ok()?,
                serial: next()?.parse().ok()?,
                name: name(next())?,
                currency: next()?.parse().ok()?,
                amount: Money::from_hundredths(next()?.parse().ok()?),
                price: Price::from_ten_thousandths(next()?.parse().ok()?),
                total: Money::from_hundredths(next()?.parse().ok()?),
            },
            "price" => EntryKind::Price {
                currency: next()?.parse().ok()?,
                sell: Price::from_ten_thousandths(next()?.parse().ok()?),
                buy: Price::from_ten_thousandths(next()?.parse().ok()?),
            },
            "halt" => EntryKind::Halt,
            "resume" => EntryKind::Resume,
            "reset" => EntryKind::Reset,
            "close" => EntryKind::Close {
                account: next()?.parse().ok()?,
                serial: next()?.parse().ok()?,
                name: name(next())?,
                balance: Money::from_hundredths(next()?.parse().ok()?),
            },
            "tick" => EntryKind::Tick {
                moves: next()?.parse().ok()?,
            },
            _ => return None,
        };
        next().is_none().then_some(Entry { seq, kind })
    }

    /// The account (slot and serial) of a trade entry.
    pub fn trader(&self) -> Option<(u32, u32)> {
        match self.kind {
            EntryKind::Trade {
                account, serial, ..
            } => Some((account, serial)),
            _ => None,
        }
    }

    /// The entry for people; `None` if it names no currency of the market.
    /// `holds(slot, serial)` says whether the account is still in its
    /// slot: if not, it shows as `(closed)`.
    pub fn row(self, currencies: &[Currency], holds: impl Fn(u32, u32) -> bool) -> Option<TapeRow> {
        let named = |index: usize| currencies.get(index).map(|c| c.name.clone());
        let shown = |account: u32, serial: u32, name: String| {
            if holds(account, serial) {
                name
            } else {
                CLOSED.to_owned()
            }
        };
        let kind = match self.kind {
            EntryKind::Trade {
                account,
                serial,
                name,
                side,
                currency,
                amount,
                price,
                total,
            } => TapeKind::Trade {
                account: shown(account, serial, name),
                side,
                currency: named(currency)?,
                amount,
                price,
                total,
            },
            EntryKind::Price {
                currency,
                sell,
                buy,
            } => TapeKind::Price {
                currency: named(currency)?,
                sell,
                buy,
            },
            EntryKind::Halt => TapeKind::Halt,
            EntryKind::Resume => TapeKind::Resume,
            EntryKind::Reset => TapeKind::Reset,
            EntryKind::Close {
                account,
                serial,
                name,
                balance,
            } => TapeKind::Close {
                account: shown(account, serial, name),
                balance,
            },
            EntryKind::Tick { moves } => TapeKind::Tick { moves },
        };
        Some(TapeRow {
            seq: self.seq,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_entry_reads_back_as_written() {
        let entries = [
            EntryKind::Trade {
                account: 3,
                serial: 7,
                name: "ann".into(),
                side: Side::Sell,
                currency: 1,
                amount: Money::from_hundredths(250),
                price: Price::from_ten_thousandths(13_7200),
                total: Money::from_hundredths(3430),
            },
            EntryKind::Price {
                currency: 0,
                sell: Price::from_ten_thousandths(2_0000),
                buy: Price::from_ten_thousandths(1_5000),
            },
            EntryKind::Halt,
            EntryKind::Resume,
            EntryKind::Reset,
            EntryKind::Close {
                account: 0,
                serial: 1,
                name: "bob".into(),
                balance: Money::from_hundredths(-5),
            },
        ];
        for (seq, kind) in entries.into_iter().enumerate() {
            let entry = Entry {
                seq: seq as u64 + 1,
                kind,
            };
            assert_eq!(Entry::parse(&entry.to_string()), Some(entry.clone()));
        }
        for bad in [
            "",
            "1",
            "x halt",
            "1 halt extra",
            "1 buy 0 1 a:b:c 0 1 1 1",
            "1 buy 0 ann 0 1 1 1",
            "1 close 0 1 ann",
        ] {
            assert_eq!(Entry::parse(bad), None, "{bad:?}");
        }
    }
}
