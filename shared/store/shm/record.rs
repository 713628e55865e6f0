//! A change as plain absolute values ([`Redo`]); where its redo is staged
//! (a trade's in its tape entry, `store::shm::tape`, and its currency's line;
//! any other change's in the redo record), how it is read back and
//! checked. The protocol that uses them is in `store::shm::journal`.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use super::tape::{next_seq, tape_slot, EntryValues};
use crate::domain::rules::Position;
use crate::domain::{AccountId, CurrencyId, Side, Trade};
use crate::fault::Step;
use crate::money::{Money, Price};
use crate::names::ACCOUNT_NAME_BYTES;
use crate::shm::layout::{entry, kind, Header, RedoRecord, Write, MAX_CURRENCIES};

/// A change's absolute values: what the redo record holds, what is
/// applied, replayed, and laid over a reader's copy. Sequence numbers are
/// filled in by `Locked::commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Redo {
    /// A trade as the rules made it, its sequence number and the
    /// account's new count of trades.
    Trade {
        trade: Trade,
        seq: u64,
        trades: u32,
    },
    Open {
        account: u32,
        name: [u8; ACCOUNT_NAME_BYTES],
        serial: u32,
        owner: u32,
        balance: i64,
        /// The header's new `account_count`.
        count: u32,
        handed_out: u32,
    },
    Price {
        currency: u32,
        seq: u64,
        sell: i64,
        buy: i64,
    },
    Flags {
        seq: u64,
        flags: u32,
    },
    Reset {
        seq: u64,
        handed_out: u32,
    },
    Close {
        account: u32,
        seq: u64,
        cash: i64,
        stocks: [i64; MAX_CURRENCIES],
    },
    Transfer {
        account: u32,
        balance: i64,
        cash: i64,
    },
}

impl Redo {
    /// The change's tape sequence number, which becomes `trade_seq`; `None`
    /// for a change that is not on the tape.
    #[inline(always)]
    pub(super) fn seq(&self) -> Option<u64> {
        match *self {
            Redo::Trade { seq, .. }
            | Redo::Price { seq, .. }
            | Redo::Flags { seq, .. }
            | Redo::Reset { seq, .. }
            | Redo::Close { seq, .. } => Some(seq),
            Redo::Open { .. } | Redo::Transfer { .. } => None,
        }
    }

    /// The tape entry a trade carries its redo in; `None` for other kinds,
    /// whose entry (if any) the caller gives.
    #[inline(always)]
    pub(super) fn trade_entry(&self) -> Option<EntryValues> {
        match *self {
            Redo::Trade { trade, .. } => Some(EntryValues {
                kind: trade.side.code(),
                account: trade.account.index,
                serial: trade.account.serial,
                currency: trade.currency.0 as u32,
                amount: trade.amount.hundredths(),
                price: trade.price.ten_thousandths(),
                total: trade.total.hundredths(),
                stock: trade.after.stock.hundredths(),
                holding: trade.after.holding.hundredths(),
                balance: trade.after.balance.hundredths(),
            }),
            _ => None,
        }
    }

    #[inline(always)]
    pub(super) fn with_seq(mut self, new: u64) -> Redo {
        match &mut self {
            Redo::Trade { seq, .. }
            | Redo::Price { seq, .. }
            | Redo::Flags { seq, .. }
            | Redo::Reset { seq, .. }
            | Redo::Close { seq, .. } => *seq = new,
            Redo::Open { .. } | Redo::Transfer { .. } => {}
        }
        self
    }
}

/// How `--trace` names a change: its kind and the absolute values it
/// writes.
impl fmt::Display for Redo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let money = Money::from_hundredths;
        let price = Price::from_ten_thousandths;
        match *self {
            Redo::Trade { trade, .. } => write!(
                f,
                "trade by account {}: {} {} of currency {}: stock {}, holding {}, \
                 balance {}, cash {}",
                trade.account.index,
                if trade.side == Side::Buy {
                    "buy"
                } else {
                    "sell"
                },
                trade.amount,
                trade.currency.0,
                trade.after.stock,
                trade.after.holding,
                trade.after.balance,
                trade.after.cash
            ),
            Redo::Open {
                account, serial, ..
            } => write!(f, "open account {account}, serial {serial}"),
            Redo::Price {
                currency,
                sell,
                buy,
                ..
            } => write!(
                f,
                "price of currency {currency}: sell {}, buy {}",
                price(sell),
                price(buy)
            ),
            Redo::Flags { flags, .. } => write!(f, "flags {flags:#x}"),
            Redo::Reset { .. } => write!(f, "reset"),
            Redo::Close { account, cash, .. } => {
                write!(f, "close account {account}: cash {}", money(cash))
            }
            Redo::Transfer {
                account,
                balance,
                cash,
            } => write!(
                f,
                "transfer to account {account}: balance {}, cash {}",
                money(balance),
                money(cash)
            ),
        }
    }
}

/// Where a published change's redo is, told by `write_seq` modulo 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    /// In the redo record: `write_seq` ≡ 1 (mod 4).
    Record,
    /// A trade, in its tape entry and its currency's line: ≡ 3 (mod 4).
    Trade,
}

impl Pending {
    /// What `write_seq` says is pending: nothing while it is even.
    pub(super) fn of(write_seq: u64) -> Option<Pending> {
        match write_seq % 4 {
            1 => Some(Pending::Record),
            3 => Some(Pending::Trade),
            _ => None,
        }
    }

    /// The odd value `write_seq` takes, after `write_seq`, to publish this.
    #[inline(always)]
    pub(super) fn published(self, write_seq: u64) -> u64 {
        let odd = write_seq | 1;
        let wanted = match self {
            Pending::Record => 1,
            Pending::Trade => 3,
        };
        if odd % 4 == wanted {
            odd
        } else {
            odd.wrapping_add(2)
        }
    }
}

/// Stores where its replay will look whatever of a change is not stored
/// yet (not yet published): the rest of a trade's redo on its currency's
/// line (its tape entry is written), any other change in the redo record.
/// Returns where it is.
#[inline(always)]
pub(super) fn stage(header: &Header, change: &Redo, write: Write<'_>) -> Pending {
    match *change {
        Redo::Trade { trade, trades, .. } => {
            let slot = &header.currencies[trade.currency.0];
            slot.trade_cash
                .store(trade.after.cash.hundredths(), Relaxed, write);
            slot.trade_count.store(trades, Relaxed, write);
            Pending::Trade
        }
        _ => {
            fill(&header.redo, change, write);
            Pending::Record
        }
    }
}

/// A published change's words, copied as they are: checked by
/// [`RawChange::decode`].
#[derive(Debug, Clone, Copy)]
pub(super) enum RawChange {
    Record(RawRecord),
    Trade(RawTrade),
}

impl RawChange {
    /// Copies the change that `write_seq` says is pending, if any.
    pub(super) fn load(header: &Header, write_seq: u64) -> Option<RawChange> {
        Some(match Pending::of(write_seq)? {
            Pending::Record => RawChange::Record(RawRecord::load(&header.redo)),
            Pending::Trade => RawChange::Trade(RawTrade::load(header)),
        })
    }

    /// The change, if every index in it is in range; else why not.
    pub(super) fn decode(&self, limits: Limits) -> Result<Redo, String> {
        match self {
            RawChange::Record(record) => record.decode(limits),
            RawChange::Trade(trade) => trade.decode(limits),
        }
    }
}

/// The record's words, copied as they are: checked by [`RawRecord::decode`].
#[derive(Debug, Clone, Copy)]
pub(super) struct RawRecord {
    kind: u32,
    account: u32,
    currency: u32,
    seq: u64,
    cash: i64,
    balance: i64,
    sell: i64,
    buy: i64,
    serial: u32,
    owner: u32,
    account_count: u32,
    handed_out: u32,
    flags: u32,
    name: [u8; ACCOUNT_NAME_BYTES],
    stocks: [i64; MAX_CURRENCIES],
}

/// What a record's indices must fit: the account table's capacity, the
/// slots in use, and the number of currencies.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) capacity: u32,
    pub(super) in_use: u32,
    pub(super) currencies: usize,
}

impl RawRecord {
    /// Copies the record, word by word, with plain loads.
    fn load(record: &RedoRecord) -> RawRecord {
        let mut name = [0; ACCOUNT_NAME_BYTES];
        for (byte, stored) in name.iter_mut().zip(&record.name) {
            *byte = stored.load(Relaxed);
        }
        let mut stocks = [0; MAX_CURRENCIES];
        for (stock, stored) in stocks.iter_mut().zip(&record.stocks) {
            *stock = stored.load(Relaxed);
        }
        RawRecord {
            kind: record.kind.load(Relaxed),
            account: record.account.load(Relaxed),
            currency: record.currency.load(Relaxed),
            seq: record.seq.load(Relaxed),
            cash: record.cash.load(Relaxed),
            balance: record.balance.load(Relaxed),
            sell: record.sell.load(Relaxed),
            buy: record.buy.load(Relaxed),
            serial: record.serial.load(Relaxed),
            owner: record.owner.load(Relaxed),
            account_count: record.account_count.load(Relaxed),
            handed_out: record.handed_out.load(Relaxed),
            flags: record.flags.load(Relaxed),
            name,
            stocks,
        }
    }

    /// The change the record holds, if every index in it is in range; else
    /// why not.
    fn decode(&self, limits: Limits) -> Result<Redo, String> {
        let in_use = |account: u32| account < limits.in_use.min(limits.capacity);
        let currency_ok = (self.currency as usize) < limits.currencies;
        let bad = |what: &str| -> Result<Redo, String> {
            Err(format!(
                "the pending redo record names {what}, which does not exist"
            ))
        };
        match self.kind {
            kind::OPEN
                if self.account >= self.account_count || self.account_count > limits.capacity =>
            {
                bad(&format!("account slot {}", self.account))
            }
            kind::OPEN => Ok(Redo::Open {
                account: self.account,
                name: self.name,
                serial: self.serial,
                owner: self.owner,
                balance: self.balance,
                count: self.account_count,
                handed_out: self.handed_out,
            }),
            kind::PRICE if !currency_ok => bad(&format!("currency {}", self.currency)),
            kind::PRICE => Ok(Redo::Price {
                currency: self.currency,
                seq: self.seq,
                sell: self.sell,
                buy: self.buy,
            }),
            kind::FLAGS => Ok(Redo::Flags {
                seq: self.seq,
                flags: self.flags,
            }),
            kind::RESET => Ok(Redo::Reset {
                seq: self.seq,
                handed_out: self.handed_out,
            }),
            kind::CLOSE if !in_use(self.account) => bad(&format!("account {}", self.account)),
            kind::CLOSE => Ok(Redo::Close {
                account: self.account,
                seq: self.seq,
                cash: self.cash,
                stocks: self.stocks,
            }),
            kind::TRANSFER if !in_use(self.account) => bad(&format!("account {}", self.account)),
            kind::TRANSFER => Ok(Redo::Transfer {
                account: self.account,
                balance: self.balance,
                cash: self.cash,
            }),
            other => Err(format!("the redo record holds the unknown kind {other:#x}")),
        }
    }
}

/// Stores a change's values in the record (not yet published). A trade's
/// are not stored here: see [`stage`].
fn fill(record: &RedoRecord, change: &Redo, write: Write<'_>) {
    let words = |kind: u32, account: u32, currency: u32, seq: u64| {
        record.kind.store(kind, Relaxed, write);
        record.account.store(account, Relaxed, write);
        record.currency.store(currency, Relaxed, write);
        record.seq.store(seq, Relaxed, write);
    };
    match *change {
        Redo::Trade { .. } => {}
        Redo::Open {
            account,
            name,
            serial,
            owner,
            balance,
            count,
            handed_out,
        } => {
            words(kind::OPEN, account, 0, 0);
            for (stored, byte) in record.name.iter().zip(name) {
                stored.store(byte, Relaxed, write);
            }
            record.serial.store(serial, Relaxed, write);
            record.owner.store(owner, Relaxed, write);
            record.balance.store(balance, Relaxed, write);
            record.account_count.store(count, Relaxed, write);
            record.handed_out.store(handed_out, Relaxed, write);
        }
        Redo::Price {
            currency,
            seq,
            sell,
            buy,
        } => {
            words(kind::PRICE, 0, currency, seq);
            record.sell.store(sell, Relaxed, write);
            record.buy.store(buy, Relaxed, write);
        }
        Redo::Flags { seq, flags } => {
            words(kind::FLAGS, 0, 0, seq);
            record.flags.store(flags, Relaxed, write);
        }
        Redo::Reset { seq, handed_out } => {
            words(kind::RESET, 0, 0, seq);
            record.handed_out.store(handed_out, Relaxed, write);
        }
        Redo::Close {
            account,
            seq,
            cash,
            stocks,
        } => {
            words(kind::CLOSE, account, 0, seq);
            record.cash.store(cash, Relaxed, write);
            for (stored, stock) in record.stocks.iter().zip(stocks) {
                stored.store(stock, Relaxed, write);
            }
        }
        Redo::Transfer {
            account,
            balance,
            cash,
        } => {
            words(kind::TRANSFER, account, 0, 0);
            record.balance.store(balance, Relaxed, write);
            record.cash.store(cash, Relaxed, write);
        }
    }
}

/// A pending trade's words: its tape entry's and its currency's line's.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawTrade {
    /// The sequence number the entry was looked up at.
    seq: u64,
    /// The `seq` the entry holds.
    entry_seq: u64,
    account: u16,
    currency: u8,
    side: u8,
    serial: u32,
    amount: i64,
    price: i64,
    total: i64,
    stock: i64,
    holding: i64,
    balance: i64,
    cash: i64,
    trades: u32,
}

impl RawTrade {
    /// Copies the pending trade: its entry is the one after `trade_seq` if
    /// that entry is written (the trade's values are not applied yet),
    /// else the one at `trade_seq` (they are, up to `trade_seq` itself).
    pub(super) fn load(header: &Header) -> RawTrade {
        let trade_seq = header.lock.trade_seq.load(Relaxed);
        let next = next_seq(trade_seq);
        let seq = if tape_slot(header, next).seq.load(Relaxed) == next {
            next
        } else {
            trade_seq
        };
        let entry = tape_slot(header, seq);
        let currency = entry.currency.load(Relaxed);
        let (cash, trades) = header
            .currencies
            .get(usize::from(currency))
            .map_or((0, 0), |slot| {
                (
                    slot.trade_cash.load(Relaxed),
                    slot.trade_count.load(Relaxed),
                )
            });
        RawTrade {
            seq,
            entry_seq: entry.seq.load(Relaxed),
            account: entry.account.load(Relaxed),
            currency,
            side: entry.kind.load(Relaxed),
            serial: entry.serial.load(Relaxed),
            amount: entry.amount.load(Relaxed),
            price: entry.price.load(Relaxed),
            total: entry.total.load(Relaxed),
            stock: entry.stock.load(Relaxed),
            holding: entry.holding.load(Relaxed),
            balance: entry.balance.load(Relaxed),
            cash,
            trades,
        }
    }

    pub(super) fn decode(&self, limits: Limits) -> Result<Redo, String> {
        if self.seq == 0 || self.entry_seq != self.seq {
            return Err(format!(
                "the pending trade's tape entry #{} is missing",
                self.seq
            ));
        }
        if !matches!(self.side, entry::BUY | entry::SELL) {
            return Err(format!(
                "the pending trade's tape entry holds the kind {}",
                self.side
            ));
        }
        let account = u32::from(self.account);
        let currency = u32::from(self.currency);
        if account >= limits.in_use.min(limits.capacity)
            || usize::from(self.currency) >= limits.currencies
        {
            return Err(format!(
                "the pending trade names currency {currency} and account {account}, \
                 which do not exist"
            ));
        }
        let money = Money::from_hundredths;
        Ok(Redo::Trade {
            trade: Trade {
                account: AccountId {
                    index: account,
                    serial: self.serial,
                },
                side: if self.side == entry::BUY {
                    Side::Buy
                } else {
                    Side::Sell
                },
                currency: CurrencyId(usize::from(self.currency)),
                amount: money(self.amount),
                price: Price::from_ten_thousandths(self.price),
                total: money(self.total),
                after: Position {
                    stock: money(self.stock),
                    holding: money(self.holding),
                    balance: money(self.balance),
                    cash: money(self.cash),
                },
            },
            seq: self.seq,
            trades: self.trades,
        })
    }
}

/// Where a change's values go: the segment itself (`journal::apply`) or a
/// reader's copy of it (`snapshot::overlay`). [`Redo::write_to`] says,
/// once for each kind of change, which values go where and in which
/// order, so a new field is added there and in each target's setter, and
/// the two can never disagree on what a change writes.
pub(super) trait ChangeTarget {
    /// Between two stores of a change: the live segment's crash points.
    fn step(&mut self, _step: Step) {}
    fn stock(&mut self, currency: u32, stock: i64);
    fn holding(&mut self, account: u32, currency: u32, holding: i64);
    fn balance(&mut self, account: u32, balance: i64);
    fn cash(&mut self, cash: i64);
    /// An account's trade count and the sequence number of its last trade.
    fn trades(&mut self, account: u32, trades: u32, last_trade: u64);
    fn sell(&mut self, currency: u32, sell: i64);
    fn buy(&mut self, currency: u32, buy: i64);
    fn flags(&mut self, flags: u32);
    /// A slot becomes the open account `opened`; `count` is the header's
    /// new count of slots in use.
    fn open(&mut self, account: u32, opened: &Opened, count: u32);
    /// Every stock and the cash back to their initial values.
    fn initial_stocks_and_cash(&mut self);
    /// Every open account back to the starting balance, no holdings, no
    /// trades.
    fn restart_open_accounts(&mut self);
    /// The race demonstration's count, which goes with the market it raced
    /// (a reader's copy keeps none).
    fn clear_race(&mut self) {}
    fn handed_out(&mut self, handed_out: u32);
    fn tape_start(&mut self, seq: u64);
    /// An account's slot emptied and marked closed.
    fn close(&mut self, account: u32);
    fn trade_seq(&mut self, seq: u64);
}

/// An account as [`Redo::Open`] opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Opened {
    pub(super) name: [u8; ACCOUNT_NAME_BYTES],
    pub(super) serial: u32,
    pub(super) owner: u32,
    pub(super) balance: i64,
    pub(super) handed_out: u32,
}

impl Redo {
    /// Writes the change's values to `target`, in the order the crash
    /// points (`target.step`) expect. Every value is absolute, so writing
    /// them again, or over a copy that caught part of them, gives the
    /// state after the change.
    #[inline(always)]
    pub(super) fn write_to(&self, target: &mut impl ChangeTarget) {
        match *self {
            Redo::Trade { trade, seq, trades } => {
                let (account, currency) = (trade.account.index, trade.currency.0 as u32);
                target.stock(currency, trade.after.stock.hundredths());
                target.step(Step::AfterStock);
                target.holding(account, currency, trade.after.holding.hundredths());
                target.step(Step::AfterHolding);
                target.balance(account, trade.after.balance.hundredths());
                target.step(Step::AfterBalance);
                target.cash(trade.after.cash.hundredths());
                target.step(Step::AfterCash);
                target.trades(account, trades, seq);
            }
            Redo::Open {
                account,
                name,
                serial,
                owner,
                balance,
                count,
                handed_out,
            } => {
                let opened = Opened {
                    name,
                    serial,
                    owner,
                    balance,
                    handed_out,
                };
                target.open(account, &opened, count);
            }
            Redo::Price {
                currency,
                sell,
                buy,
                ..
            } => {
                target.sell(currency, sell);
                target.step(Step::MidChange);
                target.buy(currency, buy);
            }
            Redo::Flags { flags, .. } => {
                target.flags(flags);
                target.step(Step::MidChange);
            }
            Redo::Reset { seq, handed_out } => {
                target.initial_stocks_and_cash();
                target.step(Step::MidChange);
                target.restart_open_accounts();
                target.handed_out(handed_out);
                target.tape_start(seq);
                target.clear_race();
            }
            Redo::Transfer {
                account,
                balance,
                cash,
            } => {
                target.balance(account, balance);
                target.step(Step::AfterBalance);
                target.cash(cash);
                target.step(Step::AfterCash);
            }
            Redo::Close {
                account,
                cash,
                stocks,
                ..
            } => {
                for (currency, stock) in (0..).zip(stocks) {
                    target.stock(currency, stock);
                }
                target.step(Step::MidChange);
                target.cash(cash);
                target.close(account);
            }
        }
        if let Some(seq) = self.seq() {
            target.trade_seq(seq);
        }
    }
}
