//! `hello` and `wait` for people and scripts; their JSON is the structs'
//! own (see `crate::protocol`).
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use crate::protocol::{Hello, Waited};

/// `hello` on one line, for scripts.
pub(super) fn hello_line(hello: &Hello, out: &mut String) {
    let _ = write!(
        out,
        "protocol {} market {} store {} account {} may_trade {} read_only {} halted {} round_end {} round_over {} seq {} currencies {} price_decimals {} amount_decimals {} line_bytes {} tape_entries {} accounts {} wait_ms {}",
        hello.protocol,
        hello.market,
        hello.store,
        hello.account,
        yes_no(hello.may_trade),
        yes_no(hello.read_only),
        yes_no(hello.halted),
        hello
            .round_end_ms
            .map_or_else(|| "none".to_owned(), crate::round::clock)
            .replace(' ', "_"),
        yes_no(hello.round_over),
        hello.seq,
        hello
            .currencies
            .iter()
            .map(|currency| currency.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
        crate::protocol::PRICE_DECIMALS,
        crate::protocol::AMOUNT_DECIMALS,
        hello.limits.line_bytes,
        hello.limits.tape_entries,
        hello.limits.accounts,
        hello.limits.wait_ms,
    );
}

/// `hello` for a person: what the session may do, and why not.
pub(super) fn hello_text(hello: &Hello) -> String {
    let mut rights = Vec::new();
    if hello.read_only {
        rights.push("read-only");
    }
    if hello.halted {
        rights.push("halted");
    }
    if hello.round_over {
        rights.push("the round is over");
    }
    let may_trade = if hello.may_trade {
        "may trade".to_owned()
    } else {
        format!("may not trade ({})", rights.join(", "))
    };
    let round = hello.round_end_ms.map_or_else(
        || "no timed round".to_owned(),
        |end| format!("round ends at {}", crate::round::clock(end)),
    );
    let currencies: Vec<&str> = hello
        .currencies
        .iter()
        .map(|currency| currency.name.as_str())
        .collect();
    format!(
        "protocol {} on {} ({})\n\
         account {}: {may_trade}; {round}\n\
         currencies {}: prices to {} places, amounts to {}\n\
         limits: lines of {} bytes, a tape of {}, {} accounts, waits up to {} ms",
        hello.protocol,
        hello.market,
        hello.store,
        hello.account,
        currencies.join(", "),
        crate::protocol::PRICE_DECIMALS,
        crate::protocol::AMOUNT_DECIMALS,
        hello.limits.line_bytes,
        hello.limits.tape_entries,
        hello.limits.accounts,
        hello.limits.wait_ms,
    )
}

/// `wait` in every text style: `changed seq 12` or `unchanged seq 12`.
pub(super) fn waited_line(waited: &Waited, out: &mut String) {
    let _ = write!(
        out,
        "{} seq {}",
        if waited.changed {
            "changed"
        } else {
            "unchanged"
        },
        waited.seq
    );
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}
