//! The bot protocol's own replies: `hello`, which tells a program what it
//! is talking to before it trades, and `wait`, which lets it sleep until
//! the market moves instead of polling. The protocol itself (JSON lines
//! over `trader --json --script -`) is documented in `docs/PROTOCOL.md`.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::schema::{InstanceType, Schema, SchemaObject, StringValidation};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

use crate::command::MAX_LINE;
use crate::command::{CommandSpec, Quote};
use crate::domain::{Audit, Portfolio, Rate, Receipt, TapeKind, TapeRow, TAPE_LEN};
use crate::error::Result;
use crate::money::{Money, Price, WideMoney};
use crate::store::Market;

/// The protocol's version. A bot may rely on every field and code of its
/// version staying as documented; a new field or code is no new version,
/// a field removed or changed in meaning is.
pub const PROTOCOL_VERSION: u32 = 1;

/// Decimal places of a price.
pub const PRICE_DECIMALS: u32 = 4;
/// Decimal places of an amount of money or currency.
pub const AMOUNT_DECIMALS: u32 = 2;

/// What `wait` waits when given no time, in milliseconds.
pub const DEFAULT_WAIT_MS: u64 = 1_000;
/// The longest `wait`, in milliseconds: a minute.
pub const MAX_WAIT_MS: u64 = 60_000;

/// `hello`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Hello {
    pub protocol: u32,
    /// The market's address, as `--segment` takes it.
    pub market: String,
    /// `posix`, `sysv`, `file` or `redis`.
    pub store: String,
    /// The account this session trades for (opened at its first trade).
    pub account: String,
    /// Whether a trade could go through now, as far as the market's state
    /// goes (its rules may still refuse it).
    pub may_trade: bool,
    /// This process may only read the market.
    pub read_only: bool,
    pub halted: bool,
    /// The timed round's end as a Unix time in milliseconds, if one is set.
    pub round_end_ms: Option<u64>,
    /// The round's end has passed.
    pub round_over: bool,
    /// The change counter now; a `wait` after `hello` waits past it.
    pub seq: u32,
    pub currencies: Vec<CurrencyInfo>,
    pub limits: Limits,
}

/// A currency's name and the precision of its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CurrencyInfo {
    pub name: String,
    pub price_decimals: u32,
    pub amount_decimals: u32,
}

/// The bounds a bot must stay within.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Limits {
    /// The longest command line, in bytes.
    pub line_bytes: usize,
    /// Entries the tape keeps: the most `tape N` and `history N` show.
    pub tape_entries: usize,
    /// Accounts the market can hold.
    pub accounts: u32,
    /// The longest `wait`, in milliseconds.
    pub wait_ms: u64,
}

/// `wait`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Waited {
    /// The market changed since the last `wait` or `hello` (or, for the
    /// first, since this one began).
    pub changed: bool,
    /// The change counter now.
    pub seq: u32,
}

/// What `hello` tells about `exchange` to the session of `account`.
pub fn hello(exchange: &dyn Market, account: &str) -> Result<Hello> {
    let status = exchange.status()?;
    let round_end_ms = exchange.round_end()?;
    let round_over = crate::round::check_open(round_end_ms).is_err();
    let read_only = exchange.is_read_only();
    let address = exchange.address().to_string();
    let store = address.split(':').next().unwrap_or_default().to_owned();
    Ok(Hello {
        protocol: PROTOCOL_VERSION,
        market: address,
        store,
        account: account.to_owned(),
        may_trade: !read_only && !status.halted && !round_over,
        read_only,
        halted: status.halted,
        round_end_ms,
        round_over,
        seq: exchange.settled_change_seq(),
        currencies: exchange
            .currencies()
            .iter()
            .map(|currency| CurrencyInfo {
                name: currency.name.clone(),
                price_decimals: PRICE_DECIMALS,
                amount_decimals: AMOUNT_DECIMALS,
            })
            .collect(),
        limits: Limits {
            line_bytes: MAX_LINE,
            tape_entries: TAPE_LEN,
            accounts: status.account_capacity,
            wait_ms: MAX_WAIT_MS,
        },
    })
}

/// Sleeps until the change counter differs from `seen` or `timeout`
/// passes: on the board's futex, or pub/sub on Redis, never spinning.
pub fn wait(exchange: &dyn Market, seen: u32, timeout: Duration) -> Waited {
    let deadline = Instant::now() + timeout;
    loop {
        let seq = exchange.settled_change_seq();
        let left = deadline.saturating_duration_since(Instant::now());
        if seq != seen || left.is_zero() {
            return Waited {
                changed: seq != seen,
                seq,
            };
        }
        exchange.wait_for_change_promptly(seen, left);
    }
}

/// The JSON Schema (draft 7) of every reply a trader writes in the JSON
/// style: any one of them is valid against it. Each reply's fields are
/// the schemas of the Rust types that write them, derived by schemars;
/// `docs/protocol.schema.json` is this, checked in (a test keeps it
/// fresh).
pub fn schema() -> Value {
    let mut gen = SchemaSettings::draft07().into_generator();
    let of = |body: Schema| serde_json::to_value(body).unwrap_or(Value::Null);
    let list = |key: &str, items: Value| json!({"type": "object", "required": [key], "properties": {key: {"type": "array", "items": items}}});
    let rates = list("currencies", of(gen.subschema_for::<Rate>()));
    let traders = list("traders", of(gen.subschema_for::<Portfolio>()));
    let tape = list("trades", of(gen.subschema_for::<TapeRow>()));
    let history = json!({
        "type": "object",
        "required": ["name", "trades", "count", "last_trade"],
        "properties": {
            "name": {"type": "string"},
            "trades": {"type": "array", "items": of(gen.subschema_for::<TapeRow>())},
            "count": {"type": "integer", "minimum": 0},
            "last_trade": {"type": ["integer", "null"], "minimum": 0},
        },
    });
    let help = list("commands", of(gen.subschema_for::<CommandSpec>()));
    let audit = of(gen.subschema_for::<Audit>());
    let replies = vec![
        success(&["buy", "sell"], of(gen.subschema_for::<Receipt>())),
        success(&["quote"], of(gen.subschema_for::<Quote>())),
        success(&["rates"], rates),
        success(&["portfolio"], of(gen.subschema_for::<Portfolio>())),
        success(&["traders"], traders),
        success(&["tape"], tape),
        success(&["history"], history),
        success(&["audit"], audit.clone()),
        success(
            &["price", "halt", "resume", "reset", "close"],
            of(gen.subschema_for::<TapeKind>()),
        ),
        success(&["help"], help),
        success(&["hello"], of(gen.subschema_for::<Hello>())),
        success(&["wait"], of(gen.subschema_for::<Waited>())),
        success(&["quit"], json!({"type": "object"})),
        json!({
            "description": "An audit that found money or currency created or lost.",
            "allOf": [failure(Some("audit"), Some("inconsistent_audit")), audit],
        }),
        json!({
            "description": "A refused or failed command: `code` is stable, `error` a one-line message.",
            "allOf": [failure(None, None)],
        }),
    ];
    let definitions = serde_json::to_value(gen.definitions()).unwrap_or(Value::Null);
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "shm-exchange bot protocol replies",
        "description": format!(
            "Protocol version {PROTOCOL_VERSION}: every line `trader --json` writes is one of these objects; see docs/PROTOCOL.md."
        ),
        "anyOf": replies,
        "definitions": definitions,
    })
}

/// A successful reply of one of `commands`: `ok`, `command` and `body`'s
/// fields beside them.
fn success(commands: &[&str], body: Value) -> Value {
    json!({
        "description": format!("The reply of {}.", commands.join(", ")),
        "allOf": [
            {
                "type": "object",
                "required": ["ok", "command"],
                "properties": {"ok": {"const": true}, "command": {"enum": commands}},
            },
            body,
        ],
    })
}

/// A failed command's fields.
fn failure(command: Option<&str>, code: Option<&str>) -> Value {
    let command = command.map_or_else(|| json!({"type": "string"}), |name| json!({"const": name}));
    let code = code.map_or_else(
        || json!({"type": "string", "pattern": "^[a-z_]+$"}),
        |code| json!({"const": code}),
    );
    json!({
        "type": "object",
        "required": ["ok", "command", "code", "error"],
        "properties": {
            "ok": {"const": false},
            "command": command,
            "code": code,
            "error": {"type": "string"},
        },
    })
}

/// A decimal string: `pattern` says how many places.
fn decimal_schema(description: &str, pattern: &str) -> Schema {
    Schema::Object(SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        string: Some(Box::new(StringValidation {
            pattern: Some(pattern.to_owned()),
            ..StringValidation::default()
        })),
        metadata: Some(Box::new(schemars::schema::Metadata {
            description: Some(description.to_owned()),
            ..Default::default()
        })),
        ..SchemaObject::default()
    })
}

impl JsonSchema for Money {
    fn schema_name() -> String {
        "Money".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        decimal_schema(
            "An amount of money or currency: an exact decimal with two places, as a string.",
            r"^-?[0-9]+\.[0-9]{2}$",
        )
    }
}

impl JsonSchema for WideMoney {
    fn schema_name() -> String {
        "WideMoney".to_owned()
    }

    fn json_schema(gen: &mut SchemaGenerator) -> Schema {
        Money::json_schema(gen)
    }
}

impl JsonSchema for Price {
    fn schema_name() -> String {
        "Price".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        decimal_schema(
            "A price: an exact decimal with two to four places, as a string.",
            r"^[0-9]+\.[0-9]{2,4}$",
        )
    }
}
