//! The market over an attached segment, in one file per concern, all of it
//! safe code (raw memory is `shm`'s business):
//!
//! - here: [`Exchange`], the values it hands out, and the trade itself;
//! - [`rules`]: the market rules as pure functions, shared with any other
//!   store;
//! - `lifecycle`: create, attach (read-write, or read-only for a user who
//!   may only read) and check, replace, remove, retire, status;
//! - `journal`: the redo record that makes every change all-or-nothing
//!   against a SIGKILL, its replay after a dead owner, the readers'
//!   sequence counter, and `Locked`, the lock held, which every write
//!   requires;
//! - `record`: a change as plain values, staged for its replay, read back
//!   and checked;
//! - `tape`: the tape's entries, a trade's carrying its redo;
//! - `snapshot`: consistent copies of the market without the lock, which
//!   every read uses;
//! - `accounts`: opening accounts, who may trade on them, finding slots;
//! - `instructor`: the owner's commands: price, halt, resume, reset, close;
//! - `views`: rates, quotes, portfolios, the ranking, the tape, history and
//!   the audit, all from snapshots;
//! - `watchers`: the change counter and the futex that wakes boards;
//! - `race`: the unlocked trade of the classroom race demonstration;
//! - `same_work_c`: the trade done by the bench's hand-written C.
#![forbid(unsafe_code)]

mod accounts;
mod instructor;
mod journal;
mod lifecycle;
mod race;
mod record;
mod round;
pub mod rules;
mod same_work_c;
mod snapshot;
mod tape;
mod views;
mod watchers;

use serde::Serialize;

use std::sync::atomic::Ordering::Relaxed;

use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::money::{Money, Price, WideMoney};
use crate::shm::layout::{entry, flags, AccountSlot, Header, Shared, Write};
use crate::shm::{Backing, Mapping, ReadOnly, Ready};

pub use race::{is_worker_account, worker_account, UnlockedDemo};
use record::Redo;
pub use views::History;
pub(crate) use views::{CurrencyCount, MoneyCount};
#[cfg(test)]
pub(crate) use watchers::FORGET_WATCHERS_AFTER;

/// Trades the tape remembers.
pub const TAPE_LEN: usize = crate::shm::layout::TAPE_LEN;

/// Which way a trade goes, from the trader's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The trader buys from the exchange at its `sell` price.
    Buy,
    /// The trader sells to the exchange at its `buy` price.
    Sell,
}

impl Side {
    /// How the tape stores it.
    fn code(self) -> u8 {
        match self {
            Side::Buy => entry::BUY,
            Side::Sell => entry::SELL,
        }
    }
}

/// An account: its slot in the table and which opening of that slot, so
/// an id kept across the account's closing never reaches the slot's next
/// account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId {
    index: u32,
    serial: u32,
}

impl Fill {
    /// The fill with its currency named, from either store's list of
    /// currencies (the one that made the fill).
    pub(crate) fn named(self, currencies: &[Currency]) -> Receipt {
        Receipt {
            side: self.side,
            currency: currencies[self.currency.0].name.clone(),
            amount: self.amount,
            price: self.price,
            total: self.total,
            balance: self.balance,
        }
    }
}

impl AccountId {
    /// The account in slot `index` with `serial`, as another store (Redis)
    /// numbers them.
    pub(crate) fn in_slot(index: u32, serial: u32) -> AccountId {
        AccountId { index, serial }
    }

    /// The account's index in its store.
    pub(crate) fn index(self) -> u32 {
        self.index
    }

    /// The serial telling it from other accounts of the same slot.
    pub(crate) fn serial(self) -> u32 {
        self.serial
    }
}

/// A currency's slot in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyId(pub(crate) usize);

/// A currency's name, fixed at `exchange-init`. Its quote moves at run
/// time (`price`, `trader ticker`): read it with [`Exchange::rates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub name: String,
}

/// What a trade did, without allocating: the hot path returns this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub side: Side,
    pub currency: CurrencyId,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
    /// The trader's balance afterwards.
    pub balance: Money,
}

/// What a trade did, with the currency named, for people and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Receipt {
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
    /// The trader's balance afterwards.
    pub balance: Money,
}

/// One entry of the tape, as `tape`, `history` and the board show it. In
/// JSON its kind's fields sit beside `seq`:
/// `{"seq": 7, "kind": "trade", "account": "ana", "side": "buy", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TapeRow {
    pub seq: u64,
    #[serde(flatten)]
    pub kind: TapeKind,
}

/// What the tape shows for an account whose slot went to another account.
pub const CLOSED: &str = "(closed)";

/// What happened at one sequence number: a trade, or one of the owner's
/// commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TapeKind {
    /// A trader bought or sold. `account` is `(closed)` once the account's
    /// slot went to another account.
    Trade {
        account: String,
        side: Side,
        currency: String,
        amount: Money,
        price: Price,
        total: Money,
    },
    /// The owner set a currency's quote.
    Price {
        currency: String,
        sell: Price,
        buy: Price,
    },
    /// The owner halted trading.
    Halt,
    /// The owner resumed trading.
    Resume,
    /// The owner reset the market; the tape starts again here.
    Reset,
    /// The owner closed an account, whose balance went to the cash.
    Close { account: String, balance: Money },
    /// The ticker moved `moves` quotes at once: one entry a tick, so the
    /// students' trades stay in view.
    Tick { moves: u32 },
}

impl TapeKind {
    /// A student's trade, as against one of the owner's (or the ticker's)
    /// actions.
    pub fn is_trade(&self) -> bool {
        matches!(self, TapeKind::Trade { .. })
    }
}

/// One row of `rates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Rate {
    pub name: String,
    pub sell: Price,
    pub buy: Price,
    pub stock: Money,
}

/// An account's balance and holdings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Portfolio {
    pub name: String,
    pub balance: Money,
    /// Every currency, in the market's order, including zero holdings.
    #[serde(serialize_with = "holdings_as_map")]
    #[schemars(with = "std::collections::BTreeMap<String, Money>")]
    pub holdings: Vec<(String, Money)>,
    /// What each holding would fetch now, at the exchange's buy price:
    /// wide, like the sums, so no legal market makes a view fail.
    #[serde(serialize_with = "holdings_as_map")]
    #[schemars(with = "std::collections::BTreeMap<String, WideMoney>")]
    pub values: Vec<(String, WideMoney)>,
    /// Balance plus the value of the holdings.
    pub net_worth: WideMoney,
    /// What the account started with.
    pub starting_balance: Money,
    /// `net_worth - starting_balance`: negative is a loss.
    pub profit: WideMoney,
}

pub(crate) fn holdings_as_map<S: serde::Serializer, T: Serialize>(
    holdings: &[(String, T)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(holdings.iter().map(|(name, amount)| (name, amount)))
}

/// The conservation laws, checked against a snapshot taken under the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Audit {
    pub consistent: bool,
    pub currencies: Vec<CurrencyAudit>,
    pub money: MoneyAudit,
}

/// `stock + sum of holdings = initial stock`, for one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CurrencyAudit {
    pub name: String,
    pub stock: WideMoney,
    pub held: WideMoney,
    pub initial: WideMoney,
    /// `stock + held - initial`: units created (positive) or lost.
    pub discrepancy: WideMoney,
}

/// `cash + sum of balances = initial cash + starting balances handed out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MoneyAudit {
    pub cash: WideMoney,
    pub balances: WideMoney,
    pub initial_cash: WideMoney,
    /// Accounts open now.
    pub accounts: u32,
    /// Starting balances handed out since creation or the last reset: one
    /// per account opened, closed ones included (their balance went to the
    /// cash).
    pub accounts_opened: u32,
    pub starting_balances: WideMoney,
    /// `cash + balances - initial_cash - starting_balances`.
    pub discrepancy: WideMoney,
}

/// What `exchange-init --status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub address: String,
    pub size: u64,
    pub mode: String,
    pub owner_uid: u32,
    /// Other processes attached, where the mechanism counts them (System V).
    pub attached: Option<u64>,
    pub layout_version: u32,
    /// Accounts open now.
    pub accounts: u32,
    pub account_capacity: u32,
    pub cash: Money,
    /// The tape's last sequence number: trades and the owner's commands.
    pub trades: u64,
    /// Trades of the race demonstration, which skip the lock and the tape.
    pub unlocked_trades: u64,
    /// Trading is halted by the owner.
    pub halted: bool,
    pub currencies: Vec<Rate>,
}

/// A market attached in this process.
pub struct Exchange {
    address: SegmentAddress,
    attachment: Attachment,
    /// Read once at attach and range-checked: later writes to the header by
    /// a corrupting process cannot make an index go out of bounds.
    capacity: u32,
    currencies: Vec<Currency>,
    /// The real uid of this process, which owns the accounts it opens.
    caller: u32,
}

/// How the segment is mapped: read-write with its lock, or read-only for
/// a user who may only read it, which every write refuses (a store would
/// fault).
enum Attachment {
    Writable(Mapping<Ready>),
    ReadOnly(Mapping<ReadOnly>),
}

impl Attachment {
    #[inline]
    fn header(&self) -> &Header {
        match self {
            Attachment::Writable(mapping) => mapping.header(),
            Attachment::ReadOnly(mapping) => mapping.header(),
        }
    }

    fn accounts(&self, capacity: u32) -> Option<&[AccountSlot]> {
        match self {
            Attachment::Writable(mapping) => mapping.accounts(capacity),
            Attachment::ReadOnly(mapping) => mapping.accounts(capacity),
        }
    }

    fn backing(&self, address: &SegmentAddress) -> Result<Backing> {
        match self {
            Attachment::Writable(mapping) => mapping.backing(address),
            Attachment::ReadOnly(mapping) => mapping.backing(address),
        }
    }

    fn mapped_len(&self) -> usize {
        match self {
            Attachment::Writable(mapping) => mapping.mapped_len(),
            Attachment::ReadOnly(mapping) => mapping.mapped_len(),
        }
    }
}

/// Lazily, so the hot path never builds and drops an unused error.
fn overflow() -> Error {
    Error::Overflow
}

/// Refuses a non-positive amount before the lock, naming it.
#[inline(always)]
fn check_positive(amount: Money) -> Result<()> {
    if amount.is_positive() {
        return Ok(());
    }
    Err(Error::Amount {
        text: amount.to_string(),
        reason: "it must be positive".into(),
    })
}

fn money(slot: &Shared<std::sync::atomic::AtomicI64>) -> Money {
    Money::from_hundredths(slot.load(std::sync::atomic::Ordering::Relaxed))
}

/// Finds a currency by name, ignoring case, in either store's list; a
/// name that is not there gets the nearest one as a suggestion.
pub(crate) fn find_currency(currencies: &[Currency], name: &str) -> Result<CurrencyId> {
    currencies
        .iter()
        .position(|currency| currency.name.eq_ignore_ascii_case(name))
        .map(CurrencyId)
        .ok_or_else(|| Error::UnknownCurrency {
            name: name.to_owned(),
            suggestion: crate::suggest::closest(name, currencies.iter().map(|c| c.name.as_str()))
                .map(str::to_owned),
        })
}

impl Exchange {
    /// The address this exchange was attached at.
    pub fn address(&self) -> &SegmentAddress {
        &self.address
    }

    /// The currencies, in the market's order.
    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    /// Finds a currency by name, ignoring case.
    pub fn currency(&self, name: &str) -> Result<CurrencyId> {
        find_currency(&self.currencies, name)
    }

    /// A currency's name.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        self.known_currency(currency)
    }

    /// Looks up an id, which another exchange with more currencies may
    /// have made.
    #[inline(always)]
    fn known_currency(&self, currency: CurrencyId) -> Result<&Currency> {
        self.currencies
            .get(currency.0)
            .ok_or_else(|| self.corrupted("no such currency slot"))
    }

    /// Names the currency of a [`Fill`].
    pub fn receipt(&self, fill: Fill) -> Receipt {
        fill.named(&self.currencies)
    }

    /// Buys or sells `amount` of a currency for an account, all or nothing:
    /// under the lock, refuses if trading is halted or the account is
    /// another user's, reads the live quote and the values the trade
    /// depends on, asks [`rules::trade`] for the new ones, and commits them
    /// through the journal.
    #[inline]
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        check_positive(amount)?;
        let name = &self.known_currency(currency)?.name;
        let mut locked = self.lock()?;
        crash_point(Step::AfterLock);
        let header = self.header();
        if header.flags.load(Relaxed) & flags::HALTED != 0 {
            return Err(Error::Halted);
        }
        crate::round::check_open(self.round_end())?;
        let table = self.table()?;
        let slot = self.account_slot_in(table, account)?;
        self.check_may_trade(slot)?;
        let outcome = match self.apply_rules(slot, side, currency, amount) {
            Ok(outcome) => outcome,
            // Named after the unlock: nothing under the lock allocates.
            Err(refusal) => {
                locked.unlock();
                return Err(refusal.into_error(name));
            }
        };
        let trades = slot
            .trades
            .load(Relaxed)
            .checked_add(1)
            .ok_or_else(overflow)?;
        let change = Redo::Trade {
            account: account.index,
            serial: account.serial,
            currency: currency.0 as u32,
            side: side.code(),
            seq: 0,
            amount: amount.hundredths(),
            price: outcome.price.ten_thousandths(),
            total: outcome.total.hundredths(),
            stock: outcome.after.stock.hundredths(),
            holding: outcome.after.holding.hundredths(),
            balance: outcome.after.balance.hundredths(),
            cash: outcome.after.cash.hundredths(),
            trades,
        };
        locked.commit(table, change, None)?;
        crash_point(Step::BeforeUnlock);
        locked.unlock();
        self.wake_watchers();
        Ok(Fill {
            side,
            currency,
            amount,
            price: outcome.price,
            total: outcome.total,
            balance: outcome.after.balance,
        })
    }

    /// Moves `amount` from the exchange's cash to an account's balance, all
    /// or nothing, through the journal; the audit stays consistent, since
    /// cash plus balances is unchanged. Owner only (it spends the
    /// exchange's money). Returns the account's new balance.
    pub fn transfer_from_cash(&self, account: AccountId, amount: Money) -> Result<Money> {
        check_positive(amount)?;
        self.require_owner("move the exchange's cash to an account")?;
        let mut locked = self.lock()?;
        crash_point(Step::AfterLock);
        let header = self.header();
        let table = self.table()?;
        let slot = self.account_slot_in(table, account)?;
        let cash = header
            .lock
            .cash
            .load(Relaxed)
            .checked_sub(amount.hundredths())
            .filter(|cash| *cash >= 0)
            .ok_or(Error::InsufficientCash {
                proceeds: amount,
                cash: money(&header.lock.cash),
            })?;
        let balance = slot
            .balance
            .load(Relaxed)
            .checked_add(amount.hundredths())
            .ok_or_else(overflow)?;
        let change = Redo::Transfer {
            account: account.index,
            balance,
            cash,
        };
        locked.commit(table, change, None)?;
        crash_point(Step::BeforeUnlock);
        drop(locked);
        self.wake_watchers();
        Ok(Money::from_hundredths(balance))
    }

    /// Reads the live quote and the four values a trade depends on, and
    /// asks [`rules::trade`] for the outcome: the one read both the real
    /// trade (under the lock) and the race demonstration (without it) make.
    #[inline(always)]
    fn apply_rules(
        &self,
        slot: &AccountSlot,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<rules::Outcome, rules::Refusal> {
        let header = self.header();
        let quote_slot = &header.currencies[currency.0];
        let quote = rules::Quote {
            sell: Price::from_ten_thousandths(quote_slot.sell.load(Relaxed)),
            buy: Price::from_ten_thousandths(quote_slot.buy.load(Relaxed)),
        };
        let before = rules::Position {
            stock: money(&quote_slot.stock),
            holding: money(&slot.holdings[currency.0]),
            balance: money(&slot.balance),
            cash: money(&header.lock.cash),
        };
        rules::trade(side, quote, amount, before)
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        self.attachment.header()
    }

    /// The whole account table, `capacity` slots.
    #[inline(always)]
    fn table(&self) -> Result<&[AccountSlot]> {
        self.attachment
            .accounts(self.capacity)
            .ok_or_else(|| self.corrupted("the account table is cut short"))
    }

    /// The read-write mapping, which every write needs.
    #[inline(always)]
    fn writable(&self) -> Result<&Mapping<Ready>> {
        match &self.attachment {
            Attachment::Writable(mapping) => Ok(mapping),
            Attachment::ReadOnly(_) => Err(Error::ReadOnly {
                address: self.address.to_string(),
            }),
        }
    }

    /// True when this process may only read the exchange.
    /// The permission to write without the lock, on its documented paths
    /// only (see `Mapping::write_unlocked`); `None` when read-only.
    fn unlocked_write(&self) -> Option<Write<'_>> {
        match &self.attachment {
            Attachment::Writable(mapping) => Some(mapping.write_unlocked()),
            Attachment::ReadOnly(_) => None,
        }
    }

    pub fn is_read_only(&self) -> bool {
        matches!(self.attachment, Attachment::ReadOnly(_))
    }

    fn corrupted(&self, reason: impl Into<String>) -> Error {
        Error::Corrupted {
            address: self.address.to_string(),
            reason: reason.into(),
        }
    }
}
