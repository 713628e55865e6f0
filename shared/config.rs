//! The market an exchange is seeded with: the course notes' defaults, or a
//! TOML or JSON file given to `exchange-init --config`.
//!
//! Every field is checked before anything is created, and a refusal names
//! the field: `currency[2].sell: at most 4 digits after the point`. The
//! file itself must be a regular file of at most [`MAX_CONFIG_BYTES`] with
//! nothing after its one document: a FIFO, a device or a directory is
//! refused at once (it is opened without blocking, then checked), and
//! memory stays bounded.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::money::{DecimalError, Money, Price};
use crate::names::is_currency_name;
use crate::shm::layout::{MAX_ACCOUNTS, MAX_CURRENCIES};

/// The largest config file read: far more than 16 currencies need.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A validated market, ready to seed a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketConfig {
    /// The exchange's cash reserve.
    pub cash: Money,
    /// What a new account starts with.
    pub starting_balance: Money,
    /// How many accounts the table holds.
    pub accounts: u32,
    pub currencies: Vec<CurrencyConfig>,
}

/// One currency's quote and stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyConfig {
    pub name: String,
    /// What the exchange sells one unit for.
    pub sell: Price,
    /// What the exchange pays for one unit.
    pub buy: Price,
    pub stock: Money,
}

/// The file's shape: decimals are strings, so no float ever touches money.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    cash: Option<String>,
    starting_balance: Option<String>,
    accounts: Option<u32>,
    currency: Option<Vec<CurrencyFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrencyFile {
    name: String,
    sell: String,
    buy: String,
    stock: String,
}

impl Default for MarketConfig {
    /// The course notes' market, with STERLIN's and POUND's quotes put the
    /// right way round (the notes print them crossed).
    fn default() -> Self {
        let currency = |name: &str, sell: i64, buy: i64, stock: i64| CurrencyConfig {
            name: name.to_owned(),
            sell: Price::from_ten_thousandths(sell),
            buy: Price::from_ten_thousandths(buy),
            stock: Money::from_hundredths(stock * 100),
        };
        MarketConfig {
            cash: Money::from_hundredths(1_000_000 * 100),
            starting_balance: Money::from_hundredths(1_000 * 100),
            accounts: 64,
            currencies: vec![
                currency("DOLLAR", 13_7200, 13_4000, 10_000),
                currency("EURO", 19_5000, 18_9200, 20_000),
                currency("STERLIN", 24_5520, 24_5510, 10_000),
                currency("POUND", 33_2500, 33_2400, 5_000),
            ],
        }
    }
}

impl MarketConfig {
    /// Reads a config file: JSON when the name ends in `.json`, else TOML.
    pub fn load(path: &Path) -> Result<MarketConfig> {
        let refuse = |reason: String| Error::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = read_bounded(path).map_err(refuse)?;
        let parsed = if path.extension().is_some_and(|ext| ext == "json") {
            let mut json = serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(&mut json)
                .map_err(|error| json_error(Some(error.path()), error.inner()))
                .and_then(|file| {
                    // Trailing text after the object is refused too.
                    json.end().map(|()| file).map_err(|error| {
                        format!(
                            "{}; only one JSON object may be in the file",
                            json_error(None, &error)
                        )
                    })
                })
        } else {
            serde_path_to_error::deserialize(toml::Deserializer::new(&text))
                .map_err(|error| field_error(error.path(), &one_line(&error.inner().to_string())))
        };
        let file: ConfigFile = parsed.map_err(refuse)?;
        MarketConfig::from_file(file).map_err(refuse)
    }

    fn from_file(file: ConfigFile) -> Result<MarketConfig, String> {
        let defaults = MarketConfig::default();
        let money = |field: &str, text: &str| {
            Money::parse(text).map_err(|error| decimal_error(field, text, error, "1000.00"))
        };
        let price = |field: &str, text: &str| {
            Price::parse(text).map_err(|error| decimal_error(field, text, error, "24.552"))
        };
        let currencies = match file.currency {
            None => defaults.currencies,
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(index, currency)| {
                    let field = |name: &str| format!("currency[{index}].{name}");
                    Ok(CurrencyConfig {
                        name: currency.name.clone(),
                        sell: price(&field("sell"), &currency.sell)?,
                        buy: price(&field("buy"), &currency.buy)?,
                        stock: money(&field("stock"), &currency.stock)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
        };
        let config = MarketConfig {
            cash: match &file.cash {
                Some(text) => money("cash", text)?,
                None => defaults.cash,
            },
            starting_balance: match &file.starting_balance {
                Some(text) => money("starting_balance", text)?,
                None => defaults.starting_balance,
            },
            accounts: file.accounts.unwrap_or(defaults.accounts),
            currencies,
        };
        config.validate()?;
        Ok(config)
    }

    /// The config as the TOML that [`MarketConfig::load`] reads back: what
    /// `exchange-init --print-config` prints.
    pub fn to_toml(&self) -> String {
        let mut text = format!(
            "# An exchange's market: exchange-init --config FILE reads this.\n\
             # Decimals are strings: money and amounts take at most 2 digits after\n\
             # the point, prices at most 4. Each currency's buy price must not be\n\
             # above its sell price.\n\
             cash = \"{}\"\nstarting_balance = \"{}\"\naccounts = {}\n",
            self.cash, self.starting_balance, self.accounts
        );
        for currency in &self.currencies {
            text.push_str(&format!(
                "\n[[currency]]\nname = \"{}\"\nsell = \"{}\"\nbuy = \"{}\"\nstock = \"{}\"\n",
                currency.name, currency.sell, currency.buy, currency.stock
            ));
        }
        text
    }

    /// Checks the rules that no single field can: counts, names, quotes.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_ACCOUNTS).contains(&self.accounts) {
            return Err(format!(
                "accounts: {} is out of range; use 1 to {MAX_ACCOUNTS}",
                self.accounts
            ));
        }
        if self.currencies.is_empty() || self.currencies.len() > MAX_CURRENCIES {
            return Err(format!(
                "currency: {} currencies; use 1 to {MAX_CURRENCIES}",
                self.currencies.len()
            ));
        }
        let mut seen = HashSet::new();
        for (index, currency) in self.currencies.iter().enumerate() {
            let field = format!("currency[{index}]");
            if !is_currency_name(&currency.name) {
                return Err(format!(
                    "{field}.name: {:?} is not a name; use a letter then up to 14 letters, digits or '_'",
                    currency.name
                ));
            }
            if !seen.insert(currency.name.to_ascii_uppercase()) {
                return Err(format!(
                    "{field}.name: {:?} is a duplicate (names ignore case)",
                    currency.name
                ));
            }
            if !currency.sell.ten_thousandths().is_positive()
                || !currency.buy.ten_thousandths().is_positive()
            {
                return Err(format!("{field}: prices must be positive"));
            }
            if currency.buy > currency.sell {
                return Err(format!(
                    "{field}: crossed quote, buy {} is above sell {}, so a round trip would make money; swap them",
                    currency.buy, currency.sell
                ));
            }
        }
        Ok(())
    }
}

/// Why a decimal field was refused, and how to write it, e.g.
/// `currency[0].sell: "1.23456" has 5 digits after the point; use at most 4, like "24.552"`.
fn decimal_error(field: &str, text: &str, error: DecimalError, example: &str) -> String {
    match error {
        DecimalError::TooPrecise { max_digits } => {
            let digits = text
                .split_once('.')
                .map_or(0, |(_, fraction)| fraction.len());
            format!(
                "{field}: {text:?} has {digits} digits after the point; use at most {max_digits}, like {example:?}"
            )
        }
        DecimalError::Malformed => {
            format!("{field}: {text:?} is not a plain decimal; write it like {example:?}")
        }
        DecimalError::TooLarge => format!("{field}: {text:?} is too large; use a smaller amount"),
    }
}

/// A JSON error with its place: the field when serde knows it, else the
/// line and column (a syntax error), never a bare `?`.
fn json_error(path: Option<&serde_path_to_error::Path>, error: &serde_json::Error) -> String {
    let message = error.to_string();
    // serde_json ends its messages with " at line L column C"; say it first.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(message, _)| message);
    let place = format!("line {}, column {}", error.line(), error.column());
    match path {
        Some(path)
            if !error.is_syntax()
                && !error.is_eof()
                && !matches!(path.to_string().as_str(), "." | "?")
                && !path.to_string().contains('?') =>
        {
            field_error(path, &format!("{message} (at {place})"))
        }
        _ => format!("{place}: {message}"),
    }
}

/// The text of a config file, if it is a regular file of at most
/// [`MAX_CONFIG_BYTES`]. Opened with `O_NONBLOCK`, so a FIFO with no writer
/// is refused instead of waited on.
fn read_bounded(path: &Path) -> Result<String, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| error.to_string())?;
    let metadata = file.metadata().map_err(|error| error.to_string())?;
    if !metadata.is_file() {
        return Err(
            "not a regular file (a FIFO, a directory or a device); give a TOML or JSON file".into(),
        );
    }
    let too_big = || format!("larger than {MAX_CONFIG_BYTES} bytes; a config is a few lines");
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| error.to_string())?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

/// Names the field, and says how decimals are written when one was not.
fn field_error(path: &serde_path_to_error::Path, message: &str) -> String {
    let hint = if message.contains("expected a string") {
        "; write decimals as strings, like \"13.72\""
    } else {
        ""
    };
    match path.to_string().as_str() {
        "." => format!("{message}{hint}"),
        field => format!("{field}: {message}{hint}"),
    }
}

/// toml's errors span several lines with a source excerpt; keep the
/// message and the position.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| {
            let after_number = line
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            !line.is_empty()
                && !after_number.starts_with('|')
                && !line.chars().all(|c| c == '^' || c == ' ')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_toml(text: &str) -> Result<MarketConfig, String> {
        MarketConfig::from_file(toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn defaults_are_the_course_market_uncrossed() {
        let config = MarketConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.currencies.len(), 4);
        assert_eq!(config.currencies[2].sell, Price::parse("24.552").unwrap());
        assert_eq!(config.cash, Money::parse("1000000.00").unwrap());
    }

    #[test]
    fn reads_the_documented_example() {
        let config = parse_toml(
            r#"
            cash = "1000000.00"
            starting_balance = "1000.00"
            accounts = 64

            [[currency]]
            name = "DOLLAR"
            sell = "13.72"
            buy = "13.40"
            stock = "10000"
            "#,
        )
        .unwrap();
        assert_eq!(config.currencies.len(), 1);
        assert_eq!(
            config.currencies[0].stock,
            Money::from_hundredths(1_000_000)
        );
    }

    #[test]
    fn the_default_market_round_trips_through_toml() {
        let text = MarketConfig::default().to_toml();
        assert_eq!(parse_toml(&text), Ok(MarketConfig::default()), "{text}");
    }

    #[test]
    fn json_errors_say_where() {
        let error = |text: &str| {
            let mut json = serde_json::Deserializer::from_str(text);
            let parsed: Result<ConfigFile, _> = serde_path_to_error::deserialize(&mut json);
            parsed
                .map(|_| ())
                .map_err(|error| json_error(Some(error.path()), error.inner()))
        };
        let syntax = error("{\n  \"cash\": \"1\",\n  oops\n}").unwrap_err();
        assert!(syntax.starts_with("line 3, column 3: "), "{syntax}");
        assert!(!syntax.contains('?'), "{syntax}");
        let field = error("{\"currency\": [{\"name\": 3}]}").unwrap_err();
        assert!(field.starts_with("currency[0].name: "), "{field}");
        assert!(field.contains("line 1, column"), "{field}");
    }

    #[test]
    fn names_the_bad_field() {
        let currency = |name: &str, sell: &str, buy: &str| {
            format!("[[currency]]\nname = \"{name}\"\nsell = \"{sell}\"\nbuy = \"{buy}\"\nstock = \"1\"\n")
        };
        let crossed = parse_toml(&currency("POUND", "33.24", "33.25")).unwrap_err();
        assert!(crossed.contains("currency[0]: crossed quote"), "{crossed}");
        let duplicate =
            parse_toml(&(currency("EURO", "2", "1") + &currency("euro", "2", "1"))).unwrap_err();
        assert!(duplicate.contains("currency[1].name"), "{duplicate}");
        let decimal = parse_toml(&currency("EURO", "1.23456", "1")).unwrap_err();
        assert!(
            decimal.contains(
                "currency[0].sell: \"1.23456\" has 5 digits after the point; use at most 4"
            ),
            "{decimal}"
        );
        let cash = parse_toml("cash = \"lots\"").unwrap_err();
        assert!(cash.starts_with("cash:"), "{cash}");
        let accounts = parse_toml("accounts = 0").unwrap_err();
        assert!(accounts.starts_with("accounts:"), "{accounts}");
    }
}
