//! Views never fail on a legal market: a net worth past `i64::MAX` (a
//! starting balance of the largest amount, and a holding whose price
//! doubled) is shown by `portfolio`, `traders`, the board, `audit` and
//! `exchange-init --status` on every store, and a command that would carry
//! a stored value past the largest amount names what it would overflow.

mod common;

use common::{each_backend, temp_file, Backend, Segment};
use shm_exchange::{MarketAddress, Store};

/// `i64::MAX` hundredths: the largest amount a market holds.
const MOST: &str = "92233720368547758.07";
/// a's net worth once C's buy price doubled: `MOST` plus 1.00, past it.
const PAST_MOST: &str = "92233720368547759.07";

/// A market whose one account `a` started with [`MOST`], bought one C at
/// 1.00, and saw the owner price C at 2.00: its net worth is past `i64`.
fn net_worth_past_i64(backend: Backend) -> Segment {
    let segment = Segment::unique(backend);
    let config = temp_file(
        ".toml",
        &format!(
            "cash = \"0\"\nstarting_balance = \"{MOST}\"\n\n[[currency]]\nname = \"C\"\nsell = \"1\"\nbuy = \"1\"\nstock = \"10\"\n"
        ),
    );
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    segment.trader("a", &["buy", "c", "1"]).success();
    segment.trader("t", &["price", "c", "2", "2"]).success();
    segment
}

fn portfolio(backend: Backend) {
    let segment = net_worth_past_i64(backend);
    let reply = segment.json("a", "portfolio");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["net_worth"], PAST_MOST, "{reply}");
    assert_eq!(reply["profit"], "1.00", "{reply}");
    assert_eq!(reply["values"]["C"], "2.00", "{reply}");
    let text = segment.trader("a", &["portfolio"]).success().stdout();
    let line = |label: &str| {
        text.lines()
            .find(|line| line.starts_with(label))
            .map(|line| line.split_whitespace().last().unwrap().to_owned())
    };
    assert_eq!(line("net worth").as_deref(), Some(PAST_MOST), "{text}");
    assert_eq!(line("profit").as_deref(), Some("1.00"), "{text}");
}

fn traders(backend: Backend) {
    let segment = net_worth_past_i64(backend);
    let reply = segment.json("reader", "traders");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["traders"][0]["net_worth"], PAST_MOST, "{reply}");
    segment
        .trader("reader", &["traders"])
        .success()
        .stdout_has(PAST_MOST)
        .stdout_has("+1.00");
}

fn board(backend: Backend) {
    let segment = net_worth_past_i64(backend);
    let address: MarketAddress = segment.address.parse().unwrap();
    let store = Store::attach(&address).unwrap();
    let board = shm_exchange::board::board(store.market(), 160, 40).unwrap();
    assert!(board.contains(PAST_MOST), "{board}");
    assert!(board.contains("1.00"), "{board}");
}

fn audit(backend: Backend) {
    let segment = net_worth_past_i64(backend);
    let reply = segment.json("reader", "audit");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["consistent"], true, "{reply}");
    assert_eq!(reply["money"]["starting_balances"], MOST, "{reply}");
}

fn status(backend: Backend) {
    let segment = net_worth_past_i64(backend);
    segment
        .init(&["--status"])
        .success()
        .stdout_has("1 of 64 accounts open, cash 1.00, 2 trades");
}

/// `close` takes no amount: when the closed balance cannot fit in the
/// cash, the refusal names the cash, not "the amount".
fn close_past_the_largest_cash(backend: Backend) {
    let segment = Segment::unique(backend);
    let config = temp_file(
        ".toml",
        &format!("cash = \"{MOST}\"\n\n[[currency]]\nname = \"C\"\nsell = \"1\"\nbuy = \"1\"\nstock = \"10\"\n"),
    );
    segment
        .init(&["--config", config.to_str().unwrap()])
        .success();
    segment.trader("q", &["portfolio"]).success();
    let run = segment.trader("t", &["close", "q"]);
    run.status(1).stderr_has(&format!(
        "closing q would take the exchange's cash past {MOST}, the most the market can hold; nothing changed"
    ));
    assert!(!run.stderr().contains("amount"), "{}", run.stderr());
    // Nothing changed: q is still open with its balance.
    assert_eq!(segment.json("q", "portfolio")["balance"], "1000.00");
}

each_backend!(
    portfolio,
    traders,
    board,
    audit,
    status,
    close_past_the_largest_cash
);
