//! `trader follow`'s library half: which tape entries (trades and the
//! owner's commands) are new since the last look, and how many went by
//! unseen. Each entry reads as `tape` shows it ([`row_line`]).
//!
//! The tape is a ring of the last [`TAPE_LEN`] entries, each with its
//! sequence number, so a follower only remembers the next number it
//! expects. Whatever is on the tape from that number on is new, in order,
//! never twice; if the oldest new entry is past the expected number, the
//! ring went round more than once between two looks and the difference is
//! what was missed. The `trader` binary sleeps on the change counter
//! between looks and prints the events.
#![forbid(unsafe_code)]

use serde::Serialize;

use crate::domain::{TapeRow, TAPE_LEN};
use crate::error::Result;
use crate::render::row_line;
use crate::store::Market;

/// What a look at the tape found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// An entry not seen before.
    Entry(TapeRow),
    /// This many entries went by and off the tape unseen.
    Gap { gap: u64 },
}

/// A reader of the tape that reports each entry once, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    /// The sequence number of the next entry to report.
    next: u64,
}

impl Follower {
    /// A follower that reports the entries made from now on.
    pub fn from_now(exchange: &dyn Market) -> Result<Follower> {
        let newest = exchange.tape(1)?.last().map_or(0, |row| row.seq);
        Ok(Follower::after(newest))
    }

    /// A follower that reports the entries after number `seq`.
    pub fn after(seq: u64) -> Follower {
        Follower {
            next: following(seq),
        }
    }

    /// The sequence number of the next entry it expects.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The entries new since the last look, oldest first, after a gap if
    /// some were missed.
    pub fn poll(&mut self, exchange: &dyn Market) -> Result<Vec<Event>> {
        Ok(self.take_new(exchange.tape(TAPE_LEN)?))
    }

    /// Picks the new entries from `tape` (oldest first) and moves past
    /// them.
    pub fn take_new(&mut self, tape: Vec<TapeRow>) -> Vec<Event> {
        let mut events = Vec::new();
        for row in tape {
            if row.seq < self.next {
                continue;
            }
            if row.seq > self.next {
                events.push(Event::Gap {
                    gap: row.seq - self.next,
                });
            }
            self.next = following(row.seq);
            events.push(Event::Entry(row));
        }
        events
    }
}

/// The number after `seq` on the tape, which wraps past `u64::MAX` to 1
/// as the journal numbers entries: never a panic on a segment whose
/// counter reached its end.
fn following(seq: u64) -> u64 {
    match seq.wrapping_add(1) {
        0 => 1,
        next => next,
    }
}

/// An event as one line for people.
pub fn event_line(event: &Event) -> String {
    match event {
        Event::Entry(row) => row_line(row),
        Event::Gap { gap } => format!(
            "... missed {gap} {}: more than the tape's {TAPE_LEN} went by between two looks",
            if *gap == 1 { "entry" } else { "entries" }
        ),
    }
}

/// An event as one JSON object: the entry, or `{"gap": N}`.
pub fn event_json(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_else(|error| format!(r#"{{"error":"{error}"}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TapeKind;
    use crate::{Money, Price, Side};

    fn row(seq: u64) -> TapeRow {
        TapeRow {
            seq,
            kind: TapeKind::Trade {
                account: "ann".into(),
                side: Side::Buy,
                currency: "POUND".into(),
                amount: Money::from_hundredths(250),
                price: Price::from_ten_thousandths(332_500),
                total: Money::from_hundredths(8_313),
            },
        }
    }

    fn tape(seqs: std::ops::RangeInclusive<u64>) -> Vec<TapeRow> {
        seqs.map(row).collect()
    }

    fn seqs(events: &[Event]) -> Vec<u64> {
        events
            .iter()
            .filter_map(|event| match event {
                Event::Entry(row) => Some(row.seq),
                Event::Gap { .. } => None,
            })
            .collect()
    }

    #[test]
    fn each_entry_once_in_order() {
        let mut follower = Follower::after(3);
        assert_eq!(seqs(&follower.take_new(tape(1..=5))), [4, 5]);
        assert_eq!(follower.take_new(tape(1..=5)), []);
        assert_eq!(seqs(&follower.take_new(tape(2..=7))), [6, 7]);
        assert_eq!(follower.next_seq(), 8);
    }

    #[test]
    fn a_ring_gone_round_is_a_gap() {
        let mut follower = Follower::after(10);
        let events = follower.take_new(tape(301..=556));
        assert_eq!(events[0], Event::Gap { gap: 290 });
        assert_eq!(seqs(&events), (301..=556).collect::<Vec<_>>());
        assert_eq!(event_json(&events[0]), r#"{"gap":290}"#);
        assert!(event_line(&events[0]).contains("missed 290 entries"));
    }

    #[test]
    fn an_entry_reads_as_a_line_and_as_json() {
        let entry = Event::Entry(row(12));
        assert_eq!(
            event_line(&entry),
            "#12 ann buy 2.50 POUND at 33.25 = 83.13"
        );
        let json: serde_json::Value = serde_json::from_str(&event_json(&entry)).unwrap();
        assert_eq!(json["seq"], 12);
        assert_eq!(json["account"], "ann");
        assert_eq!(json["total"], "83.13");
    }

    #[test]
    fn the_owners_commands_read_as_on_the_tape() {
        let entries = [
            TapeKind::Price {
                currency: "DOLLAR".into(),
                sell: Price::from_ten_thousandths(141_000),
                buy: Price::from_ten_thousandths(138_000),
            },
            TapeKind::Halt,
            TapeKind::Resume,
            TapeKind::Reset,
            TapeKind::Close {
                account: "ann".into(),
                balance: Money::from_hundredths(98_628),
            },
        ];
        let lines: Vec<String> = entries
            .into_iter()
            .zip(20..)
            .map(|(kind, seq)| event_line(&Event::Entry(TapeRow { seq, kind })))
            .collect();
        assert_eq!(
            lines,
            [
                "#20 price DOLLAR sell 14.10 buy 13.80",
                "#21 halt",
                "#22 resume",
                "#23 reset",
                "#24 close ann, balance 986.28 to the cash",
            ]
        );
        let price = Event::Entry(TapeRow {
            seq: 20,
            kind: TapeKind::Price {
                currency: "DOLLAR".into(),
                sell: Price::from_ten_thousandths(141_000),
                buy: Price::from_ten_thousandths(138_000),
            },
        });
        let json: serde_json::Value = serde_json::from_str(&event_json(&price)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq": 20, "kind": "price", "currency": "DOLLAR", "sell": "14.10", "buy": "13.80"})
        );
    }

    #[test]
    fn a_counter_at_its_end_does_not_panic() {
        let mut follower = Follower::after(u64::MAX);
        assert_eq!(follower.take_new(tape(1..=1)), [Event::Entry(row(1))]);
    }
}
