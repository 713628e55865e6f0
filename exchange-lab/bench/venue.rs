//! What every rival of the bench is to its worker: a store that trades for
//! one account. Kept apart from `worker`, which runs them, so a rival never
//! imports the file that dispatches to it.

use shm_exchange::{Money, Result, Side};

/// A store that makes trades for one account.
pub trait Venue {
    /// Buys or sells `amount` of the currency at index `currency`: true if
    /// it traded, false if the market's checks refused it.
    fn trade(&mut self, side: Side, currency: usize, amount: Money) -> Result<bool>;
}
