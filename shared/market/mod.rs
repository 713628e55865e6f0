//! The market over an attached segment, in one file per concern, all of it
//! safe code (raw memory is `shm`'s business):
//!
//! - here: [`Exchange`], the values it hands out, and the trade itself;
//! - [`rules`]: the market rules as pure functions, shared with any other
//!   store;
//! - `lifecycle`: create, attach and check, replace, remove, retire, status;
//! - `journal`: the redo record that makes every change all-or-nothing
//!   against a SIGKILL, its replay after a dead owner, and [`Locked`], the
//!   lock held, which every write requires;
//! - `accounts`: opening accounts and finding their slots;
//! - `views`: rates, quotes, portfolios, the tape and the audit;
//! - `watchers`: the change counter and the futex that wakes boards;
//! - `race`: the unlocked trade of the classroom race demonstration.
#![forbid(unsafe_code)]

mod accounts;
mod journal;
mod lifecycle;
// TEMPORARY (INSTR): until MARKET's set_price lands; the lead deletes it.
mod price_stub;
mod race;
pub mod rules;
mod views;
mod watchers;

use serde::Serialize;

use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::money::{Money, Price};
use crate::shm::layout::side;
use crate::shm::{Mapping, Ready};

use journal::TradeChange;
pub use race::UnlockedDemo;

/// Trades the tape remembers.
pub const TAPE_LEN: usize = crate::shm::layout::TAPE_LEN;

/// Which way a trade goes, from the trader's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The trader buys from the exchange at its `sell` price.
    Buy,
    /// The trader sells to the exchange at its `buy` price.
    Sell,
}

impl Side {
    /// How the tape stores it.
    fn code(self) -> u32 {
        match self {
            Side::Buy => side::BUY,
            Side::Sell => side::SELL,
        }
    }
}

/// An account's slot in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId(pub(crate) u32);

/// A currency's slot in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyId(pub(crate) usize);

/// A currency's quote, which never changes after `exchange-init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub name: String,
    pub sell: Price,
    pub buy: Price,
}

impl Currency {
    fn rules_quote(&self) -> rules::Quote {
        rules::Quote {
            sell: self.sell,
            buy: self.buy,
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
    /// The trader's balance afterwards.
    pub balance: Money,
}

/// One trade on the tape, as `tape` and `history` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TapeRow {
    pub seq: u64,
    pub account: String,
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
}

/// One row of `rates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub name: String,
    pub sell: Price,
    pub buy: Price,
    pub stock: Money,
}

/// An account's balance and holdings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Portfolio {
    pub name: String,
    pub balance: Money,
    /// Every currency, in the market's order, including zero holdings.
    #[serde(serialize_with = "holdings_as_map")]
    pub holdings: Vec<(String, Money)>,
    /// What each holding would fetch now, at the exchange's buy price.
    #[serde(serialize_with = "holdings_as_map")]
    pub values: Vec<(String, Money)>,
    /// Balance plus the value of the holdings.
    pub net_worth: Money,
    /// What the account started with.
    pub starting_balance: Money,
    /// `net_worth - starting_balance`: negative is a loss.
    pub profit: Money,
}

fn holdings_as_map<S: serde::Serializer>(
    holdings: &[(String, Money)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(holdings.iter().map(|(name, amount)| (name, amount)))
}

/// The conservation laws, checked against a snapshot taken under the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub consistent: bool,
    pub currencies: Vec<CurrencyAudit>,
    pub money: MoneyAudit,
}

/// `stock + sum of holdings = initial stock`, for one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyAudit {
    pub name: String,
    pub stock: Money,
    pub held: Money,
    pub initial: Money,
    /// `stock + held - initial`: units created (positive) or lost.
    pub discrepancy: Money,
}

/// `cash + sum of balances = initial cash + starting balances handed out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyAudit {
    pub cash: Money,
    pub balances: Money,
    pub initial_cash: Money,
    pub accounts: u32,
    pub starting_balances: Money,
    /// `cash + balances - initial_cash - starting_balances`.
    pub discrepancy: Money,
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
    pub accounts: u32,
    pub account_capacity: u32,
    pub cash: Money,
    pub trades: u64,
    pub currencies: Vec<Rate>,
}

/// A market attached in this process.
pub struct Exchange {
    address: SegmentAddress,
    mapping: Mapping<Ready>,
    /// Read once at attach and range-checked: later writes to the header by
    /// a corrupting process cannot make an index go out of bounds.
    capacity: u32,
    currencies: Vec<Currency>,
}

/// Lazily, so the hot path never builds and drops an unused error.
fn overflow() -> Error {
    Error::Overflow
}

/// Refuses a non-positive amount before the lock, naming it.
fn check_positive(amount: Money) -> Result<()> {
    if amount.is_positive() {
        return Ok(());
    }
    Err(Error::Amount {
        text: amount.to_string(),
        reason: "it must be positive".into(),
    })
}

fn money(slot: &std::sync::atomic::AtomicI64) -> Money {
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
        self.currencies
            .iter()
            .position(|currency| currency.name.eq_ignore_ascii_case(name))
            .map(CurrencyId)
            .ok_or_else(|| Error::UnknownCurrency {
                name: name.to_owned(),
                suggestion: crate::suggest::closest(
                    name,
                    self.currencies.iter().map(|c| c.name.as_str()),
                )
                .map(str::to_owned),
            })
    }

    /// A currency's name and quote.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        self.known_currency(currency)
    }

    /// Looks up an id, which another exchange with more currencies may
    /// have made.
    #[inline]
    fn known_currency(&self, currency: CurrencyId) -> Result<&Currency> {
        self.currencies
            .get(currency.0)
            .ok_or_else(|| self.corrupted("no such currency slot"))
    }

    /// Names the currency of a [`Fill`].
    pub fn receipt(&self, fill: Fill) -> Receipt {
        Receipt {
            side: fill.side,
            currency: self.currencies[fill.currency.0].name.clone(),
            amount: fill.amount,
            price: fill.price,
            total: fill.total,
            balance: fill.balance,
        }
    }

    /// Buys or sells `amount` of a currency for an account, all or nothing:
    /// reads the values the trade depends on under the lock, asks
    /// [`rules::trade`] for the new ones, and commits them through the
    /// journal.
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        check_positive(amount)?;
        let quote = self.known_currency(currency)?;
        let mut locked = self.lock()?;
        crash_point(Step::AfterLock);
        let header = self.header();
        let slot = self.account_slot(account)?;
        let before = rules::Position {
            stock: money(&header.currencies[currency.0].stock),
            holding: money(&slot.holdings[currency.0]),
            balance: money(&slot.balance),
            cash: money(&header.cash),
        };
        let outcome = rules::trade(side, quote.rules_quote(), amount, before)
            .map_err(|refusal| refusal.into_error(&quote.name))?;
        locked.commit_trade(&TradeChange {
            account,
            slot,
            side,
            currency,
            amount,
            outcome,
        })?;
        crash_point(Step::BeforeUnlock);
        drop(locked);
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

    fn header(&self) -> &crate::shm::layout::Header {
        self.mapping.header()
    }

    fn corrupted(&self, reason: impl Into<String>) -> Error {
        Error::Corrupted {
            address: self.address.to_string(),
            reason: reason.into(),
        }
    }
}
