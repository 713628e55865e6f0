//! Property tests of the market rules on a real segment: any sequence of
//! buys and sells by several accounts keeps both conservation laws exactly,
//! and a refused trade changes nothing at all.

mod common;

use proptest::prelude::*;
use shm_exchange::config::CurrencyConfig;
use shm_exchange::domain::{AccountId, Side};
use shm_exchange::store::shm::Exchange;
use shm_exchange::{MarketConfig, Money, Price};

use common::{Backend, Segment};

/// A small, tight market, so that every kind of refusal happens often.
fn tight_market() -> MarketConfig {
    let currency = |name: &str, sell: &str, buy: &str, stock: &str| CurrencyConfig {
        name: name.into(),
        sell: Price::parse(sell).unwrap(),
        buy: Price::parse(buy).unwrap(),
        stock: Money::parse(stock).unwrap(),
    };
    MarketConfig {
        cash: Money::parse("50.00").unwrap(),
        starting_balance: Money::parse("100.00").unwrap(),
        accounts: 4,
        currencies: vec![
            currency("DOLLAR", "13.72", "13.40", "10"),
            currency("STERLIN", "24.552", "24.551", "3"),
            currency("ODD", "0.0007", "0.0003", "1000"),
        ],
    }
}

#[derive(Debug, Clone)]
struct Trade {
    account: usize,
    side: Side,
    currency: usize,
    hundredths: i64,
}

fn trade() -> impl Strategy<Value = Trade> {
    (0..3usize, any::<bool>(), 0..3usize, 1..1_500i64).prop_map(
        |(account, buy, currency, hundredths)| Trade {
            account,
            side: if buy { Side::Buy } else { Side::Sell },
            currency,
            hundredths,
        },
    )
}

/// Every number the market holds, as the accounts and rates see them.
fn state(exchange: &Exchange, accounts: &[AccountId]) -> String {
    let portfolios: Vec<_> = accounts
        .iter()
        .map(|&id| exchange.portfolio(id).unwrap())
        .collect();
    format!(
        "{:?} {:?} {:?}",
        exchange.rates().unwrap(),
        portfolios,
        exchange.audit().unwrap().money
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn conservation_holds_and_refusals_change_nothing(trades in proptest::collection::vec(trade(), 1..120)) {
        let segment = Segment::unique(Backend::Posix);
        let exchange = Exchange::create(&segment.parsed(), &tight_market(), 0o600).unwrap();
        let accounts: Vec<AccountId> = ["a", "b", "c"].iter().map(|name| exchange.open_account(name).unwrap()).collect();
        let currencies: Vec<_> = ["DOLLAR", "sterlin", "Odd"].iter().map(|name| exchange.currency(name).unwrap()).collect();
        for trade in &trades {
            let before = state(&exchange, &accounts);
            let amount = Money::from_hundredths(trade.hundredths);
            match exchange.trade(accounts[trade.account], trade.side, currencies[trade.currency], amount) {
                Ok(receipt) => {
                    prop_assert_eq!(receipt.amount, amount);
                    let price = receipt.price.ten_thousandths();
                    let exact = i128::from(trade.hundredths) * i128::from(price);
                    let total = i128::from(receipt.total.hundredths()) * 10_000;
                    // Rounding always favours the exchange, by less than a cent.
                    match trade.side {
                        Side::Buy => prop_assert!(total >= exact && total - exact < 10_000),
                        Side::Sell => prop_assert!(total <= exact && exact - total < 10_000),
                    }
                }
                Err(error) => {
                    prop_assert!(error.is_refusal(), "{}", error);
                    prop_assert_eq!(state(&exchange, &accounts), before, "refused trade changed the market: {}", error);
                }
            }
            let audit = exchange.audit().unwrap();
            prop_assert!(audit.consistent, "{:?}", audit);
        }
    }
}

/// A sell whose proceeds round down to 0.00 would give currency away: it is
/// refused, names the least amount that pays, and changes nothing.
#[test]
fn a_sell_that_pays_nothing_is_refused() {
    let segment = Segment::unique(Backend::Posix);
    let exchange = Exchange::create(&segment.parsed(), &tight_market(), 0o600).unwrap();
    let account = exchange.open_account("a").unwrap();
    let odd = exchange.currency("ODD").unwrap();
    let units = |text| Money::parse(text).unwrap();
    exchange
        .trade(account, Side::Buy, odd, units("100"))
        .unwrap();
    let before = state(&exchange, &[account]);
    // 33.33 x 0.0003 = 0.009999, which rounds down to nothing.
    let error = exchange
        .trade(account, Side::Sell, odd, units("33.33"))
        .unwrap_err();
    assert!(error.is_refusal(), "{error}");
    assert!(error.to_string().contains("at least 33.34"), "{error}");
    assert_eq!(state(&exchange, &[account]), before);
    let paid = exchange
        .trade(account, Side::Sell, odd, units("33.34"))
        .unwrap();
    assert_eq!(paid.total, units("0.01"));
}
