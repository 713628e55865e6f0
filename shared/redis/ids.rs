//! The handles a Redis market hands out, shaped like the segment's
//! `market::{AccountId, CurrencyId, Fill}`. Those keep their fields private
//! to `market`, so nothing else can build one; at the merge, give them
//! crate-visible constructors and delete these.
#![forbid(unsafe_code)]

use crate::market::Side;
use crate::money::{Money, Price};

/// An account: its index in the order accounts were opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId(pub(super) u32);

/// A currency: its index in the market's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyId(pub(super) usize);

/// What a trade did; [`super::RedisMarket::receipt`] names the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub side: Side,
    pub currency: CurrencyId,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
    /// The trader's balance afterwards.
    pub balance: Money,
}
