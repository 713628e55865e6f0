//! The bot protocol's own replies: `hello`, which tells a program what it
//! is talking to before it trades, and `wait`, which lets it sleep until
//! the market moves instead of polling. The protocol itself (JSON lines
//! over `trader --json --script -`) is documented in `docs/PROTOCOL.md`.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::command::MAX_LINE;
use crate::error::Result;
use crate::market::TAPE_LEN;
use crate::store::Store;

/// The protocol's version. A bot may rely on every field and code of its
/// version staying as documented; a new field or code is no new version,
/// a field removed or changed in meaning is.
pub const PROTOCOL_VERSION: u32 = 1;

/// Decimal places of a price.
pub const PRICE_DECIMALS: u32 = 4;
/// Decimal places of an amount of money or currency.
pub const AMOUNT_DECIMALS: u32 = 2;

/// What `wait` waits when given no time, in milliseconds.
pub const DEFAULT_WAIT_MS: u64 = 1_000;
/// The longest `wait`, in milliseconds: a minute.
pub const MAX_WAIT_MS: u64 = 60_000;

/// `hello`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hello {
    pub protocol: u32,
    /// The market's address, as `--segment` takes it.
    pub market: String,
    /// `posix`, `sysv`, `file` or `redis`.
    pub store: String,
    /// The account this session trades for (opened at its first trade).
    pub account: String,
    /// Whether a trade could go through now, as far as the market's state
    /// goes (its rules may still refuse it).
    pub may_trade: bool,
    /// This process may only read the market.
    pub read_only: bool,
    pub halted: bool,
    /// The timed round's end as a Unix time in milliseconds, if one is set.
    pub round_end_ms: Option<u64>,
    /// The round's end has passed.
    pub round_over: bool,
    /// The change counter now; a `wait` after `hello` waits past it.
    pub seq: u32,
    pub currencies: Vec<CurrencyInfo>,
    pub limits: Limits,
}

/// A currency's name and the precision of its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyInfo {
    pub name: String,
    pub price_decimals: u32,
    pub amount_decimals: u32,
}

/// The bounds a bot must stay within.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The longest command line, in bytes.
    pub line_bytes: usize,
    /// Entries the tape keeps: the most `tape N` and `history N` show.
    pub tape_entries: usize,
    /// Accounts the market can hold.
    pub accounts: u32,
    /// The longest `wait`, in milliseconds.
    pub wait_ms: u64,
}

/// `wait`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Waited {
    /// The market changed since the last `wait` or `hello` (or, for the
    /// first, since this one began).
    pub changed: bool,
    /// The change counter now.
    pub seq: u32,
}

/// What `hello` tells about `exchange` to the session of `account`.
pub fn hello(exchange: &Store, account: &str) -> Result<Hello> {
    let status = exchange.status()?;
    let round_end_ms = exchange.round_end()?;
    let round_over = crate::round::check_open(round_end_ms).is_err();
    let read_only = exchange.is_read_only();
    let address = exchange.address().to_string();
    let store = address.split(':').next().unwrap_or_default().to_owned();
    Ok(Hello {
        protocol: PROTOCOL_VERSION,
        market: address,
        store,
        account: account.to_owned(),
        may_trade: !read_only && !status.halted && !round_over,
        read_only,
        halted: status.halted,
        round_end_ms,
        round_over,
        seq: exchange.change_seq(),
        currencies: exchange
            .currencies()
            .iter()
            .map(|currency| CurrencyInfo {
                name: currency.name.clone(),
                price_decimals: PRICE_DECIMALS,
                amount_decimals: AMOUNT_DECIMALS,
            })
            .collect(),
        limits: Limits {
            line_bytes: MAX_LINE,
            tape_entries: TAPE_LEN,
            accounts: status.account_capacity,
            wait_ms: MAX_WAIT_MS,
        },
    })
}

/// Sleeps until the change counter differs from `seen` or `timeout`
/// passes: on the board's futex, or pub/sub on Redis, never spinning.
pub fn wait(exchange: &Store, seen: u32, timeout: Duration) -> Waited {
    let deadline = Instant::now() + timeout;
    loop {
        let seq = exchange.change_seq();
        let left = deadline.saturating_duration_since(Instant::now());
        if seq != seen || left.is_zero() {
            return Waited {
                changed: seq != seen,
                seq,
            };
        }
        exchange.wait_for_change(seen, left);
    }
}
