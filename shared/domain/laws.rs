//! The laws every store's views obey, written once: an account valued at
//! the exchange's buy prices, and the two conservation laws of the audit.
//! Every sum is wide, so no legal market makes a view fail.
#![forbid(unsafe_code)]

use super::{Audit, CurrencyAudit, MoneyAudit, Portfolio};
use crate::money::{Money, Price, WideMoney};

impl Portfolio {
    /// An account valued at the exchange's buy prices, each holding given
    /// as (currency, amount, buy price): what every store's `portfolio`,
    /// `traders` and board show. It cannot fail: every value and sum is
    /// wide, so any market a store can hold has its views.
    pub(crate) fn valued(
        name: String,
        balance: Money,
        holdings: impl Iterator<Item = (String, Money, Price)>,
        starting_balance: Money,
    ) -> Portfolio {
        let (holdings, values): (Vec<_>, Vec<_>) = holdings
            .map(|(currency, held, buy)| {
                let value = buy.value_of(held);
                ((currency.clone(), held), (currency, value))
            })
            .unzip();
        let net_worth = values
            .iter()
            .fold(WideMoney::from(balance), |sum, (_, value)| sum.plus(*value));
        Portfolio {
            name,
            balance,
            holdings,
            values,
            net_worth,
            starting_balance,
            profit: net_worth.minus(starting_balance.into()),
        }
    }
}

/// One currency's side of the audit, in hundredths: `held` is the sum of
/// every account's holding, in `i128`.
pub(crate) struct CurrencyCount {
    pub name: String,
    pub stock: i64,
    pub initial: i64,
    pub held: i128,
}

/// The money's side of the audit, in hundredths: `balances` is the sum of
/// every account's balance, in `i128`.
pub(crate) struct MoneyCount {
    pub cash: i64,
    pub balances: i128,
    pub initial_cash: i64,
    pub starting_balance: i64,
    /// Accounts open now.
    pub accounts: u32,
    /// Starting balances handed out since creation or the last reset.
    pub handed_out: u32,
}

impl Audit {
    /// Both conservation laws over one snapshot's counts: the law, written
    /// once for every store. Sums of up to 65,536 `i64` values are `i128`
    /// and cannot overflow, so every state a market can hold gets its
    /// audit.
    pub(crate) fn of(currencies: impl Iterator<Item = CurrencyCount>, money: MoneyCount) -> Audit {
        let wide = i128::from;
        let fit = WideMoney::from_hundredths;
        let mut consistent = true;
        let currencies = currencies
            .map(|count| {
                let discrepancy = wide(count.stock) + count.held - wide(count.initial);
                consistent &= discrepancy == 0;
                CurrencyAudit {
                    name: count.name,
                    stock: fit(wide(count.stock)),
                    held: fit(count.held),
                    initial: fit(wide(count.initial)),
                    discrepancy: fit(discrepancy),
                }
            })
            .collect();
        let starting_balances = wide(money.starting_balance) * i128::from(money.handed_out);
        let discrepancy =
            wide(money.cash) + money.balances - wide(money.initial_cash) - starting_balances;
        consistent &= discrepancy == 0;
        Audit {
            consistent,
            currencies,
            money: MoneyAudit {
                cash: fit(wide(money.cash)),
                balances: fit(money.balances),
                initial_cash: fit(wide(money.initial_cash)),
                accounts: money.accounts,
                accounts_opened: money.handed_out,
                starting_balances: fit(starting_balances),
                discrepancy: fit(discrepancy),
            },
        }
    }
}
