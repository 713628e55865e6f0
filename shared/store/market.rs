//! What a market is, whichever store holds it: the trade, the owner's
//! commands, opening and finding accounts, the snapshot reads and the wait
//! for a change. Each store implements it once (`store::shm` on a segment,
//! `store::redis` on a server); the command language, the board, `follow`,
//! the ticker and the round call through it and never name a store.
#![forbid(unsafe_code)]

use std::time::Duration;

use super::address::MarketAddress;
use crate::domain::{
    find_currency, AccountId, Audit, Currency, CurrencyId, Fill, History, Portfolio, Rate, Receipt,
    Side, Status, TapeRow,
};
use crate::error::Result;
use crate::money::{Money, Price};

/// Which store holds a market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A shared-memory segment on this host.
    Segment,
    /// A Redis server.
    Redis,
}

/// A market attached in this process. Every right (owner, read-only,
/// halted, the account's owner) is checked by the implementation at the
/// write, never by its caller.
pub trait Market: Sync {
    /// The address this market was attached at.
    fn address(&self) -> MarketAddress;

    /// Which store holds it.
    fn kind(&self) -> StoreKind;

    /// True when this process may only read the market.
    fn is_read_only(&self) -> bool {
        false
    }

    /// Checks the market is still there and whole before a command.
    fn check_backing(&self) -> Result<()>;

    /// The currencies, in the market's order.
    fn currencies(&self) -> &[Currency];

    /// Finds a currency by name, ignoring case.
    fn currency(&self, name: &str) -> Result<CurrencyId> {
        find_currency(self.currencies(), name)
    }

    /// A currency's name.
    fn currency_info(&self, currency: CurrencyId) -> Result<&Currency>;

    /// Names the currency of a [`Fill`].
    fn receipt(&self, fill: Fill) -> Receipt {
        fill.named(self.currencies())
    }

    /// Buys or sells for an account, all or nothing.
    fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill>;

    /// What `exchange-init --status` shows.
    fn status(&self) -> Result<Status>;

    /// Moves `amount` of the exchange's cash to an account's balance.
    /// Owner only. Returns the account's new balance.
    fn transfer_from_cash(&self, account: AccountId, amount: Money) -> Result<Money>;

    /// The uid that owns the market (on Redis, the uid recorded at
    /// creation: a server cannot say which uid owns a key).
    fn owner_uid(&self) -> Result<Option<u32>>;

    /// Refuses, changing nothing, unless this process runs as the owner or
    /// as root; `action` completes "only the owner of this exchange may ...".
    fn require_owner(&self, action: &str) -> Result<()>;

    /// What each new account starts with.
    fn starting_balance(&self) -> Result<Money>;

    /// Sets a currency's quote. Owner only.
    fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()>;

    /// One tick of the ticker: sets every `(currency, sell, buy)` quote,
    /// with one tape entry for them all. Owner only.
    fn tick(&self, quotes: &[(CurrencyId, Price, Price)]) -> Result<()>;

    /// Stops trading until [`Market::resume`]; reads go on. Owner only.
    fn halt(&self) -> Result<()>;

    /// Lets trading go on after [`Market::halt`]. Owner only.
    fn resume(&self) -> Result<()>;

    /// Puts every account, the stock and the cash back to their starting
    /// values and starts the tape again. Owner only.
    fn reset(&self) -> Result<()>;

    /// Closes an account, giving its holdings to the stock and its balance
    /// to the cash; returns that balance. Owner only.
    fn close_account(&self, name: &str) -> Result<Money>;

    /// The Unix time in milliseconds the timed round ends, if one is set
    /// (see [`crate::round`]).
    fn round_end(&self) -> Result<Option<u64>>;

    /// Sets the round's end, or clears it with `None`. Owner only.
    fn set_round_end(&self, end: Option<u64>) -> Result<()>;

    /// Opens the named account, or finds it.
    fn open_account(&self, name: &str) -> Result<AccountId>;

    /// Opens (or finds) the named account if that needs no wait for the
    /// lock; `Ok(None)` when it would wait, or when this user may only read.
    fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>>;

    /// Opens (or finds) every named account, or none of them.
    fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>>;

    /// The open account called `name`, if there is one.
    fn find_account(&self, name: &str) -> Result<Option<AccountId>>;

    /// The account's name.
    fn account_name(&self, account: AccountId) -> Result<String>;

    /// The quotes and the exchange's stock.
    fn rates(&self) -> Result<Vec<Rate>>;

    /// The price and total of a trade now, without trading.
    fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)>;

    /// An account's balance and holdings, valued at today's buy prices.
    fn portfolio(&self, account: AccountId) -> Result<Portfolio>;

    /// Every account's portfolio.
    fn traders(&self) -> Result<Vec<Portfolio>>;

    /// The last `limit` entries of the tape, oldest first.
    fn tape(&self, limit: usize) -> Result<Vec<TapeRow>>;

    /// An account's last `limit` trades on the tape, with its count of
    /// trades in all.
    fn history(&self, account: AccountId, limit: usize) -> Result<History>;

    /// Both conservation laws, checked on one snapshot.
    fn audit(&self) -> Result<Audit>;

    /// The change counter, bumped after every committed change. On Redis a
    /// failed read gives 0, so the next wait returns at once and the read
    /// after it reports the failure.
    fn change_seq(&self) -> u32;

    /// The change counter with no change half made; where a commit moves
    /// it once, [`Market::change_seq`].
    fn settled_change_seq(&self) -> u32 {
        self.change_seq()
    }

    /// Sleeps until the change counter moves past `seen`, a
    /// [`Market::wake_watchers`], or `timeout`: a futex on a segment,
    /// pub/sub on Redis.
    fn wait_for_change(&self, seen: u32, timeout: Duration);

    /// [`Market::wait_for_change`] that hands back as soon as the counter
    /// moves, for a bot's `wait` (a board's waits rest behind a flood of
    /// changes; Redis's never do).
    fn wait_for_change_promptly(&self, seen: u32, timeout: Duration) {
        self.wait_for_change(seen, timeout)
    }

    /// Wakes the waiters in [`Market::wait_for_change`] (on Redis, only
    /// this process's).
    fn wake_watchers(&self);
}
