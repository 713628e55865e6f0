//! The text of `trader watch`'s board, fitted to a terminal of a given size.
//!
//! A projector at 80x24 must always show the title (with HALTED when the
//! owner halted trading, and the trades and the owner's moves since the
//! last reset counted apart), the rates and the stock, so those come first;
//! the leaders (accounts ranked by net worth, stress accounts summed apart)
//! and the latest trades share the rows left, and every line is trimmed to
//! the width. The owner's actions and the ticker's ticks take one line of
//! their own under the trades, so a ticker never pushes the students'
//! trades out of view. A big terminal gets more leaders and trades, and,
//! from [`WIDE`] columns, each currency's price since the board started
//! (seeded from the tape) and each leader's net worth over time, as
//! sparklines. Each quote shows which way it last moved. It is plain text
//! (with optional colour) built here, so it is tested without a terminal;
//! the `trader` binary only draws the lines.
#![forbid(unsafe_code)]

use crate::domain::{Portfolio, Rate, Status, TapeKind, TapeRow, TAPE_LEN};
use crate::error::Result;
use crate::money::{Money, Price};
use crate::render::{row_line, spread, tape_table};
use crate::store::Market;
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
    /// The tape since the last reset (at most [`TAPE_LEN`] entries),
    /// newest first.
    pub tape: Vec<TapeRow>,
    /// The timed round's end, if one is set (Unix milliseconds).
    pub round_end: Option<u64>,
}

impl Snapshot {
    /// Reads a frame's worth: the status, every account and the whole
    /// tape. Fails, as every command does, when the exchange was removed,
    /// replaced or truncated.
    pub fn read(exchange: &dyn Market) -> Result<Snapshot> {
        let status = exchange.status()?;
        let (stress, leaders) = exchange
            .traders()?
            .into_iter()
            .partition(|trader| is_worker_account(&trader.name));
        let mut tape = exchange.tape(TAPE_LEN)?;
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

/// What the title counts: the students' trades and the other entries
/// (the owner's actions and the ticker's ticks) since the last reset the
/// board saw, and the last entry counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub trades: u64,
    pub moves: u64,
    last_seq: u64,
}

impl Tally {
    /// Counts the entries of `tape` (newest first) not counted yet. A
    /// reset starts the counts again from the entries after it.
    pub fn note(&mut self, tape: &[TapeRow]) {
        let counted = self.last_seq;
        for row in tape.iter().rev().filter(|row| row.seq > counted) {
            match row.kind {
                TapeKind::Reset => {
                    self.trades = 0;
                    self.moves = 0;
                }
                TapeKind::Trade { .. } => self.trades += 1,
                _ => self.moves += 1,
            }
            self.last_seq = row.seq;
        }
    }
}

/// Points a sparkline remembers: more than the widest terminal shows.
const HISTORY_POINTS: usize = 512;

/// A series of values over time, one point each time it changed.
#[derive(Debug, Clone, Default)]
struct Series {
    name: String,
    points: Vec<i128>,
}

impl Series {
    fn push(&mut self, value: i128) {
        if self.points.last() != Some(&value) {
            if self.points.len() == HISTORY_POINTS {
                self.points.remove(0);
            }
            self.points.push(value);
        }
    }
}

/// The series named `name` in `all`, made if it is not there yet.
fn series<'a>(all: &'a mut Vec<Series>, name: &str) -> &'a mut Series {
    match all.iter().position(|series| series.name == name) {
        Some(index) => &mut all[index],
        None => {
            all.push(Series {
                name: name.to_owned(),
                points: Vec::new(),
            });
            all.last_mut().expect("just pushed")
        }
    }
}

/// A live board: remembers each quote between frames, to show its moves,
/// the prices and the leaders' net worth over time, and the counts of the
/// title.
#[derive(Debug)]
pub struct Board {
    /// At most this many tape entries, however tall the terminal.
    max_entries: usize,
    quotes: Vec<(String, Price, Price)>,
    moves: Vec<(String, Move)>,
    tally: Tally,
    /// The prices were seeded from the tape (on the first frame).
    seeded: bool,
    /// Each currency's sell price, since the board started.
    prices: Vec<Series>,
    /// Each leader's net worth, since the board started.
    worth: Vec<Series>,
}

impl Board {
    /// A board showing at most `max_entries` tape entries.
    pub fn new(max_entries: usize) -> Board {
        Board {
            max_entries,
            quotes: Vec::new(),
            moves: Vec::new(),
            tally: Tally::default(),
            seeded: false,
            prices: Vec::new(),
            worth: Vec::new(),
        }
    }

    /// The next frame for `exchange` at `size`: at most `size.height`
    /// lines, none wider than `size.width` visible columns.
    pub fn frame(
        &mut self,
        exchange: &dyn Market,
        size: Size,
        colour: bool,
    ) -> Result<Vec<String>> {
        let snapshot = Snapshot::read(exchange)?;
        self.note(&snapshot);
        Ok(self.lay_out(&snapshot, size, colour))
    }

    /// Records what a frame shows: the counts, the quotes and their moves,
    /// the prices and the leaders' net worth. The first frame seeds the
    /// prices from the tape: the trades' and the owner's quotes on it.
    pub fn note(&mut self, snapshot: &Snapshot) {
        if !std::mem::replace(&mut self.seeded, true) {
            for row in snapshot.tape.iter().rev() {
                match &row.kind {
                    TapeKind::Trade {
                        side: crate::domain::Side::Buy,
                        currency,
                        price,
                        ..
                    }
                    | TapeKind::Price {
                        currency,
                        sell: price,
                        ..
                    } => series(&mut self.prices, currency).push(price.ten_thousandths().into()),
                    _ => {}
                }
            }
        }
        self.tally.note(&snapshot.tape);
        self.note_quotes(&snapshot.status.currencies);
        for rate in &snapshot.status.currencies {
            series(&mut self.prices, &rate.name).push(rate.sell.ten_thousandths().into());
        }
        for leader in &snapshot.leaders {
            series(&mut self.worth, &leader.name).push(leader.net_worth.hundredths());
        }
    }

    /// The title's counts so far.
    pub fn tally(&self) -> Tally {
        self.tally
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
    /// trades in the rows left, the owner's latest actions on one line
    /// under them.
    pub fn lay_out(&self, snapshot: &Snapshot, size: Size, colour: bool) -> Vec<String> {
        let status = &snapshot.status;
        let mut lines = vec![title(status, &self.tally, size.width, colour)];
        if let Some(end) = snapshot.round_end {
            lines.push(crate::round::time_left(end, crate::round::now_ms()));
        }
        if !snapshot.stress.is_empty() {
            lines.push(stress_line(&snapshot.stress));
        }
        lines.push(String::new());
        lines.extend(lines_of(
            &self.rates_table(&status.currencies, size.width),
            colour,
        ));

        let (trades, owner): (Vec<&TapeRow>, Vec<&TapeRow>) =
            snapshot.tape.iter().partition(|row| row.kind.is_trade());
        let left = size.height.saturating_sub(lines.len());
        let (leaders_shown, rows_shown) = share_rows(left, snapshot.leaders.len());
        if leaders_shown > 0 {
            lines.push(String::new());
            lines.push(paint("LEADERS", Paint::Header, colour));
            let leaders = &snapshot.leaders[..leaders_shown.min(snapshot.leaders.len())];
            lines.extend(section(
                leaders,
                |rows| self.leaders_table(rows, size.width, colour),
                colour,
            ));
        }
        if rows_shown > 0 {
            lines.push(String::new());
            lines.push(paint(LATEST, Paint::Header, colour));
            // The owner's line takes a row of its own once there is one.
            let owner_line = (!owner.is_empty() && rows_shown >= 2)
                .then(|| paint(&owner_line(&owner, size.width), Paint::Dim, colour));
            let trades_shown = (rows_shown - usize::from(owner_line.is_some()))
                .min(self.max_entries)
                .min(trades.len());
            let rows: Vec<TapeRow> = trades[..trades_shown]
                .iter()
                .map(|row| with_short_names(row, size.width))
                .collect();
            if rows.is_empty() {
                lines.push(paint("(no trades yet)", Paint::Dim, colour));
            } else {
                lines.extend(lines_of(&tape_table(&rows), colour));
            }
            lines.extend(owner_line);
        }
        lines.truncate(size.height);
        lines
            .iter()
            .map(|line| fit_width(line, size.width))
            .collect()
    }

    fn rates_table(&self, rates: &[Rate], width: usize) -> Table {
        let mut columns = vec![
            ("CURRENCY", Align::Left),
            ("SELL", Align::Right),
            ("BUY", Align::Right),
            ("MOVE", Align::Left),
            ("SPREAD %", Align::Right),
            ("STOCK", Align::Right),
        ];
        let mut rows = Vec::new();
        for rate in rates {
            let (moved, paint_as) = match self.move_of(&rate.name) {
                Move::Unchanged => (String::new(), None),
                Move::Up(by) => (format!("▲ {by}"), Some(Paint::Gain)),
                Move::Down(by) => (format!("▼ {by}"), Some(Paint::Loss)),
            };
            let (_, percent) = spread(rate.sell, rate.buy);
            rows.push(vec![
                Cell::plain(&rate.name),
                Cell::painted(rate.sell, paint_as),
                Cell::painted(rate.buy, paint_as),
                Cell::painted(moved, paint_as),
                Cell::plain(percent),
                Cell::plain(rate.stock),
            ]);
        }
        let room = spark_room(&columns, &rows, width);
        if room > 0 {
            columns.push((PRICE_HISTORY, Align::Left));
            for (row, rate) in rows.iter_mut().zip(rates) {
                row.push(Cell::plain(self.sparkline(&self.prices, &rate.name, room)));
            }
        }
        table_of(&columns, rows)
    }

    fn leaders_table(&self, leaders: &[Portfolio], width: usize, colour: bool) -> Table {
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
        let mut rows = Vec::new();
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
            rows.push(row);
        }
        let room = spark_room(&columns, &rows, width);
        if room > 0 {
            columns.push((WORTH_HISTORY, Align::Left));
            for (row, leader) in rows.iter_mut().zip(leaders) {
                row.push(Cell::plain(self.sparkline(&self.worth, &leader.name, room)));
            }
        }
        table_of(&columns, rows)
    }

    /// The last `width` points of `name`'s series as a sparkline.
    fn sparkline(&self, all: &[Series], name: &str, width: usize) -> String {
        all.iter()
            .find(|series| series.name == name)
            .map(|series| sparkline(&series.points, width))
            .unwrap_or_default()
    }
}

/// The owner's latest actions, newest first, as many whole ones as fit
/// `width` (the newest always, cut if it must be).
fn owner_line(owner: &[&TapeRow], width: usize) -> String {
    let mut line = String::from("owner:");
    for (index, row) in owner.iter().enumerate() {
        let text = row_line(row);
        let separator = if index == 0 { " " } else { "; " };
        if index > 0 && line.chars().count() + separator.len() + text.chars().count() > width {
            break;
        }
        line.push_str(separator);
        line.push_str(&text);
    }
    line
}

/// The heading of the rates' price-history column.
pub const PRICE_HISTORY: &str = "SELL SINCE THE BOARD STARTED";
/// The heading of the leaders' net-worth column.
pub const WORTH_HISTORY: &str = "NET WORTH OVER TIME";

/// The columns a sparkline may take at the right of a table of `rows`
/// under `columns`, on a board `width` wide: none below [`WIDE`] columns
/// or when fewer than [`MIN_SPARK`] are left.
fn spark_room(columns: &[(&'static str, Align)], rows: &[Vec<Cell>], width: usize) -> usize {
    if width < WIDE {
        return 0;
    }
    let used = table_of(columns, rows.to_vec())
        .render(false)
        .lines()
        .map(visible_width)
        .max()
        .unwrap_or(0);
    let room = width.saturating_sub(used + 2);
    if room >= MIN_SPARK {
        room
    } else {
        0
    }
}

/// The narrowest sparkline worth drawing.
const MIN_SPARK: usize = 16;

fn table_of(columns: &[(&'static str, Align)], rows: Vec<Vec<Cell>>) -> Table {
    let mut table = Table::new(columns);
    for row in rows {
        table.row(row);
    }
    table
}

/// The eighths of a block a sparkline is drawn with.
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` of `points` as a line of blocks, lowest to highest
/// of those shown; a flat series is a flat line.
pub fn sparkline(points: &[i128], width: usize) -> String {
    let shown = &points[points.len().saturating_sub(width)..];
    let (Some(&low), Some(&high)) = (shown.iter().min(), shown.iter().max()) else {
        return String::new();
    };
    // Only a picture: a float's rounding of a wide range draws the same.
    let range = high.saturating_sub(low) as f64;
    shown
        .iter()
        .map(|&point| {
            if range == 0.0 {
                return SPARKS[0];
            }
            let step = (point.saturating_sub(low) as f64 / range * 7.0) as usize;
            SPARKS[step.min(7)]
        })
        .collect()
}

/// The board of a fresh [`Board`], without colour, as one string.
pub fn board(exchange: &dyn Market, width: usize, height: usize) -> Result<String> {
    let lines = Board::new(TAPE_LEN).frame(exchange, Size { width, height }, false)?;
    Ok(lines.join("\n"))
}

/// The heading of the tape's section: the trades, and the owner's
/// commands on a line of their own.
pub const LATEST: &str = "LATEST ON THE TAPE";

/// Between the title's parts.
const GAP: &str = "   ";

/// The exchange and its counts, as many of them as fit whole after the
/// address: the trades and the owner's moves since the last reset apart.
/// HALTED, when trading is, always shows: the address is cut to leave it
/// room.
fn title(status: &Status, tally: &Tally, width: usize, colour: bool) -> String {
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
        format!("trades {}{unlocked}, moves {}", tally.trades, tally.moves),
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
/// A board at least this wide shows names whole, more columns, and the
/// prices and net worths over time.
pub const WIDE: usize = 120;

fn short_name(name: &str, width: usize) -> String {
    if width >= WIDE || name.chars().count() <= NARROW_NAME {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(NARROW_NAME - 1).collect();
    short.push('…');
    short
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
