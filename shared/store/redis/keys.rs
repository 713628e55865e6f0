//! The key schema: every key of a market, and the fields of its hashes.
//! All of them contain `{NAME}`, so Redis Cluster puts them in one slot and
//! one script may touch any of them.
#![forbid(unsafe_code)]

/// Written in `meta` so a key that merely has the right name is not taken
/// for an exchange.
pub const MAGIC: &str = "shm-exchange";
/// The schema's version, bumped whenever a key or field changes meaning.
pub const LAYOUT_VERSION: u32 = 3;
/// `meta.state` while the market trades.
pub const READY: &str = "ready";
/// `meta.state` once `remove` or `replace` has begun: traders stop.
pub const RETIRED: &str = "retired";

/// Fields of the `meta` hash. Money is in hundredths, as a decimal integer.
pub mod meta {
    pub const MAGIC: &str = "magic";
    pub const LAYOUT: &str = "layout";
    /// Random per creation: a trader attached to a replaced market notices.
    pub const EPOCH: &str = "epoch";
    pub const STATE: &str = "state";
    pub const OWNER_UID: &str = "owner_uid";
    pub const CASH: &str = "cash";
    pub const INITIAL_CASH: &str = "initial_cash";
    pub const STARTING_BALANCE: &str = "starting_balance";
    pub const CAPACITY: &str = "capacity";
    pub const CURRENCIES: &str = "currencies";
    /// Account slots ever used, closed ones included: the next new
    /// account's index while it is below `capacity`. Then a new account
    /// takes the first closed slot, as on a segment.
    pub const ACCOUNT_COUNT: &str = "account_count";
    /// The last serial given to an account: each opening gets the next, so
    /// a reused slot's new account is told from the closed one.
    pub const ACCOUNT_SERIAL: &str = "account_serial";
    /// Accounts open now, at most `capacity`.
    pub const OPEN_ACCOUNTS: &str = "open_accounts";
    /// Starting balances handed out since creation or the last reset: the
    /// audit's count.
    pub const HANDED_OUT: &str = "handed_out";
    /// `1` while the owner has halted trading, else `0`.
    pub const HALTED: &str = "halted";
    /// The Unix time in milliseconds the timed round ends, after which trades
    /// are refused; `0` when no round is set.
    pub const ROUND_END: &str = "round_end";
    /// The tape's last sequence number: trades and the owner's commands.
    pub const TRADE_SEQ: &str = "trade_seq";
    /// Bumped by the commit script itself on every change, and published.
    pub const CHANGE_SEQ: &str = "change_seq";
}

/// Fields of a `currency:<i>` hash; prices in ten-thousandths.
pub mod currency {
    pub const NAME: &str = "name";
    pub const SELL: &str = "sell";
    pub const BUY: &str = "buy";
    pub const STOCK: &str = "stock";
    pub const INITIAL_STOCK: &str = "initial_stock";
}

/// Fields of an `account:<i>` hash, besides one [`holding`] per currency.
pub mod account {
    pub const NAME: &str = "name";
    /// The uid that opened it, which alone (with the market's owner and
    /// root) may trade on it.
    pub const OWNER: &str = "owner";
    /// [`super::OPEN`], or [`super::CLOSED`] once the owner closed it: the
    /// hash stays with its name for the tape until a new account takes the
    /// slot, and its name leaves the index.
    pub const STATUS: &str = "status";
    /// The account's serial (see `meta::ACCOUNT_SERIAL`), also kept in the
    /// `serials` hash.
    pub const SERIAL: &str = "serial";
    pub const BALANCE: &str = "balance";
    /// Trades since it was opened or the market reset.
    pub const TRADES: &str = "trades";
    /// The sequence number of its last trade (0 if none).
    pub const LAST_TRADE: &str = "last_trade";
}

/// `account.status` of an open account.
pub const OPEN: &str = "open";
/// `account.status` of a closed account.
pub const CLOSED: &str = "closed";

/// The field of an account hash holding currency `index`.
pub fn holding(index: usize) -> String {
    format!("holding:{index}")
}

/// The names of one market's keys.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(name: &str) -> Keys {
        Keys {
            prefix: format!("exchange:{{{name}}}"),
        }
    }

    /// Hash: identity, counters, cash (see [`meta`]).
    pub fn meta(&self) -> String {
        format!("{}:meta", self.prefix)
    }

    /// Hash: one currency's quote and stock (see [`currency`]).
    pub fn currency(&self, index: usize) -> String {
        format!("{}:currency:{index}", self.prefix)
    }

    /// Hash: an open account's name to its index.
    pub fn accounts(&self) -> String {
        format!("{}:accounts", self.prefix)
    }

    /// Hash: a used slot's index to the serial of the account in it, so a
    /// tape entry of an account whose slot was taken since reads
    /// `(closed)`.
    pub fn serials(&self) -> String {
        format!("{}:serials", self.prefix)
    }

    /// Hash: one account's name, balance and holdings (see [`account`]).
    pub fn account(&self, index: u32) -> String {
        format!("{}:account:{index}", self.prefix)
    }

    /// List, newest first, capped at `TAPE_LEN`: one line an entry (see
    /// `tape::Entry`).
    pub fn tape(&self) -> String {
        format!("{}:tape", self.prefix)
    }

    /// Pub/sub channel: the new change counter after every commit.
    pub fn changes(&self) -> String {
        format!("{}:changes", self.prefix)
    }
}
