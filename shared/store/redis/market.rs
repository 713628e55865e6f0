//! The Redis store as a [`Market`]: each method is the [`RedisMarket`]
//! method of the same name, which its own callers (the lab, the tests) also
//! reach directly.
#![forbid(unsafe_code)]

use std::time::Duration;

use super::RedisMarket;
use crate::domain::{
    AccountId, Audit, Currency, CurrencyId, Fill, History, Portfolio, Rate, Side, Status, TapeRow,
};
use crate::error::Result;
use crate::money::{Money, Price};
use crate::store::address::MarketAddress;
use crate::store::market::{Market, StoreKind};

impl Market for RedisMarket {
    fn address(&self) -> MarketAddress {
        MarketAddress::Redis(RedisMarket::address(self).clone())
    }

    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    /// Every read and commit checks the market's identity itself, so
    /// there is nothing to add.
    fn check_backing(&self) -> Result<()> {
        Ok(())
    }

    fn currencies(&self) -> &[Currency] {
        RedisMarket::currencies(self)
    }

    fn owner_uid(&self) -> Result<Option<u32>> {
        Ok(Some(RedisMarket::owner_uid(self)))
    }

    fn round_end(&self) -> Result<Option<u64>> {
        RedisMarket::round_end(self)
    }

    fn change_seq(&self) -> u32 {
        RedisMarket::change_seq(self).unwrap_or(0)
    }

    fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        RedisMarket::currency_info(self, currency)
    }

    fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        RedisMarket::trade(self, account, side, currency, amount)
    }

    fn status(&self) -> Result<Status> {
        RedisMarket::status(self)
    }

    fn transfer_from_cash(&self, account: AccountId, amount: Money) -> Result<Money> {
        RedisMarket::transfer_from_cash(self, account, amount)
    }

    fn require_owner(&self, action: &str) -> Result<()> {
        RedisMarket::require_owner(self, action)
    }

    fn starting_balance(&self) -> Result<Money> {
        RedisMarket::starting_balance(self)
    }

    fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()> {
        RedisMarket::set_price(self, currency, sell, buy)
    }

    fn tick(&self, quotes: &[(CurrencyId, Price, Price)]) -> Result<()> {
        RedisMarket::tick(self, quotes)
    }

    fn halt(&self) -> Result<()> {
        RedisMarket::halt(self)
    }

    fn resume(&self) -> Result<()> {
        RedisMarket::resume(self)
    }

    fn reset(&self) -> Result<()> {
        RedisMarket::reset(self)
    }

    fn close_account(&self, name: &str) -> Result<Money> {
        RedisMarket::close_account(self, name)
    }

    fn set_round_end(&self, end: Option<u64>) -> Result<()> {
        RedisMarket::set_round_end(self, end)
    }

    fn open_account(&self, name: &str) -> Result<AccountId> {
        RedisMarket::open_account(self, name)
    }

    fn open_account_if_free(&self, name: &str) -> Result<Option<AccountId>> {
        RedisMarket::open_account_if_free(self, name)
    }

    fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>> {
        RedisMarket::open_accounts(self, names)
    }

    fn find_account(&self, name: &str) -> Result<Option<AccountId>> {
        RedisMarket::find_account(self, name)
    }

    fn account_name(&self, account: AccountId) -> Result<String> {
        RedisMarket::account_name(self, account)
    }

    fn rates(&self) -> Result<Vec<Rate>> {
        RedisMarket::rates(self)
    }

    fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        RedisMarket::quote(self, side, currency, amount)
    }

    fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        RedisMarket::portfolio(self, account)
    }

    fn traders(&self) -> Result<Vec<Portfolio>> {
        RedisMarket::traders(self)
    }

    fn tape(&self, limit: usize) -> Result<Vec<TapeRow>> {
        RedisMarket::tape(self, limit)
    }

    fn history(&self, account: AccountId, limit: usize) -> Result<History> {
        RedisMarket::history(self, account, limit)
    }

    fn audit(&self) -> Result<Audit> {
        RedisMarket::audit(self)
    }

    fn wait_for_change(&self, seen: u32, timeout: Duration) {
        RedisMarket::wait_for_change(self, seen, timeout)
    }

    fn wake_watchers(&self) {
        RedisMarket::wake_watchers(self)
    }
}
