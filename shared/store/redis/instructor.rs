//! The owner's commands on a Redis market: set a quote, halt and resume
//! trading, reset the market, close an account. As on a segment, each
//! checks first that the caller is the market's owner (the uid recorded at
//! creation) or root, so a refused one changes nothing; each is one commit
//! of the compare-and-set script, with its tape entry, so it is whole or
//! absent whatever happens to the process. The validation is the
//! segment's (`rules::check_quote`); the script only compares and sets.
//!
//! A trade computed from values a command changes (the quote, the halted
//! flag, an account's status) loses its commit and decides again from the
//! new ones: it sees the new quote, or is refused as halted or closed. The
//! owner's commands, which read the tape's sequence number, decide again
//! when a trade took the next one first.
#![forbid(unsafe_code)]

use super::commit::{Kind, Plan, Watch, Writes, META};
use super::keys::{self, account, currency, meta};
use super::tape::{Entry, EntryKind};
use super::{value, CurrencyId, RedisMarket};
use crate::domain::rules::{self, closing_past_limit};
use crate::domain::TAPE_LEN;
use crate::error::{Error, Result};
use crate::money::{Money, Price};

/// Times a command whose keys depend on what it reads (an account's slot,
/// the slots in use) reads them again after they moved, before giving up.
const MAX_REBUILDS: u32 = 50;

impl RedisMarket {
    /// Sets a currency's quote: what the exchange sells one unit for and
    /// what it pays for one. Both positive and `buy <= sell`. Owner only.
    pub fn set_price(&self, currency: CurrencyId, sell: Price, buy: Price) -> Result<()> {
        self.require_owner("set prices")?;
        rules::check_quote(&self.currency_info(currency)?.name, sell, buy)?;
        let mut watch = self.watch();
        let key = watch.key(self.link.keys.currency(currency.0), Kind::Hash);
        self.owner_change(watch, |_, writes| {
            writes.set(key, currency::SELL, sell.ten_thousandths());
            writes.set(key, currency::BUY, buy.ten_thousandths());
            Ok(Some((
                EntryKind::Price {
                    currency: currency.0,
                    sell,
                    buy,
                },
                (),
            )))
        })
        .map(drop)
    }

    /// One tick of the ticker: sets every quote in `quotes` (each checked
    /// as [`RedisMarket::set_price`] checks one) in one commit with ONE
    /// tape entry, so a tick does not push the students' trades off the
    /// tape. Owner only.
    pub fn tick(&self, quotes: &[(CurrencyId, Price, Price)]) -> Result<()> {
        self.require_owner("run the ticker")?;
        for &(currency, sell, buy) in quotes {
            rules::check_quote(&self.currency_info(currency)?.name, sell, buy)?;
        }
        if quotes.is_empty() {
            return Ok(());
        }
        let mut watch = self.watch();
        let keys: Vec<_> = quotes
            .iter()
            .map(|(currency, _, _)| watch.key(self.link.keys.currency(currency.0), Kind::Hash))
            .collect();
        let moves = u32::try_from(quotes.len()).map_err(|_| Error::Overflow)?;
        self.owner_change(watch, |_, writes| {
            for (key, &(_, sell, buy)) in keys.iter().zip(quotes) {
                writes.set(*key, currency::SELL, sell.ten_thousandths());
                writes.set(*key, currency::BUY, buy.ten_thousandths());
            }
            Ok(Some((EntryKind::Tick { moves }, ())))
        })
        .map(drop)
    }

    /// Stops trading: trades are refused with "trading is halted" until
    /// [`RedisMarket::resume`]; reads go on. Owner only.
    pub fn halt(&self) -> Result<()> {
        self.require_owner("halt trading")?;
        self.set_halted(true)
    }

    /// Lets trading go on after [`RedisMarket::halt`]. Owner only.
    pub fn resume(&self) -> Result<()> {
        self.require_owner("resume trading")?;
        self.set_halted(false)
    }

    fn set_halted(&self, halted: bool) -> Result<()> {
        self.owner_change(self.watch(), |_, writes| {
            writes.set(META, meta::HALTED, u8::from(halted));
            let kind = if halted {
                EntryKind::Halt
            } else {
                EntryKind::Resume
            };
            Ok(Some((kind, ())))
        })
        .map(drop)
    }

    /// Puts every open account back to the starting balance with no
    /// holdings, the stock and cash to their initial values, and clears the
    /// tape (the reset's own entry starts it again). Accounts stay open,
    /// closed ones stay closed. Owner only.
    pub fn reset(&self) -> Result<()> {
        self.require_owner("reset the market")?;
        self.rebuilding(|| {
            let names = &self.link.keys;
            let mut watch = self.watch();
            let count_at = watch.field(META, meta::ACCOUNT_COUNT);
            let count = self.slots_used(&self.read(&watch)?, count_at)?;
            let initial_cash_at = watch.field(META, meta::INITIAL_CASH);
            let currencies: Vec<_> = (0..self.currencies.len())
                .map(|index| {
                    let key = watch.key(names.currency(index), Kind::Hash);
                    (key, watch.field(key, currency::INITIAL_STOCK))
                })
                .collect();
            let accounts: Vec<_> = (0..count)
                .map(|index| {
                    let key = watch.key(names.account(index), Kind::Hash);
                    (key, watch.field(key, account::STATUS))
                })
                .collect();
            self.owner_change(watch, |values, writes| {
                if self.slots_used(values, count_at)? != count {
                    return Ok(None);
                }
                writes.set(
                    META,
                    meta::CASH,
                    self.integer(values, initial_cash_at, "the initial cash")?,
                );
                for (key, initial_at) in &currencies {
                    let initial = self.integer(values, *initial_at, "an initial stock")?;
                    writes.set(*key, currency::STOCK, initial);
                }
                let mut open = 0_u32;
                for (key, status_at) in &accounts {
                    match self.check_open(values, *status_at) {
                        Ok(()) => open += 1,
                        Err(Error::AccountClosed) => continue,
                        Err(error) => return Err(error),
                    }
                    writes.set(*key, account::BALANCE, self.starting_balance.hundredths());
                    for currency in 0..self.currencies.len() {
                        writes.set(*key, keys::holding(currency), 0);
                    }
                    writes.set(*key, account::TRADES, 0);
                    writes.set(*key, account::LAST_TRADE, 0);
                }
                writes.set(META, meta::HANDED_OUT, open);
                writes.set(META, meta::OPEN_ACCOUNTS, open);
                let tape = writes.key(names.tape(), Kind::List);
                writes.delete(tape);
                Ok(Some((EntryKind::Reset, ())))
            })
        })
    }

    /// Closes an account: its holdings go back to the stock and its
    /// balance to the cash, its name leaves the index (so it may be opened
    /// afresh) and its hash stays, naming it on the tape until a new
    /// account takes the slot. Returns the balance given back. Owner only.
    pub fn close_account(&self, name: &str) -> Result<Money> {
        self.require_owner("close accounts")?;
        self.rebuilding(|| {
            let names = &self.link.keys;
            let index = self
                .find_account(name)?
                .ok_or_else(|| Error::UnknownAccount {
                    name: name.to_owned(),
                })?;
            let mut watch = self.watch();
            let [cash_at, open_at] =
                [meta::CASH, meta::OPEN_ACCOUNTS].map(|field| watch.field(META, field));
            let accounts = watch.key(names.accounts(), Kind::Hash);
            let indexed_at = watch.field(accounts, name);
            let key = watch.key(names.account(index.index()), Kind::Hash);
            let [status_at, serial_at, balance_at] =
                [account::STATUS, account::SERIAL, account::BALANCE]
                    .map(|field| watch.field(key, field));
            let stocks: Vec<_> = (0..self.currencies.len())
                .map(|currency| {
                    let stock_key = watch.key(names.currency(currency), Kind::Hash);
                    (
                        stock_key,
                        watch.field(stock_key, currency::STOCK),
                        watch.field(key, keys::holding(currency)),
                    )
                })
                .collect();
            self.owner_change(watch, |values, writes| {
                if value(values, indexed_at) != Some(index.index().to_string().as_str()) {
                    return Ok(None);
                }
                self.check_account(values, status_at, serial_at, index)?;
                for ((stock_key, stock_at, holding_at), info) in stocks.iter().zip(&self.currencies)
                {
                    let stock = self
                        .money(values, *stock_at, "a stock")?
                        .checked_add(self.money(values, *holding_at, "a holding")?)
                        .ok_or_else(|| {
                            closing_past_limit(name, &format!("the stock of {}", info.name))
                        })?;
                    writes.set(*stock_key, currency::STOCK, stock.hundredths());
                }
                for currency in 0..self.currencies.len() {
                    writes.set(key, keys::holding(currency), 0);
                }
                let balance = self.money(values, balance_at, "a balance")?;
                let cash = self
                    .money(values, cash_at, "the cash")?
                    .checked_add(balance)
                    .ok_or_else(|| closing_past_limit(name, "the exchange's cash"))?;
                writes.set(META, meta::CASH, cash.hundredths());
                writes.set(key, account::BALANCE, 0);
                writes.set(key, account::STATUS, keys::CLOSED);
                writes.unset(accounts, name);
                let open = self.counter(values, open_at, "the open account count")?;
                writes.set(META, meta::OPEN_ACCOUNTS, open.saturating_sub(1));
                let kind = EntryKind::Close {
                    account: index.index(),
                    serial: index.serial(),
                    name: name.to_owned(),
                    balance,
                };
                Ok(Some((kind, balance)))
            })
        })
    }

    /// Commits one of the owner's changes with its tape entry at the next
    /// sequence number. `build` adds the change's writes from the values
    /// read (the watch's fields and the sequence number), and answers
    /// `None` if the keys it watched no longer fit what it read (the
    /// caller then builds the watch again).
    fn owner_change<T>(
        &self,
        mut watch: Watch,
        mut build: impl FnMut(&[Option<String>], &mut Writes) -> Result<Option<(EntryKind, T)>>,
    ) -> Result<Option<T>> {
        let seq_at = watch.field(META, meta::TRADE_SEQ);
        self.link.optimistic(&watch, |values| {
            self.check_live(values)?;
            let seq = self.next_seq(values, seq_at)?;
            let mut writes = Writes::new(&watch);
            let Some((kind, outcome)) = build(values, &mut writes)? else {
                return Ok(Plan::Done(None));
            };
            writes.set(META, meta::TRADE_SEQ, seq);
            let tape = writes.key(self.link.keys.tape(), Kind::List);
            writes.push(tape, Entry { seq, kind }.to_string(), TAPE_LEN);
            Ok(Plan::Write(writes, Some(outcome)))
        })
    }

    /// Runs `attempt` until it is not told to build its watch again, at
    /// most [`MAX_REBUILDS`] times.
    pub(super) fn rebuilding<T>(
        &self,
        mut attempt: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        for _ in 0..MAX_REBUILDS {
            if let Some(outcome) = attempt()? {
                return Ok(outcome);
            }
        }
        Err(Error::Busy {
            address: self.link.address.to_string(),
        })
    }
}
