//! The text of `trader watch`'s board, fitted to a terminal of a given size.
//!
//! A projector at 80x24 must always show the title (with HALTED when the
//! owner halted trading), the rates and the stock, so those come first;
//! the leaders (accounts ranked by net worth, stress accounts summed apart)
//! and the latest tape entries (trades and the owner's commands, as `tape`
//! shows them) share the rows left, and every line is trimmed to the
//! width. A big terminal gets more leaders and entries. Each quote shows
//! which way it last moved. It is plain text (with optional colour) built
//! here, so it is tested without a terminal; the `trader` binary only draws
//! the lines.
#![forbid(unsafe_code)]

use crate::error::Result;
use crate::market::{Portfolio, Rate, Status, TapeKind, TapeRow, TAPE_LEN};
use crate::money::{Money, Price};
use crate::render::{spread, tape_table};
use crate::store::Store;
use crate::stress::is_worker_account;
use crate::table::{paint, Align, Cell, Paint, Table};

/// Terminal columns and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: usize,
    pub height: usize,
}

/// Which way a currency's quote last moved, and by how much its sell
/// price changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Unchanged,
    Up(Price),
    Down(Price),
}

/// What one frame shows, read from the exchange.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    /// Richest first, as `traders` ranks them; stress accounts left out.
    pub leaders: Vec<Portfolio>,
    /// The stress accounts, shown apart so a class sees what a run did.
    pub stress: Vec<Portfolio>,
    /// The latest tape entries, newest first.
    pub tape: Vec<TapeRow>,
    /// The timed round's end, if one is set (Unix milliseconds).
    pub round_end: Option<u64>,
}

impl Snapshot {
    /// Reads a frame's worth: the status, every account and the last
    /// `entries` tape entries. Fails, as every command does, when the
    /// exchange was removed, replaced or truncated.
    pub fn read(exchange: &Store, entries: usize) -> Result<Snapshot> {
        let status = exchange.status()?;
        let (stress, leaders) = exchange
            .traders()?
            .into_iter()
            .partition(|trader| is_worker_account(&trader.name));
        let mut tape = exchange.tape(entries.min(TAPE_LEN))?;
        tape.reverse();
        Ok(Snapshot {
            round_end: exchange.round_end()?,
            status,
            leaders,
            stress,
            tape,
        })
    }
}

/// A live board: remembers each quote between frames, to show its moves.
#[derive(Debug)]
pub struct Board {
    /// At most this many tape entries, however tall the terminal.
    max_entries: usize,
    quotes: Vec<(String, Price, Price)>,
    moves: Vec<(String, Move)>,
}

impl Board {
    /// A board showing at most `max_entries` tape entries.
    pub fn new(max_entries: usize) -> Board {
        Board {
            max_entries,
            quotes: Vec::new(),
            moves: Vec::new(),
        }
    }

    /// The next frame for `exchange` at `size`: at most `size.height`
    /// lines, none wider than `size.width` visible columns.
    pub fn frame(&mut self, exchange: &Store, size: Size, colour: bool) -> Result<Vec<String>> {
        let snapshot = Snapshot::read(exchange, size.height.min(self.max_entries))?;
        self.note_quotes(&snapshot.status.currencies);
        Ok(self.lay_out(&snapshot, size, colour))
    }

    /// Records the quotes of a frame. A quote that changed gets a new
    /// move; one that did not keeps its last move, so an arrow stays up
    /// until the price moves again.
    pub fn note_quotes(&mut self, rates: &[Rate]) {
        for rate in rates {
            let before = self.quotes.iter().find(|(name, ..)| *name == rate.name);
            let moved = match before {
                Some((_, sell, buy)) if (*sell, *buy) != (rate.sell, rate.buy) => {
                    let change = rate.sell.ten_thousandths() - sell.ten_thousandths();
                    let by = Price::from_ten_thousandths(change.abs());
                    Some(if change >= 0 {
                        Move::Up(by)
                    } else {
                        Move::Down(by)
                    })
                }
                _ => None,
            };
            if let Some(moved) = moved {
                self.moves.retain(|(name, _)| *name != rate.name);
                self.moves.push((rate.name.clone(), moved));
            }
        }
        self.quotes = rates
            .iter()
            .map(|rate| (rate.name.clone(), rate.sell, rate.buy))
            .collect();
    }

    fn move_of(&self, currency: &str) -> Move {
        self.moves
            .iter()
            .find(|(name, _)| name == currency)
            .map_or(Move::Unchanged, |(_, moved)| *moved)
    }

    /// Lays a snapshot out: the title, the stress accounts if any, the
    /// rates with their stock and moves, then the leaders and the latest
    /// tape entries in the rows left.
    pub fn lay_out(&self, snapshot: &Snapshot, size: Size, colour: bool) -> Vec<String> {
        let status = &snapshot.status;
        let mut lines = vec![title(status, size.width, colour)];
        if let Some(end) = snapshot.round_end {
            lines.push(crate::round::time_left(end, crate::round::now_ms()));
        }
        if !snapshot.stress.is_empty() {
            lines.push(stress_line(&snapshot.stress));
        }
        lines.push(String::new());
        lines.extend(lines_of(&self.rates_table(&status.currencies), colour));

        let left = size.height.saturating_sub(lines.len());
        let (leaders_shown, trades_shown) = share_rows(left, snapshot.leaders.len());
        let trades_shown = trades_shown.min(self.max_entries);
        if leaders_shown > 0 {
            lines.push(String::new());
            lines.push(paint("LEADERS", Paint::Header, colour));
            let leaders = &snapshot.leaders[..leaders_shown.min(snapshot.leaders.len())];
            lines.extend(section(
                leaders,
                |rows| leaders_table(rows, size.width, colour),
                colour,
            ));
        }
        if trades_shown > 0 {
            lines.push(String::new());
            lines.push(paint(LATEST, Paint::Header, colour));
            let rows: Vec<TapeRow> = snapshot.tape[..trades_shown.min(snapshot.tape.len())]
                .iter()
                .map(|row| with_short_names(row, size.width))
                .collect();
            lines.extend(section(&rows, tape_table, colour));
        }
        lines.truncate(size.height);
        lines
            .iter()
            .map(|line| fit_width(line, size.width))
            .collect()
    }

    fn rates_table(&self, rates: &[Rate]) -> Table {
        let mut table = Table::new(&[
            ("CURRENCY", Align::Left),
            ("SELL", Align::Right),
            ("BUY", Align::Right),
            ("MOVE", Align::Left),
            ("SPREAD %", Align::Right),
            ("STOCK", Align::Right),
        ]);
        for rate in rates {
            let (moved, paint_as) = match self.move_of(&rate.name) {
                Move::Unchanged => (String::new(), None),
                Move::Up(by) => (format!("▲ {by}"), Some(Paint::Gain)),
                Move::Down(by) => (format!("▼ {by}"), Some(Paint::Loss)),
            };
            let (_, percent) = spread(rate.sell, rate.buy);
            table.row(vec![
                Cell::plain(&rate.name),
                Cell::painted(rate.sell, paint_as),
                Cell::painted(rate.buy, paint_as),
                Cell::painted(moved, paint_as),
                Cell::plain(percent),
                Cell::plain(rate.stock),
            ]);
        }
        table
    }
}

/// The board of a fresh [`Board`], without colour, as one string.
pub fn board(exchange: &Store, width: usize, height: usize) -> Result<String> {
    let lines = Board::new(TAPE_LEN).frame(exchange, Size { width, height }, false)?;
    Ok(lines.join("\n"))
}

/// The heading of the tape's section: trades and the owner's commands.
pub const LATEST: &str = "LATEST ON THE TAPE";

/// Between the title's parts.
const GAP: &str = "   ";

/// The exchange and its counts, as many of them as fit whole after the
/// address. HALTED, when trading is, always shows: the address is cut to
/// leave it room.
fn title(status: &Status, width: usize, colour: bool) -> String {
    let halted = if status.halted { "HALTED" } else { "" };
    let room = width.saturating_sub(if status.halted {
        GAP.len() + halted.len()
    } else {
        0
    });
    let address = fit_width(&format!("shm-exchange {}", status.address), room);
    let mut used = address.chars().count();
    let mut title = paint(&address, Paint::Header, colour);
    if status.halted {
        title.push_str(GAP);
        title.push_str(&paint(halted, Paint::Error, colour));
        used += GAP.len() + halted.len();
    }
    let unlocked = match status.unlocked_trades {
        0 => String::new(),
        count => format!(" + {count} UNLOCKED"),
    };
    let details = [
        format!("trades {}{unlocked}", status.trades),
        format!("cash {}", status.cash),
        format!("accounts {}/{}", status.accounts, status.account_capacity),
        "q quits".to_owned(),
    ];
    for detail in details {
        let detail_width = GAP.len() + detail.chars().count();
        if used + detail_width <= width {
            title.push_str(GAP);
            title.push_str(&paint(&detail, Paint::Header, colour));
            used += detail_width;
        }
    }
    title
}

/// The stress accounts in one line: how many, and their balances summed.
fn stress_line(stress: &[Portfolio]) -> String {
    let balances = stress
        .iter()
        .try_fold(Money::ZERO, |sum, trader| sum.checked_add(trader.balance));
    format!(
        "stress: {} account{}, balances {}",
        stress.len(),
        if stress.len() == 1 { "" } else { "s" },
        balances.map_or_else(|| "too large to sum".to_owned(), |sum| sum.to_string())
    )
}

/// Rows a section takes besides its data rows: a blank line, its title and
/// its column headers.
const SECTION_OVERHEAD: usize = 3;

/// Splits `left` rows between the leaders and the trades, as counts of
/// data rows (an empty section still takes one row, to say so). The
/// leaders get up to a third of the data rows, never more than there are
/// accounts; the trades get the rest.
fn share_rows(left: usize, accounts: usize) -> (usize, usize) {
    let both = left.saturating_sub(2 * SECTION_OVERHEAD);
    if both >= 2 {
        let leaders = (both / 3).clamp(1, accounts.max(1));
        return (leaders, both - leaders);
    }
    // Room for one section only: the trades are what moves.
    (0, left.saturating_sub(SECTION_OVERHEAD).min(1))
}

/// A section's lines: its table, or a line saying it is empty.
fn section<T>(rows: &[T], table: impl FnOnce(&[T]) -> Table, colour: bool) -> Vec<String> {
    if rows.is_empty() {
        return vec![paint("(none yet)", Paint::Dim, colour)];
    }
    lines_of(&table(rows), colour)
}

fn lines_of(table: &Table, colour: bool) -> Vec<String> {
    table.render(colour).lines().map(str::to_owned).collect()
}

/// Account names are cut to this many characters on a narrow board.
const NARROW_NAME: usize = 12;
/// A board at least this wide shows names whole, and more columns.
const WIDE: usize = 120;

fn short_name(name: &str, width: usize) -> String {
    if width >= WIDE || name.chars().count() <= NARROW_NAME {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(NARROW_NAME - 1).collect();
    short.push('…');
    short
}

fn leaders_table(leaders: &[Portfolio], width: usize, colour: bool) -> Table {
    let wide = width >= WIDE;
    let mut columns = vec![
        ("#", Align::Right),
        ("ACCOUNT", Align::Left),
        ("NET WORTH", Align::Right),
        ("PROFIT", Align::Right),
    ];
    if wide {
        columns.extend([("BALANCE", Align::Right), ("HOLDINGS", Align::Left)]);
    }
    let mut table = Table::new(&columns);
    for (rank, leader) in leaders.iter().enumerate() {
        let profit = leader.profit;
        let mut row = vec![
            Cell::plain(rank + 1),
            Cell::painted(
                short_name(&leader.name, width),
                (rank == 0 && colour).then_some(Paint::Header),
            ),
            Cell::plain(leader.net_worth),
            Cell::painted(
                profit,
                match profit.hundredths().signum() {
                    1 => Some(Paint::Gain),
                    -1 => Some(Paint::Loss),
                    _ => None,
                },
            ),
        ];
        if wide {
            let held: Vec<String> = leader
                .holdings
                .iter()
                .filter(|(_, amount)| amount.is_positive())
                .map(|(name, amount)| format!("{amount} {name}"))
                .collect();
            row.push(Cell::plain(leader.balance));
            row.push(Cell::plain(held.join(", ")));
        }
        table.row(row);
    }
    table
}

/// `row` with its account name cut for a narrow board, for the tape's
/// own table to lay out.
fn with_short_names(row: &TapeRow, width: usize) -> TapeRow {
    let mut row = row.clone();
    if let TapeKind::Trade { account, .. } | TapeKind::Close { account, .. } = &mut row.kind {
        *account = short_name(account, width);
    }
    row
}

/// `line` cut to `width` visible characters. ANSI colour sequences take
/// no columns; a cut inside a coloured run resets the colour.
pub fn fit_width(line: &str, width: usize) -> String {
    let mut fitted = String::with_capacity(line.len());
    let mut shown = 0;
    let mut coloured = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            fitted.push(c);
            for code in chars.by_ref() {
                fitted.push(code);
                if code.is_ascii_alphabetic() {
                    break;
                }
            }
            coloured = true;
            continue;
        }
        if shown == width {
            if coloured {
                fitted.push_str("\x1b[0m");
            }
            return fitted;
        }
        fitted.push(c);
        shown += 1;
    }
    fitted
}

/// Visible columns of `line`, not counting ANSI colour sequences.
pub fn visible_width(line: &str) -> usize {
    let mut width = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|code| code.is_ascii_alphabetic());
        } else {
            width += 1;
        }
    }
    width
}

#[cfg(test)]
#[path = "board_test.rs"]
mod tests;
