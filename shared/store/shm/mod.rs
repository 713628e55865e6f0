//! The market over an attached segment, in one file per concern, all of it
//! safe code (raw memory is `shm`'s business). It speaks the domain's
//! vocabulary and applies its rules (`crate::domain`), and knows no other
//! store:
//!
//! - here: [`Exchange`] and the trade itself;
//! - `market`: the segment as a [`crate::store::Market`];
//! - `lifecycle`: create, attach (read-write, or read-only for a user who
//!   may only read) and check, replace, remove, retire, status;
//! - `journal`: the redo record that makes every change all-or-nothing
//!   against a SIGKILL, its replay after a dead owner, the readers'
//!   sequence counter, and `Locked`, the lock held, which every write
//!   requires;
//! - `record`: a change as plain values, staged for its replay, read back
//!   and checked, and the one description of each kind's fields that
//!   applying it and laying it over a reader's copy share;
//! - `tape`: writing the tape's entries, a trade's carrying its redo;
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
mod market;
mod race;
mod record;
mod round;
mod same_work_c;
mod snapshot;
mod tape;
mod views;
mod watchers;

use std::sync::atomic::Ordering::Relaxed;

use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::money::{Money, Price};
use crate::shm::layout::{entry, flags, AccountSlot, Header, Shared, Write};
use crate::shm::{Backing, Mapping, ReadOnly, Ready};

use crate::domain::{
    find_currency, rules, AccountId, Currency, CurrencyId, Fill, Receipt, Side, Trade, TAPE_LEN,
};
pub use race::{is_worker_account, worker_account, UnlockedDemo};
use record::Redo;
pub use same_work_c::{CRun, CWorkload};
#[cfg(test)]
pub(crate) use watchers::FORGET_WATCHERS_AFTER;

// The domain's limits are the segment's.
const _: () = {
    use crate::shm::layout;
    assert!(TAPE_LEN == layout::TAPE_LEN);
    assert!(crate::domain::MAX_CURRENCIES == layout::MAX_CURRENCIES);
    assert!(crate::domain::MAX_ACCOUNTS == layout::MAX_ACCOUNTS);
};

impl Side {
    /// How the tape stores it.
    fn code(self) -> u8 {
        match self {
            Side::Buy => entry::BUY,
            Side::Sell => entry::SELL,
        }
    }
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

/// Why a write was not made, other than the market's rules: small, so
/// that a hot path carries it in a register or two and builds the
/// [`Error`] only once it has unlocked (`From` makes it).
#[derive(Debug)]
pub(super) enum Denied {
    Halted,
    /// The account was closed since its id was handed out.
    Closed,
    /// The round ended at this Unix time in milliseconds.
    RoundOver(u64),
    /// Anything rarer: the lock, the segment, another user's account.
    Failed(Box<Error>),
}

impl From<Denied> for Error {
    fn from(denied: Denied) -> Error {
        match denied {
            Denied::Halted => Error::Halted,
            Denied::Closed => Error::AccountClosed,
            Denied::RoundOver(ended_at) => Error::RoundOver { ended_at },
            Denied::Failed(error) => *error,
        }
    }
}

/// Why a trade stopped short: see [`Exchange::trade_as`].
#[derive(Debug)]
enum Stop {
    NotPositive,
    Refused(rules::Refusal),
    Denied(Denied),
}

/// Refuses a non-positive amount before the lock, naming it.
#[inline(always)]
fn check_positive(amount: Money) -> Result<()> {
    if amount.is_positive() {
        return Ok(());
    }
    Err(not_positive(amount))
}

/// The error for an amount that is not positive.
#[cold]
fn not_positive(amount: Money) -> Error {
    Error::Amount {
        text: amount.to_string(),
        reason: "it must be positive".into(),
    }
}

fn money(slot: &Shared<std::sync::atomic::AtomicI64>) -> Money {
    Money::from_hundredths(slot.load(std::sync::atomic::Ordering::Relaxed))
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
    ///
    /// The work is [`Exchange::trade_as`], compiled twice: traced, and
    /// quiet with no trace code at all; one check here picks the copy.
    #[inline]
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        if crate::trace::enabled() {
            self.trade_traced(account, side, currency, amount)
        } else {
            self.trade_as::<false>(account, side, currency, amount)
        }
    }

    #[cold]
    #[inline(never)]
    fn trade_traced(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        self.trade_as::<true>(account, side, currency, amount)
    }

    /// The trade, with `TRACED` saying whether it traces: see
    /// [`Exchange::trade`]. Every way it stops is a small [`Stop`] until
    /// it leaves, where [`Exchange::explain`], out of line, writes the
    /// error straight into the result: no error is built, moved or dropped
    /// on the hot path.
    #[inline(always)]
    fn trade_as<const TRACED: bool>(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        let stop = |stop: Stop| Err(self.explain(stop, currency, amount));
        if !amount.is_positive() {
            return stop(Stop::NotPositive);
        }
        if currency.0 >= self.currencies.len() {
            return stop(Stop::Denied(self.no_currency_slot()));
        }
        let mut locked = match self.lock_as::<TRACED>(true) {
            Ok(locked) => locked,
            Err(error) => return stop(Stop::Denied(Denied::Failed(error))),
        };
        crash_point(Step::AfterLock);
        let header = self.header();
        if header.flags.load(Relaxed) & flags::HALTED != 0 {
            return stop(Stop::Denied(Denied::Halted));
        }
        if let Some(end) = self.round_end().filter(|end| crate::round::has_ended(*end)) {
            return stop(Stop::Denied(Denied::RoundOver(end)));
        }
        let table = match self.table() {
            Ok(table) => table,
            Err(error) => return stop(Stop::Denied(Denied::Failed(Box::new(error)))),
        };
        let slot = match self.account_slot_in(table, account) {
            Ok(slot) => slot,
            Err(denied) => return stop(Stop::Denied(denied)),
        };
        if let Err(denied) = self.check_may_trade(slot) {
            return stop(Stop::Denied(denied));
        }
        let outcome = match self.apply_rules(slot, side, currency, amount) {
            Ok(outcome) => outcome,
            Err(refusal) => {
                drop(locked);
                return stop(Stop::Refused(refusal));
            }
        };
        let Some(trades) = slot.trades.load(Relaxed).checked_add(1) else {
            drop(locked);
            return stop(Stop::Refused(rules::Refusal::Overflow));
        };
        let trade = Trade::new(account, side, currency, amount, outcome);
        let change = Redo::Trade {
            trade,
            seq: 0,
            trades,
        };
        locked.commit(table, change, None);
        crash_point(Step::BeforeUnlock);
        locked.unlock();
        self.wake_watchers();
        Ok(trade.fill())
    }

    /// The error a trade that stopped short reports, made out of line:
    /// a refusal's (which allocates, to name the currency) after the
    /// unlock, the others' (which do not) where the trade stopped.
    #[cold]
    #[inline(never)]
    fn explain(&self, stop: Stop, currency: CurrencyId, amount: Money) -> Error {
        match stop {
            Stop::NotPositive => not_positive(amount),
            Stop::Refused(refusal) => match self.known_currency(currency) {
                Ok(known) => refusal.into_error(&known.name),
                Err(error) => error,
            },
            Stop::Denied(denied) => denied.into(),
        }
    }

    #[cold]
    #[inline(never)]
    fn no_currency_slot(&self) -> Denied {
        Denied::Failed(Box::new(self.corrupted("no such currency slot")))
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
        locked.commit(table, change, None);
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
            Attachment::ReadOnly(_) => Err(self.read_only()),
        }
    }

    /// The error for a write on a read-only attachment.
    #[cold]
    #[inline(never)]
    fn read_only(&self) -> Error {
        Error::ReadOnly {
            address: self.address.to_string(),
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
