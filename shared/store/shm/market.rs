//! The segment as a [`Market`]: each method is the [`Exchange`] method of
//! the same name, which the segment's own callers (the lab, the tests) also
//! reach directly.
#![forbid(unsafe_code)]

use std::time::Duration;

use super::Exchange;
use crate::domain::{
    AccountId, Audit, Currency, CurrencyId, Fill, History, Portfolio, Rate, Side, Status, TapeRow,
};
use crate::error::Result;
use crate::money::{Money, Price};
use crate::store::address::MarketAddress;
use crate::store::market::{Market, StoreKind};

impl Market for Exchange {
    fn address(&self) -> MarketAddress {
        MarketAddress::Segment(Exchange::address(self).clone())
    }

    fn kind(&self) -> StoreKind {
        StoreKind::Segment
    }

    fn is_read_only(&self) -> bool {
        Exchange::is_read_only(self)
    }

    /// Asks the operating system (`fstat` or `IPC_STAT`).
    fn check_backing(&self) -> Result<()> {
        Exchange::check_backing(self).map(drop)
    }

    fn currencies(&self) -> &[Currency] {
        Exchange::currencies(self)
    }

    fn owner_uid(&self) -> Result<Option<u32>> {
        Exchange::owner_uid(self)
    }

    fn round_end(&self) -> Result<Option<u64>> {
        Ok(Exchange::round_end(self))
    }

    fn change_seq(&self) -> u32 {
        Exchange::change_seq(self)
    }

    fn settled_change_seq(&self) -> u32 {
        Exchange::settled_change_seq(self)
    }

    fn wait_for_change_promptly(&self, seen: u32, timeout: Duration) {
        Exchange::wait_for_change_promptly(self, seen, timeout)
    }

    fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        Exchange::currency_info(self, currency)
    }

    fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        Exchange::trade(self, account, side, currency, amount)
    }

    fn status(&self) -> Result<Status> {
        Exchange::status(self)
    }

    fn transfer_from_cash(&self, account: AccountId, amount: Money) -> Result<Money> {
        Exchange::transfer_from_cash(self, account, amount)
    }

    fn require_owner(&self, action: &str) -> Result<()> {
        Exchange::require_owner(self, action)
    }

    fn starting_balance(&self) -> Result<Money> {
        Exchange::starting_balance(self)
    }

    fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()> {
        Exchange::set_price(self, currency, sell, buy)
    }

    fn tick(&self, quotes: &[(CurrencyId, Price, Price)]) -> Result<()> {
        Exchange::tick(self, quotes)
    }

    fn halt(&self) -> Result<()> {
        Exchange::halt(self)
    }

    fn resume(&self) -> Result<()> {
        Exchange::resume(self)
    }

    fn reset(&self) -> Result<()> {
        Exchange::reset(self)
    }

    fn close_account(&self, name: &str) -> Result<Money> {
        Exchange::close_account(self, name)
    }

    fn set_round_end(&self, end: Option<u64>) -> Result<()> {
        Exchange::set_round_end(self, end)
    }

    fn open_account(&self, name: &str) -> Result<AccountId> {
        Exchange::open_account(self, name)
    }

    fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>> {
        Exchange::open_account_if_free(self, name)
    }

    fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>> {
        Exchange::open_accounts(self, names)
    }

    fn find_account(&self, name: &str) -> Result<Option<AccountId>> {
        Exchange::find_account(self, name)
    }

    fn account_name(&self, account: AccountId) -> Result<String> {
        Exchange::account_name(self, account)
    }

    fn rates(&self) -> Result<Vec<Rate>> {
        Exchange::rates(self)
    }

    fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        Exchange::quote(self, side, currency, amount)
    }

    fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        Exchange::portfolio(self, account)
    }

    fn traders(&self) -> Result<Vec<Portfolio>> {
        Exchange::traders(self)
    }

    fn tape(&self, limit: usize) -> Result<Vec<TapeRow>> {
        Exchange::tape(self, limit)
    }

    fn history(&self, account: AccountId, limit: usize) -> Result<History> {
        Exchange::history(self, account, limit)
    }

    fn audit(&self) -> Result<Audit> {
        Exchange::audit(self)
    }

    fn wait_for_change(&self, seen: u32, timeout: Duration) {
        Exchange::wait_for_change(self, seen, timeout)
    }

    fn wake_watchers(&self) {
        Exchange::wake_watchers(self)
    }
}
