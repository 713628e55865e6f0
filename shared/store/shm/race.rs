//! **For the race demonstration only** (`exchange-lab stress --unlocked`):
//! the textbook trade, a read-modify-write of the shared stock and cash with
//! no lock and no redo record, so that lost updates show in the audit.
//!
//! It has its own type, [`UnlockedDemo`], so that no trading path can reach
//! it by accident: it is obtained on purpose with
//! [`Exchange::unlocked_demo`]. It applies the same [`rules`](super::rules) as a real
//! trade, so its refusals tell the truth; only the commit is wrong, on
//! purpose (and still sound: every value it touches is an atomic).
//!
//! Since it corrupts the market it runs on, its rights are checked here,
//! where it writes, not in a front end: only the exchange's owner or root
//! may have one, only on a market whose every account is a stress account
//! of the caller's or the owner's (a student's `stress-5` is not the run's
//! own), and never on a halted market. A trade checks again that the
//! market is not halted, that the account is the caller's to trade on, and
//! (whenever an account was opened since the last look) that every account
//! is still a stress account. Without the lock these checks race with the
//! owner's `halt` and with an opening, by one trade at most.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::Ordering::*;

use super::snapshot::Parts;
use super::{check_positive, AccountId, CurrencyId, Exchange, Fill, Side};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::shm::layout::flags;

/// An exchange seen through the race demonstration: trades without the
/// lock. Never use it to trade for real: the audit will show money and
/// units lost.
pub struct UnlockedDemo<'a> {
    exchange: &'a Exchange,
    /// The accounts' serial when every account was last seen to be a
    /// stress account: opening any account moves it.
    checked_serial: Cell<Option<u32>>,
}

/// The account name of stress worker `index`.
pub fn worker_account(index: usize) -> String {
    format!("stress-{index}")
}

/// True for the accounts stress runs trade on: `stress-` and a number.
pub fn is_worker_account(name: &str) -> bool {
    name.strip_prefix("stress-")
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

impl Exchange {
    /// The race demonstration's view of this exchange; see
    /// [`UnlockedDemo`]. Refused, changing nothing, unless this process
    /// acts for the exchange's owner or root ([`crate::caller`]), the
    /// exchange is writable and not halted, and every account on it is a
    /// stress account of the caller's or the owner's.
    pub fn unlocked_demo(&self) -> Result<UnlockedDemo<'_>> {
        self.writable()?;
        self.require_owner(
            "trade without the lock (stress --unlocked), which corrupts the market",
        )?;
        let demo = UnlockedDemo {
            exchange: self,
            checked_serial: Cell::new(None),
        };
        demo.check_not_halted()?;
        demo.check_only_stress_accounts()?;
        Ok(demo)
    }
}

impl UnlockedDemo<'_> {
    fn check_not_halted(&self) -> Result<()> {
        if self.exchange.header().flags.load(Relaxed) & flags::HALTED != 0 {
            return Err(Error::Halted);
        }
        Ok(())
    }

    /// Refuses a market with an open account that is not a stress
    /// account of the caller's or the exchange owner's; looks again only
    /// when an account was opened since.
    fn check_only_stress_accounts(&self) -> Result<()> {
        let exchange = self.exchange;
        let serial = exchange.header().account_serial.load(Acquire);
        if self.checked_serial.get() == Some(serial) {
            return Ok(());
        }
        let owner = exchange.owner_uid()?;
        let snapshot = exchange.snapshot(Parts::ACCOUNTS)?;
        let mut others = Vec::new();
        for slot in snapshot.accounts.iter().filter(|slot| slot.is_open()) {
            let name = slot
                .name()
                .ok_or_else(|| exchange.corrupted("an account name is invalid"))?;
            let ours = slot.owner == exchange.caller || Some(slot.owner) == owner;
            if !(ours && is_worker_account(&name)) {
                others.push(name);
            }
        }
        if !others.is_empty() {
            return Err(Error::MarketInUse {
                address: exchange.address.to_string(),
                accounts: others,
            });
        }
        self.checked_serial.set(Some(serial));
        Ok(())
    }

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
        self.check_not_halted()?;
        self.check_only_stress_accounts()?;
        let name = &exchange.known_currency(currency)?.name;
        let header = exchange.header();
        let slot = exchange.account_slot_in(exchange.table()?, account)?;
        exchange.check_may_trade(slot)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MarketConfig, SegmentAddress};

    /// An exchange of this test's own, removed however the test ends.
    struct Market(SegmentAddress, Exchange);

    impl Drop for Market {
        fn drop(&mut self) {
            let _ = Exchange::remove(&self.0);
        }
    }

    fn market(tag: &str) -> Market {
        let address: SegmentAddress = format!("posix:/shmx-race-{tag}-{}", std::process::id())
            .parse()
            .unwrap();
        let _ = Exchange::remove(&address);
        let exchange = Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap();
        Market(address, exchange)
    }

    #[test]
    fn stress_accounts_are_stress_and_a_number() {
        assert!(is_worker_account("stress-0"));
        assert!(is_worker_account("stress-17"));
        assert_eq!(worker_account(3), "stress-3");
        for name in ["stress-", "stress-x", "stress", "ana", "stress-1a"] {
            assert!(!is_worker_account(name), "{name}");
        }
    }

    #[test]
    fn a_race_stops_at_a_halt_and_at_another_account() {
        let Market(_, exchange) = &market("rights");
        let account = exchange.open_account("stress-0").unwrap();
        let euro = exchange.currency("EURO").unwrap();
        let one = Money::from_hundredths(100);
        let demo = exchange.unlocked_demo().unwrap();
        demo.trade(account, Side::Buy, euro, one).unwrap();

        exchange.halt().unwrap();
        assert!(matches!(exchange.unlocked_demo(), Err(Error::Halted)));
        let before = exchange.status().unwrap();
        assert!(matches!(
            demo.trade(account, Side::Sell, euro, one),
            Err(Error::Halted)
        ));
        exchange.resume().unwrap();
        demo.trade(account, Side::Sell, euro, one).unwrap();

        exchange.open_account("ana").unwrap();
        let refused = |outcome: Result<Fill>| match outcome {
            Err(Error::MarketInUse { accounts, .. }) => assert_eq!(accounts, ["ana"]),
            other => panic!("not refused: {other:?}"),
        };
        refused(demo.trade(account, Side::Buy, euro, one));
        refused(exchange.unlocked_demo().map(|_| unreachable!()));
        // Two unlocked trades, and nothing from the refused ones.
        let after = exchange.status().unwrap();
        assert_eq!(after.unlocked_trades, 2, "{after:?}");
        assert_eq!(before.unlocked_trades, 1, "{before:?}");
    }
}
