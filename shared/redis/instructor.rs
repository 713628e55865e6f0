//! The owner's commands on a Redis market: not yet; each is refused with a
//! clear error until they are committed through the compare-and-set script
//! like every other change.
#![forbid(unsafe_code)]

use super::{CurrencyId, RedisMarket};
use crate::error::{Error, Result};
use crate::money::{Money, Price};

impl RedisMarket {
    /// Sets a currency's quote. Owner only.
    pub fn set_price(&self, _currency: CurrencyId, _sell: Price, _buy: Price) -> Result<()> {
        self.require_owner("set prices")?;
        Err(self.not_yet("price"))
    }

    /// Stops trading. Owner only.
    pub fn halt(&self) -> Result<()> {
        self.require_owner("halt trading")?;
        Err(self.not_yet("halt"))
    }

    /// Lets trading go on. Owner only.
    pub fn resume(&self) -> Result<()> {
        self.require_owner("resume trading")?;
        Err(self.not_yet("resume"))
    }

    /// Resets the market. Owner only.
    pub fn reset(&self) -> Result<()> {
        self.require_owner("reset the market")?;
        Err(self.not_yet("reset"))
    }

    /// Closes an account. Owner only.
    pub fn close_account(&self, _name: &str) -> Result<Money> {
        self.require_owner("close accounts")?;
        Err(self.not_yet("close"))
    }

    fn not_yet(&self, what: &str) -> Error {
        Error::Unsupported {
            what: format!("`{what}`"),
            address: self.link.address.to_string(),
            way_out: "the owner's commands run on a shared-memory segment for now",
        }
    }
}
