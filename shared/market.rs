//! The market over an attached segment: create, attach, trade, audit,
//! retire. All the market rules of DESIGN.md live here, and no `unsafe`.
//!
//! Every read-modify-write happens under the segment's robust mutex. A
//! trade is made all-or-nothing against a SIGKILL at any instruction with a
//! redo record: the trade's complete outcome is written and published
//! first, then applied, then cleared. A locker that finds the previous
//! owner dead replays a published record before it marks the mutex
//! consistent (LMDB's `mdb_mutex_failed` is the model).

use std::sync::atomic::{fence, Ordering::*};

use serde::Serialize;

use crate::address::SegmentAddress;
use crate::config::MarketConfig;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};
use crate::layout::{
    self, redo, side, state, AccountSlot, Header, RedoRecord, ABI_FINGERPRINT, LAYOUT_VERSION,
    MAGIC, MAX_ACCOUNTS, MAX_CURRENCIES, TAPE_LEN,
};
use crate::lock::MutexGuard;
use crate::money::{Money, Price};
use crate::names::{is_account_name, is_account_name_byte, is_currency_name_byte};
use crate::segment::{self, Backing, Mapping};

/// Which way a trade goes, from the trader's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The trader buys from the exchange at its `sell` price.
    Buy,
    /// The trader sells to the exchange at its `buy` price.
    Sell,
}

impl Side {
    fn code(self) -> u32 {
        match self {
            Side::Buy => side::BUY,
            Side::Sell => side::SELL,
        }
    }
}

/// An account's slot in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId(u32);

/// A currency's slot in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyId(usize);

/// A currency's quote, which never changes after `exchange-init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub name: String,
    pub sell: Price,
    pub buy: Price,
}

/// What a trade did, without allocating: the hot path returns this.
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

/// What a trade did, with the currency named, for people and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
    /// The trader's balance afterwards.
    pub balance: Money,
}

/// One trade on the tape, as `tape` and `history` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TapeRow {
    pub seq: u64,
    pub account: String,
    pub side: Side,
    pub currency: String,
    pub amount: Money,
    pub price: Price,
    pub total: Money,
}

/// One row of `rates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub name: String,
    pub sell: Price,
    pub buy: Price,
    pub stock: Money,
}

/// An account's balance and holdings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Portfolio {
    pub name: String,
    pub balance: Money,
    /// Every currency, in the market's order, including zero holdings.
    #[serde(serialize_with = "holdings_as_map")]
    pub holdings: Vec<(String, Money)>,
    /// What each holding would fetch now, at the exchange's buy price.
    #[serde(serialize_with = "holdings_as_map")]
    pub values: Vec<(String, Money)>,
    /// Balance plus the value of the holdings.
    pub net_worth: Money,
    /// What the account started with.
    pub starting_balance: Money,
    /// `net_worth - starting_balance`: negative is a loss.
    pub profit: Money,
}

fn holdings_as_map<S: serde::Serializer>(
    holdings: &[(String, Money)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(holdings.iter().map(|(name, amount)| (name, amount)))
}

/// The conservation laws, checked against a snapshot taken under the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub consistent: bool,
    pub currencies: Vec<CurrencyAudit>,
    pub money: MoneyAudit,
}

/// `stock + sum of holdings = initial stock`, for one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyAudit {
    pub name: String,
    pub stock: Money,
    pub held: Money,
    pub initial: Money,
    /// `stock + held - initial`: units created (positive) or lost.
    pub discrepancy: Money,
}

/// `cash + sum of balances = initial cash + starting balances handed out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyAudit {
    pub cash: Money,
    pub balances: Money,
    pub initial_cash: Money,
    pub accounts: u32,
    pub starting_balances: Money,
    /// `cash + balances - initial_cash - starting_balances`.
    pub discrepancy: Money,
}

/// What `exchange-init --status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub address: String,
    pub size: u64,
    pub mode: String,
    pub owner_uid: u32,
    /// Other processes attached, where the mechanism counts them (System V).
    pub attached: Option<u64>,
    pub layout_version: u32,
    pub accounts: u32,
    pub account_capacity: u32,
    pub cash: Money,
    pub trades: u64,
    pub currencies: Vec<Rate>,
}

/// A market attached in this process.
pub struct Exchange {
    address: SegmentAddress,
    mapping: Mapping,
    /// Read once at attach and range-checked: later writes to the header by
    /// a corrupting process cannot make an index go out of bounds.
    capacity: u32,
    currencies: Vec<Currency>,
}

/// See [`Exchange::wake_watchers`].
const FORGET_WATCHERS_AFTER: u32 = 1_000;

const POISONED_REASON: &str = "a trader died mid-trade and its trade could not be repaired";

/// Lazily, so the hot path never builds and drops an unused error.
fn overflow() -> Error {
    Error::Overflow
}

fn money(slot: &std::sync::atomic::AtomicI64) -> Money {
    Money::from_hundredths(slot.load(Relaxed))
}

impl Exchange {
    /// Creates and seeds a new exchange. Fails, changing nothing, if one
    /// already exists at the address or the config is invalid.
    pub fn create(address: &SegmentAddress, config: &MarketConfig, mode: u32) -> Result<Exchange> {
        config.validate().map_err(|reason| Error::Config {
            path: "(given)".into(),
            reason,
        })?;
        let mut mapping =
            match Mapping::create(address, layout::segment_size(config.accounts), mode) {
                // A file that is not an exchange (or a symbolic link) is never
                // overwritten, so "pass --force" would be the wrong way out:
                // say what is there instead.
                Err(exists @ Error::AlreadyExists { .. })
                    if matches!(address, SegmentAddress::File { .. }) =>
                {
                    return Err(match Exchange::attach(address) {
                        Err(error @ Error::NotAnExchange { .. }) => error,
                        _ => exists,
                    });
                }
                other => other?,
            };
        let header = mapping.header();
        header.magic.store(MAGIC, Relaxed);
        header.layout_version.store(LAYOUT_VERSION, Relaxed);
        header.abi.store(ABI_FINGERPRINT, Relaxed);
        header
            .total_size
            .store(mapping.mapped_len() as u64, Relaxed);
        header.account_capacity.store(config.accounts, Relaxed);
        header
            .currency_count
            .store(config.currencies.len() as u32, Relaxed);
        header.initial_cash.store(config.cash.hundredths(), Relaxed);
        header.cash.store(config.cash.hundredths(), Relaxed);
        header
            .starting_balance
            .store(config.starting_balance.hundredths(), Relaxed);
        for (slot, currency) in header.currencies.iter().zip(&config.currencies) {
            layout::store_name(&slot.name, &currency.name);
            slot.sell.store(currency.sell.ten_thousandths(), Relaxed);
            slot.buy.store(currency.buy.ten_thousandths(), Relaxed);
            slot.stock.store(currency.stock.hundredths(), Relaxed);
            slot.initial_stock
                .store(currency.stock.hundredths(), Relaxed);
        }
        mapping.initialize_lock(address)?;
        // Publish: everything above happens-before any attacher's Acquire
        // load that sees READY.
        mapping.header().state.store(state::READY, Release);
        mapping.share(address)?;
        Exchange::validate(address.clone(), mapping)
    }

    /// Replaces whatever exchange is at the address with a new one. The old
    /// one is retired first, so traders attached to it stop.
    pub fn replace(address: &SegmentAddress, config: &MarketConfig, mode: u32) -> Result<Exchange> {
        match Exchange::create(address, config, mode) {
            Err(Error::AlreadyExists { .. }) => {
                Exchange::remove(address)?;
                Exchange::create(address, config, mode)
            }
            other => other,
        }
    }

    /// Retires the exchange, so attached traders stop, then removes its
    /// name. A file that is not an exchange is never removed.
    pub fn remove(address: &SegmentAddress) -> Result<()> {
        match Exchange::attach(address) {
            Ok(exchange) => exchange.retire()?,
            // A damaged or outdated exchange is still ours to remove; an
            // object that is no exchange at all (another program's
            // segment, a stray file) is never touched.
            Err(Error::Corrupted { .. } | Error::Incompatible { .. } | Error::Retired { .. }) => {}
            Err(error) => return Err(error),
        }
        segment::remove(address)
    }

    /// Attaches to an existing exchange, checking everything in its header
    /// before trusting any of it.
    pub fn attach(address: &SegmentAddress) -> Result<Exchange> {
        let mut mapping = Mapping::open(address)?;
        if mapping.is_sole_opener() {
            // Nobody else has this file open, so its lock word may name a
            // process from before a reboot. Repair it while alone.
            Exchange::check_header(address, &mapping)?;
            recover_unattended(address, &mut mapping)?;
            mapping.share(address)?;
        }
        Exchange::validate(address.clone(), mapping)
    }

    fn validate(address: SegmentAddress, mapping: Mapping) -> Result<Exchange> {
        let (capacity, currency_count) = Exchange::check_header(&address, &mapping)?;
        let corrupted = |reason: String| Error::Corrupted {
            address: address.to_string(),
            reason,
        };
        let mut currencies = Vec::with_capacity(currency_count);
        for (index, slot) in mapping.header().currencies[..currency_count]
            .iter()
            .enumerate()
        {
            let name = layout::load_name(&slot.name, is_currency_name_byte)
                .ok_or_else(|| corrupted(format!("currency {index} has no valid name")))?;
            let sell = Price::from_ten_thousandths(slot.sell.load(Relaxed));
            let buy = Price::from_ten_thousandths(slot.buy.load(Relaxed));
            if buy.ten_thousandths() <= 0 || buy > sell {
                return Err(corrupted(format!(
                    "{name} has the quote sell {sell} buy {buy}"
                )));
            }
            currencies.push(Currency { name, sell, buy });
        }
        Ok(Exchange {
            address,
            mapping,
            capacity,
            currencies,
        })
    }

    /// Checks identity, version, ABI, state and sizes; returns the account
    /// capacity and currency count, both in range.
    fn check_header(address: &SegmentAddress, mapping: &Mapping) -> Result<(u32, usize)> {
        let header = mapping.header();
        let text = || address.to_string();
        if header.magic.load(Relaxed) != MAGIC {
            return Err(Error::NotAnExchange {
                address: text(),
                reason: "no exchange magic number at its start".into(),
            });
        }
        let version = header.layout_version.load(Relaxed);
        if version != LAYOUT_VERSION {
            return Err(Error::Incompatible {
                address: text(),
                reason: format!("layout version {version}, this build reads {LAYOUT_VERSION}"),
            });
        }
        if header.abi.load(Relaxed) != ABI_FINGERPRINT {
            return Err(Error::Incompatible {
                address: text(),
                reason: "another mutex size, pointer width or byte order".into(),
            });
        }
        let corrupted = |reason: String| Error::Corrupted {
            address: text(),
            reason,
        };
        match header.state.load(Acquire) {
            state::READY => {}
            state::RETIRED => return Err(Error::Retired { address: text() }),
            state::POISONED => return Err(corrupted(POISONED_REASON.into())),
            state::INITIALIZING => {
                return Err(corrupted("its initialization never finished".into()))
            }
            other => return Err(corrupted(format!("unknown state {other:#x}"))),
        }
        let declared = header.total_size.load(Relaxed);
        let real = mapping.mapped_len() as u64;
        if declared != real {
            return Err(corrupted(format!(
                "its header says {declared} bytes but it has {real}"
            )));
        }
        let capacity = header.account_capacity.load(Relaxed);
        if !(1..=MAX_ACCOUNTS).contains(&capacity)
            || layout::segment_size(capacity) as u64 != declared
        {
            return Err(corrupted(format!(
                "an account capacity of {capacity} does not fit {declared} bytes"
            )));
        }
        let currency_count = header.currency_count.load(Relaxed) as usize;
        if !(1..=MAX_CURRENCIES).contains(&currency_count) {
            return Err(corrupted(format!("{currency_count} currencies")));
        }
        if header.account_count.load(Relaxed) > capacity {
            return Err(corrupted("more accounts than slots".into()));
        }
        Ok((capacity, currency_count))
    }

    /// The address this exchange was attached at.
    pub fn address(&self) -> &SegmentAddress {
        &self.address
    }

    /// The currencies, in the market's order.
    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    fn header(&self) -> &Header {
        self.mapping.header()
    }

    fn corrupted(&self, reason: impl Into<String>) -> Error {
        Error::Corrupted {
            address: self.address.to_string(),
            reason: reason.into(),
        }
    }

    /// The account slots in use, after a range check of the count.
    #[inline]
    fn accounts_in_use(&self) -> Result<&[AccountSlot]> {
        let table = self
            .mapping
            .accounts(self.capacity)
            .ok_or_else(|| self.corrupted("the account table is cut short"))?;
        let count = self.header().account_count.load(Acquire);
        table
            .get(..count as usize)
            .ok_or_else(|| self.corrupted(format!("{count} accounts in {} slots", self.capacity)))
    }

    /// Finds a currency by name, ignoring case.
    pub fn currency(&self, name: &str) -> Result<CurrencyId> {
        self.currencies
            .iter()
            .position(|currency| currency.name.eq_ignore_ascii_case(name))
            .map(CurrencyId)
            .ok_or_else(|| Error::UnknownCurrency {
                name: name.to_owned(),
                suggestion: crate::suggest::closest(
                    name,
                    self.currencies.iter().map(|c| c.name.as_str()),
                )
                .map(str::to_owned),
            })
    }

    /// Takes the lock. If its previous owner died, replays its pending
    /// trade first, and only then marks the lock consistent.
    #[inline]
    fn lock(&self) -> Result<MutexGuard<'_>> {
        let guard = self.lock_any_state()?;
        match self.header().state.load(Acquire) {
            state::READY => Ok(guard),
            state::RETIRED => Err(Error::Retired {
                address: self.address.to_string(),
            }),
            state::POISONED => Err(self.corrupted(POISONED_REASON)),
            other => Err(self.corrupted(format!("unknown state {other:#x}"))),
        }
    }

    /// Takes the lock whatever state the exchange is in, repairing after a
    /// dead owner. A repair that fails (a redo record naming slots that do
    /// not exist) poisons the exchange instead of leaving the mutex
    /// unrecoverable: nobody trades on it, but `exchange-init --force` or
    /// `--remove` can still lock it to retire it.
    #[inline]
    fn lock_any_state(&self) -> Result<MutexGuard<'_>> {
        let header = self.header();
        let mut guard = header.lock.mutex.lock().map_err(|error| Error::Lock {
            address: self.address.to_string(),
            reason: error.to_string(),
        })?;
        if guard.owner_died() {
            let repaired = replay_redo(
                header,
                self.mapping.accounts(self.capacity),
                self.currencies.len(),
            );
            if repaired.is_err() {
                header.state.store(state::POISONED, Release);
            }
            guard
                .mark_consistent()
                .map_err(|error| Error::os(&self.address, "pthread_mutex_consistent", error))?;
            repaired.map_err(|reason| self.corrupted(reason))?;
        }
        Ok(guard)
    }

    /// Checks with the operating system that the segment is still there
    /// and still whole. The trader calls this before every command, so a
    /// segment removed behind its back, or shrunk, is reported instead of
    /// traded on (or faulted on).
    pub fn check_backing(&self) -> Result<Backing> {
        let backing = self.mapping.backing(&self.address)?;
        if backing.removed {
            return Err(Error::Retired {
                address: self.address.to_string(),
            });
        }
        if backing.size < self.mapping.mapped_len() as u64 {
            return Err(self.corrupted(format!(
                "it shrank to {} bytes from {} while attached",
                backing.size,
                self.mapping.mapped_len()
            )));
        }
        Ok(backing)
    }

    /// Opens the named account, or finds it if it already exists.
    pub fn open_account(&self, name: &str) -> Result<AccountId> {
        if !is_account_name(name) {
            return Err(Error::AccountName {
                name: name.to_owned(),
            });
        }
        let _guard = self.lock()?;
        let accounts = self.accounts_in_use()?;
        if let Some(index) = accounts
            .iter()
            .position(|slot| layout::name_equals(&slot.name, name, false))
        {
            return Ok(AccountId(index as u32));
        }
        let table = self.mapping.accounts(self.capacity).unwrap_or_default();
        let Some(slot) = table.get(accounts.len()) else {
            return Err(Error::AccountTableFull {
                capacity: self.capacity,
            });
        };
        // Fill the free slot, then publish it by bumping the count. A death
        // before the bump leaves the slot unused, to be overwritten.
        layout::store_name(&slot.name, name);
        slot.balance
            .store(self.header().starting_balance.load(Relaxed), Relaxed);
        for holding in &slot.holdings {
            holding.store(0, Relaxed);
        }
        let header = self.header();
        header
            .account_count
            .store(accounts.len() as u32 + 1, Release);
        header.change_seq.fetch_add(1, Release);
        Ok(AccountId(accounts.len() as u32))
    }

    /// Opens (or finds) every named account, or none of them: fails with
    /// [`Error::AccountTableFull`] before opening any if they do not all fit.
    pub fn open_accounts(&self, names: &[String]) -> Result<Vec<AccountId>> {
        if let Some(name) = names.iter().find(|name| !is_account_name(name)) {
            return Err(Error::AccountName { name: name.clone() });
        }
        {
            let _guard = self.lock()?;
            let accounts = self.accounts_in_use()?;
            let missing = names
                .iter()
                .filter(|name| {
                    !accounts
                        .iter()
                        .any(|slot| layout::name_equals(&slot.name, name, false))
                })
                .count();
            if accounts.len() + missing > self.capacity as usize {
                return Err(Error::AccountTableFull {
                    capacity: self.capacity,
                });
            }
        }
        names.iter().map(|name| self.open_account(name)).collect()
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String> {
        let _guard = self.lock()?;
        let slot = self.account_slot(account)?;
        layout::load_name(&slot.name, is_account_name_byte)
            .ok_or_else(|| self.corrupted("an account name is invalid"))
    }

    #[inline]
    fn account_slot(&self, account: AccountId) -> Result<&AccountSlot> {
        self.accounts_in_use()?
            .get(account.0 as usize)
            .ok_or_else(|| self.corrupted("an account vanished"))
    }

    /// Buys or sells `amount` of a currency for an account, all or nothing.
    pub fn trade(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        if !amount.is_positive() {
            return Err(Error::Amount {
                text: amount.to_string(),
                reason: "it must be positive".into(),
            });
        }
        let quote = self.known_currency(currency)?;
        let guard = self.lock()?;
        crash_point(Step::AfterLock);
        let header = self.header();
        let slot = self.account_slot(account)?;
        let currency_slot = &header.currencies[currency.0];
        let stock = money(&currency_slot.stock);
        let holding = money(&slot.holdings[currency.0]);
        let balance = money(&slot.balance);
        let cash = money(&header.cash);
        let (price, outcome) = match side {
            Side::Buy => {
                let cost = quote.sell.cost_of(amount).ok_or_else(overflow)?;
                if balance < cost {
                    return Err(Error::InsufficientBalance { cost, balance });
                }
                if stock < amount {
                    return Err(Error::InsufficientStock {
                        currency: quote.name.clone(),
                        amount,
                        stock,
                    });
                }
                let outcome = (|| {
                    Some(Outcome {
                        stock: stock.checked_sub(amount)?,
                        holding: holding.checked_add(amount)?,
                        balance: balance.checked_sub(cost)?,
                        cash: cash.checked_add(cost)?,
                        total: cost,
                    })
                })();
                (quote.sell, outcome)
            }
            Side::Sell => {
                let proceeds = quote.buy.proceeds_of(amount).ok_or_else(overflow)?;
                if holding < amount {
                    return Err(Error::InsufficientHolding {
                        currency: quote.name.clone(),
                        amount,
                        holding,
                    });
                }
                if cash < proceeds {
                    return Err(Error::InsufficientCash { proceeds, cash });
                }
                let outcome = (|| {
                    Some(Outcome {
                        stock: stock.checked_add(amount)?,
                        holding: holding.checked_sub(amount)?,
                        balance: balance.checked_add(proceeds)?,
                        cash: cash.checked_sub(proceeds)?,
                        total: proceeds,
                    })
                })();
                (quote.buy, outcome)
            }
        };
        let outcome = outcome.ok_or_else(overflow)?;
        let seq = header
            .trade_seq
            .load(Relaxed)
            .checked_add(1)
            .ok_or_else(overflow)?;

        // 0. Write the tape entry. Until `trade_seq` reaches `seq`, readers
        //    skip this slot, so a death here loses nothing but the oldest
        //    entry, which this trade was about to overwrite anyway.
        let entry = &header.tape[((seq - 1) % TAPE_LEN as u64) as usize];
        entry.seq.store(seq, Relaxed);
        entry.account.store(account.0, Relaxed);
        entry.side.store(side.code(), Relaxed);
        entry.currency.store(currency.0 as u32, Relaxed);
        entry.amount.store(amount.hundredths(), Relaxed);
        entry.price.store(price.ten_thousandths(), Relaxed);
        entry.total.store(outcome.total.hundredths(), Relaxed);
        // 1. Write the whole outcome into the redo record, then publish it.
        let record = &header.redo;
        let values = Applied {
            currency: currency.0,
            stock: outcome.stock.hundredths(),
            holding: outcome.holding.hundredths(),
            balance: outcome.balance.hundredths(),
            cash: outcome.cash.hundredths(),
            seq,
        };
        record.currency.store(currency.0 as u32, Relaxed);
        record.account.store(account.0, Relaxed);
        record.stock.store(values.stock, Relaxed);
        record.holding.store(values.holding, Relaxed);
        record.balance.store(values.balance, Relaxed);
        record.cash.store(values.cash, Relaxed);
        record.seq.store(seq, Relaxed);
        record.state.store(redo::PENDING, Release);
        // No store below may be moved above the publication.
        fence(Release);
        crash_point(Step::AfterRedo);
        // 2. Apply it. 3. Clear it.
        apply(header, slot, &values, true);
        record.state.store(redo::IDLE, Release);
        // Every writer of the counter holds the lock: no atomic add needed.
        header
            .change_seq
            .store(header.change_seq.load(Relaxed).wrapping_add(1), Release);
        crash_point(Step::BeforeUnlock);
        drop(guard);
        self.wake_watchers();
        Ok(Fill {
            side,
            currency,
            amount,
            price,
            total: outcome.total,
            balance: outcome.balance,
        })
    }

    /// A currency's name and quote.
    pub fn currency_info(&self, currency: CurrencyId) -> Result<&Currency> {
        self.known_currency(currency)
    }

    /// Looks up an id, which another exchange with more currencies may
    /// have made.
    #[inline]
    fn known_currency(&self, currency: CurrencyId) -> Result<&Currency> {
        self.currencies
            .get(currency.0)
            .ok_or_else(|| self.corrupted("no such currency slot"))
    }

    /// Names the currency of a [`Fill`].
    pub fn receipt(&self, fill: Fill) -> Receipt {
        Receipt {
            side: fill.side,
            currency: self.currencies[fill.currency.0].name.clone(),
            amount: fill.amount,
            price: fill.price,
            total: fill.total,
            balance: fill.balance,
        }
    }

    /// **For the race demonstration only** (`trader stress --unlocked`):
    /// the textbook trade, a read-modify-write of the shared stock and cash
    /// with no lock and no redo record, and a yield between the read and
    /// the write so that the lost updates show on every run. Never use it
    /// to trade for real: the audit will show money and units lost.
    pub fn trade_unlocked_for_demo(
        &self,
        account: AccountId,
        side: Side,
        currency: CurrencyId,
        amount: Money,
    ) -> Result<Fill> {
        let quote = self.known_currency(currency)?;
        let header = self.header();
        let slot = self.account_slot(account)?;
        let currency_slot = &header.currencies[currency.0];
        let stock = currency_slot.stock.load(Relaxed);
        let cash = header.cash.load(Relaxed);
        let holding = slot.holdings[currency.0].load(Relaxed);
        let balance = slot.balance.load(Relaxed);
        let amount_units = amount.hundredths();
        let (price, total, signed) = match side {
            Side::Buy => {
                let cost = quote.sell.cost_of(amount).ok_or_else(overflow)?;
                if balance < cost.hundredths() || stock < amount_units {
                    return Err(Error::InsufficientBalance {
                        cost,
                        balance: Money::from_hundredths(balance),
                    });
                }
                (quote.sell, cost, 1)
            }
            Side::Sell => {
                let proceeds = quote.buy.proceeds_of(amount).ok_or_else(overflow)?;
                if holding < amount_units || cash < proceeds.hundredths() {
                    return Err(Error::InsufficientHolding {
                        currency: quote.name.clone(),
                        amount,
                        holding: Money::from_hundredths(holding),
                    });
                }
                (quote.buy, proceeds, -1)
            }
        };
        // The race window: another process reads the same stock and cash
        // here, and one of the two writes below is lost.
        std::thread::yield_now();
        let balance = balance - signed * total.hundredths();
        currency_slot
            .stock
            .store(stock - signed * amount_units, Relaxed);
        slot.holdings[currency.0].store(holding + signed * amount_units, Relaxed);
        slot.balance.store(balance, Relaxed);
        header
            .cash
            .store(cash + signed * total.hundredths(), Relaxed);
        Ok(Fill {
            side,
            currency,
            amount,
            price,
            total,
            balance: Money::from_hundredths(balance),
        })
    }

    /// The last `limit` trades, oldest first; only `account`'s if given.
    /// Entries that fail a check (overwritten, or naming a slot that does
    /// not exist) are skipped.
    pub fn tape(&self, limit: usize, account: Option<AccountId>) -> Result<Vec<TapeRow>> {
        let _guard = self.lock()?;
        let header = self.header();
        let accounts = self.accounts_in_use()?;
        let last = header.trade_seq.load(Relaxed);
        let first = last.saturating_sub(TAPE_LEN as u64 - 1).max(1);
        let mut rows = Vec::new();
        for seq in (first..=last).rev() {
            if rows.len() >= limit {
                break;
            }
            let entry = &header.tape[((seq - 1) % TAPE_LEN as u64) as usize];
            let account_index = entry.account.load(Relaxed);
            if entry.seq.load(Relaxed) != seq || account.is_some_and(|id| id.0 != account_index) {
                continue;
            }
            let side = match entry.side.load(Relaxed) {
                side::BUY => Side::Buy,
                side::SELL => Side::Sell,
                _ => continue,
            };
            let (Some(slot), Some(currency)) = (
                accounts.get(account_index as usize),
                self.currencies.get(entry.currency.load(Relaxed) as usize),
            ) else {
                continue;
            };
            let Some(name) = layout::load_name(&slot.name, is_account_name_byte) else {
                continue;
            };
            rows.push(TapeRow {
                seq,
                account: name,
                side,
                currency: currency.name.clone(),
                amount: money(&entry.amount),
                price: Price::from_ten_thousandths(entry.price.load(Relaxed)),
                total: money(&entry.total),
            });
        }
        rows.reverse();
        Ok(rows)
    }

    /// The change counter, bumped after every committed change.
    pub fn change_seq(&self) -> u32 {
        self.header().change_seq.load(Acquire)
    }

    /// Sleeps until the change counter moves past `seen`, or `timeout`
    /// passes, without holding the lock or spinning: a futex on the
    /// counter, which traders wake after each change while someone watches.
    pub fn wait_for_change(&self, seen: u32, timeout: std::time::Duration) {
        let header = self.header();
        header.watchers.fetch_add(1, AcqRel);
        crate::lock::futex_wait(&header.change_seq, seen, timeout);
        // Saturating: a trader may have reset the hint meanwhile.
        let _ = header
            .watchers
            .fetch_update(AcqRel, Acquire, |count| count.checked_sub(1));
    }

    /// Wakes every process sleeping in [`Exchange::wait_for_change`].
    ///
    /// `watchers` is a hint that a watcher killed mid-wait leaves raised,
    /// which would make every trade pay for a system call forever. So after
    /// [`FORGET_WATCHERS_AFTER`] wake-ups in a row that found nobody asleep,
    /// the hint is cleared; a live watcher raises it again before its next
    /// sleep.
    pub fn wake_watchers(&self) {
        let header = self.header();
        if header.watchers.load(Acquire) == 0 {
            return;
        }
        if crate::lock::futex_wake_all(&header.change_seq) > 0 {
            header.idle_wakes.store(0, Relaxed);
        } else if header.idle_wakes.fetch_add(1, Relaxed) >= FORGET_WATCHERS_AFTER {
            header.watchers.store(0, Release);
            header.idle_wakes.store(0, Relaxed);
        }
    }

    /// The quotes and the exchange's stock.
    pub fn rates(&self) -> Result<Vec<Rate>> {
        let _guard = self.lock()?;
        Ok(self.rates_locked())
    }

    fn rates_locked(&self) -> Vec<Rate> {
        self.currencies
            .iter()
            .zip(&self.header().currencies)
            .map(|(currency, slot)| Rate {
                name: currency.name.clone(),
                sell: currency.sell,
                buy: currency.buy,
                stock: money(&slot.stock),
            })
            .collect()
    }

    /// An account's balance and holdings.
    pub fn portfolio(&self, account: AccountId) -> Result<Portfolio> {
        let _guard = self.lock()?;
        self.portfolio_locked(self.account_slot(account)?)
    }

    /// Every account's portfolio, in the order they were opened.
    pub fn traders(&self) -> Result<Vec<Portfolio>> {
        let _guard = self.lock()?;
        self.accounts_in_use()?
            .iter()
            .map(|slot| self.portfolio_locked(slot))
            .collect()
    }

    fn portfolio_locked(&self, slot: &AccountSlot) -> Result<Portfolio> {
        let balance = money(&slot.balance);
        let holdings: Vec<(String, Money)> = self
            .currencies
            .iter()
            .zip(&slot.holdings)
            .map(|(currency, holding)| (currency.name.clone(), money(holding)))
            .collect();
        let values = self
            .currencies
            .iter()
            .zip(&holdings)
            .map(|(currency, (name, amount))| {
                let value = currency.buy.proceeds_of(*amount).ok_or_else(overflow)?;
                Ok((name.clone(), value))
            })
            .collect::<Result<Vec<_>>>()?;
        let net_worth = values
            .iter()
            .try_fold(balance, |sum, (_, value)| sum.checked_add(*value))
            .ok_or_else(overflow)?;
        let starting_balance = money(&self.header().starting_balance);
        Ok(Portfolio {
            name: layout::load_name(&slot.name, is_account_name_byte)
                .ok_or_else(|| self.corrupted("an account name is invalid"))?,
            balance,
            holdings,
            values,
            net_worth,
            starting_balance,
            profit: net_worth
                .checked_sub(starting_balance)
                .ok_or_else(overflow)?,
        })
    }

    /// The price and total of a trade now, without trading.
    pub fn quote(&self, side: Side, currency: CurrencyId, amount: Money) -> Result<(Price, Money)> {
        let quote = self.known_currency(currency)?;
        let (price, total) = match side {
            Side::Buy => (quote.sell, quote.sell.cost_of(amount)),
            Side::Sell => (quote.buy, quote.buy.proceeds_of(amount)),
        };
        Ok((price, total.ok_or_else(overflow)?))
    }

    /// Checks both conservation laws on a snapshot taken under the lock.
    pub fn audit(&self) -> Result<Audit> {
        let guard = self.lock()?;
        let header = self.header();
        let accounts = self.accounts_in_use()?;
        let sum = |values: &mut dyn Iterator<Item = i64>| values.map(i128::from).sum::<i128>();
        let currency_rows: Vec<(String, i128, i128, i128)> = self
            .currencies
            .iter()
            .enumerate()
            .map(|(index, currency)| {
                let slot = &header.currencies[index];
                let held = sum(&mut accounts
                    .iter()
                    .map(|account| account.holdings[index].load(Relaxed)));
                (
                    currency.name.clone(),
                    i128::from(slot.stock.load(Relaxed)),
                    held,
                    i128::from(slot.initial_stock.load(Relaxed)),
                )
            })
            .collect();
        let cash = i128::from(header.cash.load(Relaxed));
        let balances = sum(&mut accounts.iter().map(|account| account.balance.load(Relaxed)));
        let initial_cash = i128::from(header.initial_cash.load(Relaxed));
        let starting_balances =
            i128::from(header.starting_balance.load(Relaxed)) * accounts.len() as i128;
        drop(guard);

        let fit = |value: i128| {
            i64::try_from(value)
                .map(Money::from_hundredths)
                .map_err(|_| Error::Overflow)
        };
        let mut consistent = true;
        let mut currencies = Vec::with_capacity(currency_rows.len());
        for (name, stock, held, initial) in currency_rows {
            let discrepancy = stock + held - initial;
            consistent &= discrepancy == 0;
            currencies.push(CurrencyAudit {
                name,
                stock: fit(stock)?,
                held: fit(held)?,
                initial: fit(initial)?,
                discrepancy: fit(discrepancy)?,
            });
        }
        let discrepancy = cash + balances - initial_cash - starting_balances;
        consistent &= discrepancy == 0;
        Ok(Audit {
            consistent,
            currencies,
            money: MoneyAudit {
                cash: fit(cash)?,
                balances: fit(balances)?,
                initial_cash: fit(initial_cash)?,
                accounts: accounts.len() as u32,
                starting_balances: fit(starting_balances)?,
                discrepancy: fit(discrepancy)?,
            },
        })
    }

    /// The header, sizes and what the operating system says.
    pub fn status(&self) -> Result<Status> {
        let backing = self.check_backing()?;
        let _guard = self.lock()?;
        let header = self.header();
        Ok(Status {
            address: self.address.to_string(),
            size: backing.size,
            mode: format!("{:04o}", backing.mode),
            owner_uid: backing.uid,
            // Not counting this process, which is attached to ask.
            attached: backing.attached.map(|count| count.saturating_sub(1)),
            layout_version: header.layout_version.load(Relaxed),
            accounts: self.accounts_in_use()?.len() as u32,
            account_capacity: self.capacity,
            cash: money(&header.cash),
            trades: header.trade_seq.load(Relaxed),
            currencies: self.rates_locked(),
        })
    }

    /// Marks the exchange retired, so every attached trader stops at its
    /// next command instead of trading on an orphan.
    fn retire(&self) -> Result<()> {
        let header = self.header();
        let guard = self.lock_any_state();
        // Even when the lock cannot be had (held by a stopped process, say),
        // mark the exchange retired: nobody may trade on it once its name is
        // gone, and a locker checks the state after locking.
        header.state.store(state::RETIRED, Release);
        header.change_seq.fetch_add(1, Release);
        drop(guard);
        crate::lock::futex_wake_all(&header.change_seq);
        Ok(())
    }
}

/// A trade's new values, computed before anything is written.
struct Outcome {
    stock: Money,
    holding: Money,
    balance: Money,
    cash: Money,
    total: Money,
}

/// A trade's new absolute values: what the redo record holds.
struct Applied {
    currency: usize,
    stock: i64,
    holding: i64,
    balance: i64,
    cash: i64,
    seq: u64,
}

impl Applied {
    fn load(record: &RedoRecord) -> Applied {
        Applied {
            currency: record.currency.load(Relaxed) as usize,
            stock: record.stock.load(Relaxed),
            holding: record.holding.load(Relaxed),
            balance: record.balance.load(Relaxed),
            cash: record.cash.load(Relaxed),
            seq: record.seq.load(Relaxed),
        }
    }
}

/// Stores a trade's new values. Every value is absolute, so applying them
/// again after a crash part-way through is harmless.
fn apply(header: &Header, account: &AccountSlot, values: &Applied, live: bool) {
    let step = |step: Step| {
        if live {
            crash_point(step);
        }
    };
    header.currencies[values.currency]
        .stock
        .store(values.stock, Relaxed);
    step(Step::AfterStock);
    account.holdings[values.currency].store(values.holding, Relaxed);
    step(Step::AfterHolding);
    account.balance.store(values.balance, Relaxed);
    step(Step::AfterBalance);
    header.cash.store(values.cash, Relaxed);
    step(Step::AfterCash);
    header.trade_seq.store(values.seq, Relaxed);
}

/// Called with the lock held after its owner died: finishes the dead
/// owner's trade if it had published one. The record's indices are checked
/// first; a record that fails is reported, and the mutex is left
/// unrecoverable rather than "repaired" with garbage.
fn replay_redo(
    header: &Header,
    accounts: Option<&[AccountSlot]>,
    currency_count: usize,
) -> Result<(), String> {
    let record = &header.redo;
    match record.state.load(Acquire) {
        redo::IDLE => return Ok(()),
        redo::PENDING => {}
        other => return Err(format!("the redo record has the unknown state {other:#x}")),
    }
    let currency = record.currency.load(Relaxed) as usize;
    let account = record.account.load(Relaxed) as usize;
    let count = header.account_count.load(Acquire) as usize;
    let slot = accounts
        .and_then(|table| table.get(..count))
        .and_then(|in_use| in_use.get(account));
    match slot {
        Some(slot) if currency < currency_count => {
            apply(header, slot, &Applied::load(record), false);
            fence(Release);
            record.state.store(redo::IDLE, Release);
            header.change_seq.fetch_add(1, Release);
            Ok(())
        }
        _ => Err(format!(
            "the pending redo record names currency {currency} and account {account}, which do not exist"
        )),
    }
}

/// Repairs a file segment that no other process has open: its lock word may
/// belong to a process from before a reboot, which the kernel will never
/// mark dead. Replays any pending trade, then re-initializes the lock.
fn recover_unattended(address: &SegmentAddress, mapping: &mut Mapping) -> Result<()> {
    let header = mapping.header();
    let capacity = header.account_capacity.load(Relaxed);
    let currency_count = header.currency_count.load(Relaxed) as usize;
    replay_redo(header, mapping.accounts(capacity), currency_count).map_err(|reason| {
        Error::Corrupted {
            address: address.to_string(),
            reason,
        }
    })?;
    mapping.initialize_lock(address)
}
