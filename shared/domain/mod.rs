//! The market's vocabulary, rules and laws, knowing no store: what a
//! currency, an account, a trade, a tape entry and each view is, the rules
//! a trade obeys ([`rules`]) and the conservation laws an audit checks
//! (`laws`). Both stores (`store::shm`, `store::redis`) speak it, so a
//! view renders the same bytes whichever store made it.
#![forbid(unsafe_code)]

mod laws;
pub mod rules;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::money::{Money, Price, WideMoney};

pub(crate) use laws::{CurrencyCount, MoneyCount};

/// Trades the tape remembers.
pub const TAPE_LEN: usize = 256;
/// Currencies a market can hold.
pub const MAX_CURRENCIES: usize = 16;
/// Largest account table a market may have.
pub const MAX_ACCOUNTS: u32 = 65_536;

/// Which way a trade goes, from the trader's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The trader buys from the exchange at its `sell` price.
    Buy,
    /// The trader sells to the exchange at its `buy` price.
    Sell,
}

/// An account: its slot in the table and which opening of that slot, so
/// an id kept across the account's closing never reaches the slot's next
/// account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId {
    pub(crate) index: u32,
    pub(crate) serial: u32,
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
/// time (`price`, `trader ticker`): read it with the market's `rates`.
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

/// One trade as the rules made it: who traded which way, what, at what
/// price, and the values it leaves (`after`). The segment's journal stages
/// it, its tape entry carries it, and the reply is made from it
/// ([`Trade::fill`]): one shape from the rules to the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    pub account: AccountId,
    pub side: Side,
    pub currency: CurrencyId,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
    /// The exchange's stock and cash, the trader's holding and balance,
    /// after the trade.
    pub after: rules::Position,
}

impl Trade {
    /// The trade whose price, total and new values the rules gave.
    #[inline(always)]
    pub fn new(
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
        outcome: rules::Outcome,
    ) -> Trade {
        Trade {
            account,
            side,
            currency,
            amount,
            price: outcome.price,
            total: outcome.total,
            after: outcome.after,
        }
    }

    /// What the trader is told.
    #[inline(always)]
    pub fn fill(&self) -> Fill {
        Fill {
            side: self.side,
            currency: self.currency,
            amount: self.amount,
            price: self.price,
            total: self.total,
            balance: self.after.balance,
        }
    }
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

/// An account's trades on the tape, and how many it made in all: the tape
/// keeps only the last [`TAPE_LEN`] entries, so older trades are
/// counted here even when none of them is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct History {
    pub name: String,
    /// The account's trades still on the tape, oldest first.
    pub rows: Vec<TapeRow>,
    /// Trades the account made since it was opened or the market reset.
    pub trades: u32,
    /// Sequence number of its last trade, if it made any.
    pub last_trade: Option<u64>,
}
