//! TEMPORARY, for the lead to delete at merge: a stand-in for MARKET's
//! `Exchange::set_price`, so that `trader ticker` compiles and runs on the
//! `instr` branch. It is NOT all-or-nothing against SIGKILL (two plain
//! stores under the lock) and puts nothing on the tape; MARKET's real one
//! goes through the journal.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;

use super::{watchers, CurrencyId, Exchange};
use crate::error::{Error, Result};
use crate::money::Price;

impl Exchange {
    /// Sets a currency's quote (owner only). See the module doc.
    pub fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()> {
        self.require_owner("set prices")?;
        if buy.ten_thousandths() <= 0 || buy > sell {
            return Err(Error::Amount {
                text: format!("{sell} {buy}"),
                reason: "a quote needs 0 < buy <= sell".into(),
            });
        }
        self.known_currency(currency)?;
        let _locked = self.lock()?;
        let slot = &self.header().currencies[currency.0];
        slot.sell.store(sell.ten_thousandths(), Relaxed);
        slot.buy.store(buy.ten_thousandths(), Relaxed);
        watchers::announce_change(self.header());
        Ok(())
    }
}
