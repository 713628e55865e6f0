//! The bot protocol (docs/PROTOCOL.md): the checked-in schema is the one
//! the reply types generate, every reply of a script that runs every
//! command (and many errors) is valid against it, `hello` tells the truth
//! and `wait` wakes on a change and only then.

mod common;

use std::time::{Duration, Instant};

use common::{Attached, Backend, Segment};
use serde_json::Value;

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.schema.json");

/// `SHMX_UPDATE_SCHEMA=1 cargo test --test protocol schema` rewrites the
/// file after a deliberate change of a reply type.
#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&shm_exchange::protocol::schema()).unwrap() + "\n";
    if std::env::var_os("SHMX_UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/protocol.schema.json is stale: a reply type changed; run `SHMX_UPDATE_SCHEMA=1 cargo test --test protocol schema` and commit it"
    );
}

/// Why `value` is not valid against `schema`, if it is not: the subset of
/// draft 7 the protocol's schema uses (type, const, enum, pattern,
/// required, properties, items, minimum, anyOf, allOf, oneOf, $ref).
fn invalid(value: &Value, schema: &Value, root: &Value) -> Option<String> {
    let Some(schema) = schema.as_object() else {
        return None; // `true`
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/definitions/");
        return invalid(value, &root["definitions"][name], root);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|kind| match *kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            _ => false,
        });
        if !fits {
            return Some(format!("{value} is not of type {types:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if value != constant {
            return Some(format!("{value} is not {constant}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return Some(format!("{value} is not one of {options:?}"));
        }
    }
    if let (Some(pattern), Some(text)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        if !matches_decimal_pattern(pattern, text) {
            return Some(format!("{text:?} does not match {pattern}"));
        }
    }
    if let (Some(minimum), Some(number)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if number < minimum {
            return Some(format!("{number} is below {minimum}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap();
            if !object.contains_key(key) {
                return Some(format!("{key:?} is missing"));
            }
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (key, property) in properties {
                if let Some(field) = object.get(key) {
                    if let Some(why) = invalid(field, property, root) {
                        return Some(format!("{key}: {why}"));
                    }
                }
            }
        }
        if let Some(values) = schema
            .get("additionalProperties")
            .filter(|extra| extra.is_object())
        {
            for (key, field) in object {
                if let Some(why) = invalid(field, values, root) {
                    return Some(format!("{key}: {why}"));
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            if let Some(why) = invalid(item, items, root) {
                return Some(format!("[{index}]: {why}"));
            }
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        if let Some(why) = all.iter().find_map(|part| invalid(value, part, root)) {
            return Some(why);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let fits = options
                .iter()
                .filter(|option| invalid(value, option, root).is_none())
                .count();
            if fits == 0 || (key == "oneOf" && fits > 1) {
                return Some(format!("{value} fits {fits} of the {key}"));
            }
        }
    }
    None
}

/// The schema's patterns are few: decimals and error codes. Each is
/// checked by its meaning; an unknown one fails the test.
fn matches_decimal_pattern(pattern: &str, text: &str) -> bool {
    let places = |text: &str, range: std::ops::RangeInclusive<usize>, signed: bool| {
        let text = if signed {
            text.strip_prefix('-').unwrap_or(text)
        } else {
            text
        };
        let Some((whole, fraction)) = text.split_once('.') else {
            return false;
        };
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && range.contains(&fraction.len())
            && fraction.bytes().all(|b| b.is_ascii_digit())
    };
    match pattern {
        r"^-?[0-9]+\.[0-9]{2}$" => places(text, 2..=2, true),
        r"^[0-9]+\.[0-9]{2,4}$" => places(text, 2..=4, false),
        "^[a-z_]+$" => {
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        }
        _ => panic!("the test knows no pattern {pattern}"),
    }
}

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(SCHEMA_FILE).unwrap()).unwrap()
}

/// Every command, and the errors a bot can meet, through one JSON script.
const EVERY_COMMAND: &str = "\
hello
rates
quote buy DOLLAR 2
quote sell EURO 1.5
buy DOLLAR 2
sell DOLLAR 1
portfolio
history
history 3
tape 5
traders
audit
help
help buy
wait 0
wait 10
price DOLLAR 14.1 13.8
halt
buy DOLLAR 1
resume
close nobody
bogus
buy DOLLAR
buy DOLLAR 1.234
buy YEN 1
sell POUND 5
buy POUND 100000
tape 999
wait 99999999
price DOLLAR 1 2
reset
quit
";

fn check_every_reply(backend: Backend) {
    let segment = Segment::create(backend);
    let run = segment.script("ana", &["--json", "--script", "-"], EVERY_COMMAND);
    let replies = run.json_lines();
    let schema = schema();
    let mut commands = std::collections::BTreeSet::new();
    let mut codes = std::collections::BTreeSet::new();
    for reply in &replies {
        if let Some(why) = invalid(reply, &schema, &schema) {
            panic!("{reply} is not valid against the schema: {why}");
        }
        commands.insert(reply["command"].as_str().unwrap().to_owned());
        if let Some(code) = reply["code"].as_str() {
            codes.insert(code.to_owned());
        }
    }
    let spoken: Vec<&str> = EVERY_COMMAND
        .lines()
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(replies.len(), spoken.len(), "one reply a line: {replies:?}");
    for spec in shm_exchange::command::COMMANDS {
        assert!(commands.contains(spec.name), "no reply of {}", spec.name);
    }
    for code in [
        "halted",
        "unknown_account",
        "unknown_command",
        "wrong_arguments",
        "bad_amount",
        "unknown_currency",
        "insufficient_holding",
        "insufficient_balance",
        "bad_count",
        "bad_wait",
        "crossed_quote",
    ] {
        assert!(codes.contains(code), "no error {code}: {codes:?}");
    }
    // A reply of another shape is not valid: the check can fail.
    let wrong = serde_json::json!({"ok": true, "command": "wait", "changed": "yes", "seq": 1});
    assert!(invalid(&wrong, &schema, &schema).is_some());
    let wrong = serde_json::json!({"ok": true, "command": "rates", "currencies": [{"name": "X", "sell": "1.5", "buy": "1.00", "stock": "1.00"}]});
    assert!(invalid(&wrong, &schema, &schema).is_some());
}

#[test]
fn every_reply_fits_the_schema_on_a_segment() {
    check_every_reply(Backend::Posix);
}

#[test]
fn every_reply_fits_the_schema_on_redis() {
    check_every_reply(Backend::Redis);
}

#[test]
fn hello_tells_the_rights_and_the_limits() {
    let segment = Segment::create(Backend::Posix);
    let hello = segment.json("ana", "hello");
    assert_eq!(hello["protocol"], shm_exchange::protocol::PROTOCOL_VERSION);
    assert_eq!(hello["market"], segment.address.as_str());
    assert_eq!(hello["store"], "posix");
    assert_eq!(hello["account"], "ana");
    assert_eq!(hello["may_trade"], true);
    assert_eq!(hello["round_end_ms"], Value::Null);
    assert_eq!(hello["limits"]["line_bytes"], 4096);
    assert_eq!(hello["limits"]["tape_entries"], 256);
    assert_eq!(hello["currencies"][0]["name"], "DOLLAR");
    assert_eq!(hello["currencies"][0]["price_decimals"], 4);
    assert_eq!(hello["currencies"][0]["amount_decimals"], 2);
    segment.trader("owner", &["halt"]).success();
    let hello = segment.json("ana", "hello");
    assert_eq!(hello["may_trade"], false);
    assert_eq!(hello["halted"], true);
}

#[test]
fn wait_wakes_on_a_change_and_times_out_without_one() {
    let segment = Segment::create(Backend::Posix);
    let mut bot = Attached::start(&segment, "bot", &["--json"]);
    let started = Instant::now();
    let quiet = bot.ask_json("wait 200");
    assert_eq!(quiet["changed"], false, "{quiet}");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // A change after the last wait is not lost: the next wait sees it.
    segment.trader("ben", &["buy", "EURO", "1"]).success();
    let moved = bot.ask_json("wait 30000");
    assert_eq!(moved["changed"], true, "{moved}");
    assert_ne!(moved["seq"], quiet["seq"]);

    // A wait that is sleeping wakes when another process trades.
    let mut sleeper = Attached::start(&segment, "bot2", &["--json"]);
    sleeper.ask_json("hello");
    let mut trade = segment.trader_command("cy");
    trade.args(["buy", "POUND", "1"]);
    let trader = std::thread::spawn(move || common::Run::new(trade, b""));
    let woke = sleeper.ask_json("wait 30000");
    trader.join().unwrap().success();
    assert_eq!(woke["changed"], true, "{woke}");
}
