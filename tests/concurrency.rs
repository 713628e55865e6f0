//! Four real trader processes hammer one exchange at once. Without the
//! lock, their read-modify-writes of the shared stock and cash would lose
//! updates; with it, every cent is accounted for.

mod common;

use std::process::Stdio;

use common::{each_backend, field, Backend, Segment};

const TRADERS: usize = 4;
const ROUNDS: usize = 2_000;

fn four_traders_round_trip(backend: Backend) {
    let segment = Segment::create(backend);
    let script = "buy DOLLAR 1\nsell DOLLAR 1\n".repeat(ROUNDS);
    let children: Vec<_> = (0..TRADERS)
        .map(|index| {
            let mut command = segment.trader_command(&format!("racer-{index}"));
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            (format!("racer-{index}"), command.spawn().unwrap())
        })
        .collect();
    // Start them all before feeding any, so they really overlap.
    let outputs: Vec<_> = children
        .into_iter()
        .map(|(name, child)| {
            let script = script.clone();
            std::thread::spawn(move || {
                common::finish(child, script.as_bytes(), common::TIMEOUT, &name)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    for output in &outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert_eq!(
            output.stdout.iter().filter(|&&b| b == b'\n').count(),
            2 * ROUNDS
        );
    }
    // Each round trip costs 13.72 - 13.40 = 0.32.
    for index in 0..TRADERS {
        let portfolio = segment.json(&format!("racer-{index}"), "portfolio");
        assert_eq!(field(&portfolio, "balance"), "360.00", "{portfolio}");
        assert_eq!(portfolio["holdings"]["DOLLAR"], "0.00");
    }
    let audit = segment.json("auditor", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    assert_eq!(audit["money"]["cash"], "1002560.00");
    assert_eq!(audit["currencies"][0]["stock"], "10000.00");
    let rates = segment.json("auditor", "rates");
    assert_eq!(rates["currencies"][0]["stock"], "10000.00");
    let status = segment.init(&["--status", "--json"]).parse_json();
    assert_eq!(status["trades"], (TRADERS * ROUNDS * 2) as u64);
}

each_backend!(four_traders_round_trip);

/// The race demonstration skips the lock but not the rules: its refusals
/// name what is really short (it once blamed the balance for missing
/// stock).
#[test]
fn the_unlocked_demo_refuses_with_the_real_reason() {
    use shm_exchange::{Error, Exchange, MarketConfig, Money};
    let segment = Segment::unique(Backend::Posix);
    let mut config = MarketConfig::default();
    config.currencies[0].stock = Money::parse("2").unwrap();
    let exchange = Exchange::create(&segment.parsed(), &config, 0o600).unwrap();
    let account = exchange.open_account("stress-0").unwrap();
    let dollar = exchange.currency("DOLLAR").unwrap();
    let demo = exchange.unlocked_demo().unwrap();
    let amount = |text| Money::parse(text).unwrap();
    assert!(matches!(
        demo.trade(account, shm_exchange::Side::Buy, dollar, amount("3")),
        Err(Error::InsufficientStock { .. })
    ));
    demo.trade(account, shm_exchange::Side::Buy, dollar, amount("1"))
        .unwrap();
    let euro = exchange.currency("EURO").unwrap();
    assert!(matches!(
        demo.trade(account, shm_exchange::Side::Buy, euro, amount("1000")),
        Err(Error::InsufficientBalance { .. })
    ));
    assert!(matches!(
        demo.trade(account, shm_exchange::Side::Sell, dollar, amount("5")),
        Err(Error::InsufficientHolding { .. })
    ));
}
