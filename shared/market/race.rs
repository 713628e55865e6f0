//! **For the race demonstration only** (`trader stress --unlocked`): the
//! textbook trade, a read-modify-write of the shared stock and cash with no
//! lock and no redo record, so that lost updates show in the audit.
//!
//! It has its own type, [`UnlockedDemo`], so that no trading path can reach
//! it by accident: it is obtained on purpose with
//! [`Exchange::unlocked_demo`]. It applies the same [`rules`](super::rules) as a real
//! trade, so its refusals tell the truth; only the commit is wrong, on
//! purpose (and still sound: every value it touches is an atomic).
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::*;

use super::{check_positive, AccountId, CurrencyId, Exchange, Fill, Side};
use crate::error::Result;
use crate::money::Money;

/// An exchange seen through the race demonstration: trades without the
/// lock. Never use it to trade for real: the audit will show money and
/// units lost.
pub struct UnlockedDemo<'a> {
    exchange: &'a Exchange,
}

impl Exchange {
    /// The race demonstration's view of this exchange; see [`UnlockedDemo`].
    pub fn unlocked_demo(&self) -> UnlockedDemo<'_> {
        UnlockedDemo { exchange: self }
    }
}

impl UnlockedDemo<'_> {
    /// Reads the four values, applies the rules, yields (the race window:
    /// another process reads the same stock and cash here), and writes the
    /// four new values back, so one of two overlapping writes is lost.
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        check_positive(amount)?;
        let exchange = self.exchange;
        // The race demonstration's own unlocked path (see
        // `Mapping::write_unlocked`).
        let write = exchange.writable()?.write_unlocked();
        let name = &exchange.known_currency(currency)?.name;
        let header = exchange.header();
        let slot = exchange.account_slot_in(exchange.table()?, account)?;
        let currency_slot = &header.currencies[currency.0];
        let outcome = exchange
            .apply_rules(slot, side, currency, amount)
            .map_err(|refusal| refusal.into_error(name))?;
        std::thread::yield_now();
        let after = outcome.after;
        currency_slot
            .stock
            .store(after.stock.hundredths(), Relaxed, write);
        slot.holdings[currency.0].store(after.holding.hundredths(), Relaxed, write);
        slot.balance
            .store(after.balance.hundredths(), Relaxed, write);
        header
            .lock
            .cash
            .store(after.cash.hundredths(), Relaxed, write);
        // Counted where `--status` and the board look, never wrapping.
        let _ = header.unlocked_trades.fetch_update(
            Relaxed,
            Relaxed,
            |count| count.checked_add(1),
            write,
        );
        Ok(Fill {
            side,
            currency,
            amount,
            price: outcome.price,
            total: outcome.total,
            balance: after.balance,
        })
    }
}
