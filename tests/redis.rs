//! The market on Redis, through the library: the same rules as the
//! segment, refusals that change nothing, clear errors for bad addresses,
//! wrong passwords, missing servers and foreign keys, and the same
//! guarantees under contention, SIGKILL and a server restart.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use shm_exchange::config::{CurrencyConfig, MarketConfig};
use shm_exchange::domain::TapeKind;
use shm_exchange::store::redis::{RedisAddress, RedisMarket};
use shm_exchange::{Error, Money, Price, Side};

/// Bound on any wait for another process.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Set in a child process: `ADDRESS ACCOUNT ROUNDS` for `child_trader`.
const CHILD_ENV: &str = "SHMX_REDIS_CHILD";

fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn parse(address: &str) -> RedisAddress {
    address.parse().unwrap()
}

fn create(server: &RedisServer) -> (String, RedisMarket) {
    let address = server.unique_address();
    let market = RedisMarket::create(&parse(&address), &MarketConfig::default()).unwrap();
    (address, market)
}

fn stock(market: &RedisMarket, currency: &str) -> Money {
    let rates = market.rates().unwrap();
    rates
        .iter()
        .find(|rate| rate.name == currency)
        .unwrap()
        .stock
}

#[test]
fn trades_follow_the_rules() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (_, market) = create(&server);
    let ana = market.open_account("ana").unwrap();
    assert_eq!(market.open_account("ana").unwrap(), ana);
    let dollar = market.currency("dollar").unwrap();

    let bought = market.trade(ana, Side::Buy, dollar, money("10")).unwrap();
    let receipt = market.receipt(bought);
    assert_eq!(receipt.currency, "DOLLAR");
    assert_eq!(
        (receipt.total, receipt.balance),
        (money("137.20"), money("862.80"))
    );
    let sold = market.trade(ana, Side::Sell, dollar, money("4")).unwrap();
    assert_eq!(
        (sold.price, sold.total),
        (Price::parse("13.40").unwrap(), money("53.60"))
    );

    // STERLIN's 24.552: cost rounds up, proceeds round down.
    let sterlin = market.currency("STERLIN").unwrap();
    assert_eq!(
        market
            .trade(ana, Side::Buy, sterlin, money("0.01"))
            .unwrap()
            .total,
        money("0.25")
    );
    assert_eq!(
        market.quote(Side::Sell, sterlin, money("0.01")).unwrap().1,
        money("0.24")
    );

    let portfolio = market.portfolio(ana).unwrap();
    assert_eq!(portfolio.balance, money("916.15"));
    assert_eq!(portfolio.holdings[0], ("DOLLAR".into(), money("6.00")));
    assert_eq!(stock(&market, "DOLLAR"), money("9994.00"));
    let history = market.history(ana, 10).unwrap();
    assert_eq!((history.trades, history.last_trade), (3, Some(3)));
    let tape = history.rows;
    assert_eq!(
        tape.iter().map(|row| row.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        matches!(&tape[1].kind, TapeKind::Trade { side: Side::Sell, account, .. } if account == "ana"),
        "{tape:?}"
    );
    assert!(
        matches!(&market.tape(1).unwrap()[0].kind, TapeKind::Trade { currency, .. } if currency == "STERLIN")
    );
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    assert_eq!(audit.money.cash, money("1000083.85").into());
    let status = market.status().unwrap();
    assert_eq!((status.trades, status.accounts), (3, 1));
    assert!(status.size > 0);
    assert_eq!(market.traders().unwrap()[0].name, "ana");
}

/// Everything a refused command could have changed.
fn state(market: &RedisMarket) -> String {
    format!(
        "{:?} {:?} {:?} {:?}",
        market.rates().unwrap(),
        market.traders().unwrap(),
        market.tape(256).unwrap(),
        market.change_seq().unwrap()
    )
}

#[test]
fn refusals_leave_the_market_unchanged() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = MarketConfig {
        currencies: vec![
            CurrencyConfig {
                name: "DOLLAR".into(),
                sell: Price::parse("13.72").unwrap(),
                buy: Price::parse("13.40").unwrap(),
                stock: money("5"),
            },
            CurrencyConfig {
                name: "CENT".into(),
                sell: Price::parse("0.5").unwrap(),
                buy: Price::parse("0.4").unwrap(),
                stock: money("100"),
            },
        ],
        ..MarketConfig::default()
    };
    let address = parse(&server.unique_address());
    let market = RedisMarket::create(&address, &config).unwrap();
    let ana = market.open_account("ana").unwrap();
    let dollar = market.currency("DOLLAR").unwrap();
    let cent = market.currency("CENT").unwrap();
    market.trade(ana, Side::Buy, dollar, money("2")).unwrap();
    market.trade(ana, Side::Buy, cent, money("1")).unwrap();
    let before = state(&market);
    let refusals = [
        (Side::Buy, dollar, money("1000")),
        (Side::Buy, dollar, money("6")),
        (Side::Sell, dollar, money("3")),
        (Side::Buy, dollar, money("0")),
        (Side::Sell, cent, money("0.02")),
    ];
    let mut messages = Vec::new();
    for (side, currency, amount) in refusals {
        let error = market.trade(ana, side, currency, amount).unwrap_err();
        assert_eq!(error.exit_code().code(), 1, "{error}");
        messages.push(error.to_string());
    }
    assert!(messages[0].contains("insufficient balance"), "{messages:?}");
    assert!(messages[1].contains("only 3.00 DOLLAR"), "{messages:?}");
    assert!(
        messages[2].contains("you hold only 2.00 DOLLAR"),
        "{messages:?}"
    );
    assert!(messages[3].contains("must be positive"), "{messages:?}");
    assert!(
        messages[4].contains("pays nothing") && messages[4].contains("sell at least 0.03"),
        "{messages:?}"
    );
    assert!(matches!(
        market.currency("DOLAR"),
        Err(Error::UnknownCurrency { suggestion: Some(ref s), .. }) if s == "DOLLAR"
    ));
    assert!(matches!(
        market.open_account("no spaces"),
        Err(Error::AccountName { .. })
    ));
    assert_eq!(state(&market), before);
}

#[test]
fn the_account_table_fills_up_cleanly() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = MarketConfig {
        accounts: 2,
        ..MarketConfig::default()
    };
    let market = RedisMarket::create(&parse(&server.unique_address()), &config).unwrap();
    let names: Vec<String> = ["a", "b", "c"].map(String::from).into();
    assert!(matches!(
        market.open_accounts(&names),
        Err(Error::AccountTableFull { capacity: 2 })
    ));
    assert_eq!(market.traders().unwrap().len(), 0);
    market.open_accounts(&names[..2]).unwrap();
    let full = market.open_account("c").unwrap_err();
    assert!(full.to_string().contains("account table is full"), "{full}");
    assert!(market.audit().unwrap().consistent);
}

#[test]
fn bad_addresses_and_wrong_passwords_are_refused_without_echo() {
    for bad in [
        "redis://127.0.0.1:6379",
        "redis://127.0.0.1:6379/a{b}",
        "redis://:hunter2@h:0/m",
    ] {
        let error = bad.parse::<RedisAddress>().unwrap_err().to_string();
        assert!(error.contains("redis://HOST:PORT/NAME"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
    let Some(server) = RedisServer::with_password("s3cret-pw") else {
        return;
    };
    let good = server.unique_address();
    let market = RedisMarket::create(&parse(&good), &MarketConfig::default()).unwrap();
    assert!(!market.address().to_string().contains("s3cret"));
    let name = good.rsplit('/').next().unwrap();
    for wrong in [
        format!("redis://:wrong-pw@127.0.0.1:{}/{name}", server.port),
        format!("redis://127.0.0.1:{}/{name}", server.port),
    ] {
        let error = RedisMarket::attach(&parse(&wrong)).err().expect("refused");
        let text = error.to_string();
        assert_eq!(error.exit_code().code(), 2, "{text}");
        assert!(text.contains("password"), "{text}");
        assert!(
            !text.contains("wrong-pw") && !text.contains("s3cret"),
            "{text}"
        );
    }
}

#[test]
fn no_server_is_a_clear_error() {
    let port = common::redis::free_port();
    let address = parse(&format!("redis://127.0.0.1:{port}/m"));
    let error = RedisMarket::attach(&address).err().expect("no server");
    let text = error.to_string();
    assert!(
        text.contains(&format!("cannot reach redis at 127.0.0.1:{port} (connection refused); start redis-server or check the address")),
        "{text}"
    );
    assert_eq!(error.exit_code().code(), 2);
    assert!(RedisMarket::create(&address, &MarketConfig::default()).is_err());
}

#[test]
fn foreign_keys_are_refused_and_kept() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut client = server.client();
    let address = parse(&server.address("foreign"));
    let meta = "exchange:{foreign}:meta";
    let _: () = redis::cmd("SET")
        .arg(meta)
        .arg("hello")
        .query(&mut client)
        .unwrap();
    let hash = parse(&server.address("hash"));
    let _: () = redis::cmd("HSET")
        .arg("exchange:{hash}:meta")
        .arg("owner")
        .arg("someone else")
        .query(&mut client)
        .unwrap();
    for address in [&address, &hash] {
        for error in [
            RedisMarket::attach(address).err().unwrap(),
            RedisMarket::create(address, &MarketConfig::default())
                .err()
                .unwrap(),
            RedisMarket::replace(address, &MarketConfig::default())
                .err()
                .unwrap(),
            RedisMarket::remove(address).unwrap_err(),
        ] {
            assert!(matches!(error, Error::NotAnExchange { .. }), "{error}");
            assert_eq!(error.exit_code().code(), 2);
        }
    }
    let kept: String = redis::cmd("GET").arg(meta).query(&mut client).unwrap();
    assert_eq!(kept, "hello");
    let owner: String = redis::cmd("HGET")
        .arg("exchange:{hash}:meta")
        .arg("owner")
        .query(&mut client)
        .unwrap();
    assert_eq!(owner, "someone else");

    // Another layout version: refused, but ours to replace.
    let (old, _) = create(&server);
    let old_meta = format!("exchange:{{{}}}:meta", old.rsplit('/').next().unwrap());
    let _: () = redis::cmd("HSET")
        .arg(&old_meta)
        .arg("layout")
        .arg("99")
        .query(&mut client)
        .unwrap();
    let error = RedisMarket::attach(&parse(&old)).err().unwrap();
    assert!(matches!(error, Error::Incompatible { .. }), "{error}");
    assert!(error.to_string().contains("layout version 99"), "{error}");
    RedisMarket::replace(&parse(&old), &MarketConfig::default()).unwrap();
}

#[test]
fn create_replace_and_remove() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (address, first) = create(&server);
    let address = parse(&address);
    let ana = first.open_account("ana").unwrap();
    let dollar = first.currency("DOLLAR").unwrap();
    first.trade(ana, Side::Buy, dollar, money("1")).unwrap();
    let again = RedisMarket::create(&address, &MarketConfig::default())
        .err()
        .unwrap();
    assert!(matches!(again, Error::AlreadyExists { .. }), "{again}");

    let second = RedisMarket::replace(&address, &MarketConfig::default()).unwrap();
    for error in [
        first.rates().unwrap_err(),
        first.trade(ana, Side::Buy, dollar, money("1")).unwrap_err(),
    ] {
        assert!(matches!(error, Error::Retired { .. }), "{error}");
    }
    assert_eq!(second.traders().unwrap().len(), 0);
    assert_eq!(second.status().unwrap().trades, 0);

    RedisMarket::remove(&address).unwrap();
    assert!(matches!(
        RedisMarket::attach(&address),
        Err(Error::NoExchange { .. })
    ));
    assert!(matches!(second.audit(), Err(Error::Retired { .. })));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut server.client())
        .unwrap();
    assert_eq!(keys, Vec::<String>::new());
}

#[test]
fn a_board_wakes_on_a_commit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (address, market) = create(&server);
    let seen = market.change_seq().unwrap();
    let started = Instant::now();
    market.wait_for_change(seen, Duration::from_millis(50));
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "woke with nothing to see"
    );
    let trader = std::thread::spawn(move || {
        let market = RedisMarket::attach(&parse(&address)).unwrap();
        let account = market.open_account("ana").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let dollar = market.currency("DOLLAR").unwrap();
        market
            .trade(account, Side::Buy, dollar, money("1"))
            .unwrap();
    });
    let started = Instant::now();
    let mut now = seen;
    while now == seen || market.tape(1).unwrap().is_empty() {
        assert!(started.elapsed() < TIMEOUT);
        market.wait_for_change(now, Duration::from_secs(10));
        now = market.change_seq().unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slept through the commits"
    );
    trader.join().unwrap();
}

/// Not a test on its own: the body of the child processes the tests below
/// spawn (this test binary, with [`CHILD_ENV`] set). It trades round trips
/// on DOLLAR, prints its trades' conflict count, and exits with the error's status
/// if one stops it.
#[test]
fn child_trader() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let [address, account, rounds] =
        <[&str; 3]>::try_from(spec.split(' ').collect::<Vec<_>>()).unwrap();
    let run = || -> Result<u64, Error> {
        let market = RedisMarket::attach(&parse(address))?;
        let account = market.open_account(account)?;
        let dollar = market.currency("DOLLAR")?;
        // Openings race for the account table; count the trades' only.
        let opening = market.conflicts();
        for _ in 0..rounds.parse::<u32>().unwrap() {
            market.trade(account, Side::Buy, dollar, money("1"))?;
            market.trade(account, Side::Sell, dollar, money("1"))?;
        }
        Ok(market.conflicts() - opening)
    };
    match run() {
        Ok(conflicts) => println!("conflicts {conflicts}"),
        Err(error) => {
            eprintln!("child error: {error}");
            std::process::exit(i32::from(error.exit_code().code()));
        }
    }
}

fn spawn_child(address: &str, account: &str, rounds: u32) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_trader", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{address} {account} {rounds}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child with a bounded timeout; returns (status, stdout, stderr).
fn finish(mut child: Child) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a child trader ran past {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn four_processes_round_trip_exactly() {
    const ROUNDS: u32 = 2_000;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (address, market) = create(&server);
    let children: Vec<Child> = (0..4)
        .map(|index| spawn_child(&address, &format!("racer-{index}"), ROUNDS))
        .collect();
    let mut conflicts = 0;
    for child in children {
        let (status, stdout, stderr) = finish(child);
        assert_eq!(status, Some(0), "{stdout}\n{stderr}");
        let count = stdout
            .split("conflicts ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no conflict count in {stdout}"));
        conflicts += count.parse::<u64>().unwrap();
    }
    // Four processes trade the same currency against the same cash, each
    // on its own account: the trade script adds its deltas to the shared
    // values instead of comparing them, so none of them ever lost a commit,
    // and the sums are exact.
    assert_eq!(conflicts, 0, "trades on different accounts conflicted");
    for portfolio in market.traders().unwrap() {
        // Each round trip costs 13.72 - 13.40 = 0.32.
        assert_eq!(portfolio.balance, money("360.00"), "{portfolio:?}");
        assert_eq!(portfolio.holdings[0].1, Money::ZERO);
    }
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    assert_eq!(audit.money.cash, money("1002560.00").into());
    assert_eq!(market.status().unwrap().trades, 4 * 2 * u64::from(ROUNDS));
    assert_eq!(stock(&market, "DOLLAR"), money("10000.00"));
}

/// Waits until the market's trade counter passes `seen`.
fn wait_for_trades(market: &RedisMarket, past: u64) -> u64 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let trades = market.status().unwrap().trades;
        if trades > past {
            return trades;
        }
        assert!(
            Instant::now() < deadline,
            "no trade after {past} within {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sigkill_mid_run_leaves_no_half_trade() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (address, market) = create(&server);
    let mut trades = 0;
    for round in 0..50 {
        let mut child = spawn_child(&address, &format!("victim-{}", round % 3), 1_000_000);
        trades = wait_for_trades(&market, trades + (round % 4));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    let traded: u64 = market.traders().unwrap().len() as u64;
    assert_eq!(traded, 3);
    assert!(market.status().unwrap().trades >= 50);
}

#[test]
fn a_redis_restart_stops_traders_cleanly_and_keeps_the_market() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let (address, market) = create(&server);
    let children: Vec<Child> = (0..2)
        .map(|index| spawn_child(&address, &format!("steady-{index}"), 1_000_000))
        .collect();
    let before = wait_for_trades(&market, 20);
    // Both have opened their accounts (a loaded machine may start one late).
    let deadline = Instant::now() + TIMEOUT;
    while market.traders().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "a trader never opened its account"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(market);
    server.kill();
    for child in children {
        let (status, stdout, stderr) = finish(child);
        assert_eq!(status, Some(2), "{stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("redis at 127.0.0.1:{}", server.port)),
            "{stderr}"
        );
    }
    server.restart();
    let market = RedisMarket::attach(&parse(&address)).unwrap();
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    assert!(market.status().unwrap().trades >= before);
    assert_eq!(market.traders().unwrap().len(), 2);
    let ana = market.open_account("after-restart").unwrap();
    let dollar = market.currency("DOLLAR").unwrap();
    market.trade(ana, Side::Buy, dollar, money("1")).unwrap();
}

/// The owner's commands commit through the same compare-and-set as trades:
/// while two threads trade (one on an account the owner keeps closing),
/// the owner sets quotes, halts, resumes and closes. Every trade on the
/// tape used the quote in force at its place on the tape, none falls
/// between a halt and its resume, the sequence has no gap, and the audit
/// balances, closed accounts' starting balances included.
#[test]
fn the_owners_commands_race_trades_cleanly() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (address, owner) = create(&server);
    let dollar = owner.currency("DOLLAR").unwrap();
    let stop = AtomicBool::new(false);
    let quotes = [("13.72", "13.40"), ("14.00", "13.90"), ("12.50", "12.00")]
        .map(|(sell, buy)| (Price::parse(sell).unwrap(), Price::parse(buy).unwrap()));
    std::thread::scope(|scope| {
        let traders: Vec<_> = ["steady", "victim"]
            .into_iter()
            .map(|name| {
                let (address, stop) = (&address, &stop);
                scope.spawn(move || {
                    let market = RedisMarket::attach(&parse(address)).unwrap();
                    let mut account = market.open_account(name).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        for side in [Side::Buy, Side::Sell] {
                            match market.trade(account, side, dollar, money("1")) {
                                Ok(_) | Err(Error::Halted) => {}
                                Err(Error::AccountClosed) => {
                                    account = market.open_account(name).unwrap();
                                }
                                Err(Error::InsufficientHolding { .. }) => {}
                                Err(error) => panic!("{name}: {error}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for round in 0..30 {
            let (sell, buy) = quotes[round % quotes.len()];
            owner.set_price(dollar, sell, buy).unwrap();
            owner.halt().unwrap();
            std::thread::sleep(Duration::from_millis(2));
            owner.resume().unwrap();
            if round % 5 == 4 {
                let _ = owner.close_account("victim");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        for trader in traders {
            trader.join().unwrap();
        }
    });
    let tape = owner.tape(256).unwrap();
    let (mut quote, mut halted) = (None, false);
    for pair in tape.windows(2) {
        assert_eq!(pair[0].seq + 1, pair[1].seq, "a gap in the tape: {pair:?}");
    }
    for row in &tape {
        match &row.kind {
            TapeKind::Price { sell, buy, .. } => quote = Some((*sell, *buy)),
            TapeKind::Halt => halted = true,
            TapeKind::Resume => halted = false,
            TapeKind::Trade { side, price, .. } => {
                assert!(!halted, "a trade while halted: {row:?}");
                if let Some((sell, buy)) = quote {
                    let expected = if *side == Side::Buy { sell } else { buy };
                    assert_eq!(*price, expected, "a trade at a stale quote: {row:?}");
                }
            }
            TapeKind::Close { account, .. } => assert_eq!(account, "victim"),
            TapeKind::Reset => panic!("no reset was asked for"),
            TapeKind::Tick { .. } => panic!("no tick was asked for"),
        }
    }
    let audit = owner.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    assert!(
        audit.money.accounts_opened > audit.money.accounts,
        "{audit:?}"
    );
    assert!(!owner.status().unwrap().halted);
}

/// Closing frees room in the table: the capacity counts open accounts;
/// a closed one stays on the tape under its name, and its id is refused.
#[test]
fn closed_accounts_make_room_and_read_closed_once_their_slot_is_taken() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = MarketConfig {
        accounts: 1,
        ..MarketConfig::default()
    };
    let market = RedisMarket::create(&parse(&server.unique_address()), &config).unwrap();
    let dollar = market.currency("DOLLAR").unwrap();
    let ana = market.open_account("ana").unwrap();
    market.trade(ana, Side::Buy, dollar, money("2")).unwrap();
    assert!(matches!(
        market.open_account("bob"),
        Err(Error::AccountTableFull { capacity: 1 })
    ));
    assert_eq!(market.close_account("ana").unwrap(), money("972.56"));
    assert!(matches!(
        market.trade(ana, Side::Buy, dollar, money("1")),
        Err(Error::AccountClosed)
    ));
    assert!(matches!(market.portfolio(ana), Err(Error::AccountClosed)));
    assert_eq!(market.find_account("ana").unwrap(), None);
    // Closed, ana is still named while her slot is hers.
    let names: Vec<_> = market
        .tape(10)
        .unwrap()
        .into_iter()
        .map(|row| match row.kind {
            TapeKind::Trade { account, .. } | TapeKind::Close { account, .. } => account,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["ana", "ana"]);
    // bob takes her slot, as on a segment; ana's old id stays refused.
    let bob = market.open_account("bob").unwrap();
    assert_ne!(bob, ana);
    assert!(matches!(market.portfolio(ana), Err(Error::AccountClosed)));
    assert!(matches!(
        market.trade(ana, Side::Buy, dollar, money("1")),
        Err(Error::AccountClosed)
    ));
    let again = market.open_account("ana");
    assert!(matches!(again, Err(Error::AccountTableFull { .. })));
    let kinds: Vec<_> = market
        .tape(10)
        .unwrap()
        .into_iter()
        .map(|row| row.kind)
        .collect();
    assert!(
        matches!(&kinds[..], [TapeKind::Trade { account: a, .. }, TapeKind::Close { account: c, .. }] if a == "(closed)" && c == "(closed)"),
        "{kinds:?}"
    );
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    assert_eq!((audit.money.accounts, audit.money.accounts_opened), (1, 2));
    market.reset().unwrap();
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
    assert_eq!((audit.money.accounts, audit.money.accounts_opened), (1, 1));
    assert!(matches!(
        &market.tape(10).unwrap()[..],
        [row] if row.kind == TapeKind::Reset && row.seq == 3
    ));
}

/// A trade decides from the values its last commit returned, and those go
/// stale when others trade: a decision that would trade on values that are
/// gone loses its check and is made again (here refused, the stock gone),
/// and one that would refuse is made again from a fresh read (here it
/// trades, the balance having grown), so nothing is decided on old values.
#[test]
fn remembered_values_never_decide_a_trade_alone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = MarketConfig {
        currencies: vec![CurrencyConfig {
            name: "C".into(),
            sell: Price::parse("1").unwrap(),
            buy: Price::parse("1").unwrap(),
            stock: money("10"),
        }],
        ..MarketConfig::default()
    };
    let address = server.unique_address();
    let market = RedisMarket::create(&parse(&address), &config).unwrap();
    let other = RedisMarket::attach(&parse(&address)).unwrap();
    let c = market.currency("C").unwrap();
    let ana = market.open_account("ana").unwrap();
    let bob = other.open_account("bob").unwrap();

    // ana's market remembers a stock of 9 after her buy; bob takes 8.
    market.trade(ana, Side::Buy, c, money("1")).unwrap();
    other.trade(bob, Side::Buy, c, money("8")).unwrap();
    let before = market.conflicts();
    let refused = market.trade(ana, Side::Buy, c, money("2"));
    assert!(
        matches!(refused, Err(Error::InsufficientStock { stock, .. }) if stock == money("1")),
        "{refused:?}"
    );
    assert_eq!(market.conflicts(), before + 1, "the guard did not fail");
    assert_eq!(stock(&market, "C"), money("1"));

    // ana's market remembers a stock of 1 and a balance of 999; the owner
    // moves her 10 from the cash and bob sells his 8 back, and a buy of 9,
    // which the remembered stock refuses, goes through on a fresh read.
    market.trade(ana, Side::Sell, c, money("1")).unwrap();
    market.trade(ana, Side::Buy, c, money("1")).unwrap();
    other.transfer_from_cash(ana, money("10")).unwrap();
    other.trade(bob, Side::Sell, c, money("8")).unwrap();
    let before = market.conflicts();
    let bought = market.trade(ana, Side::Buy, c, money("9")).unwrap();
    assert_eq!(bought.balance, money("1000.00"));
    assert_eq!(market.conflicts(), before, "a fresh read is not a conflict");
    let audit = market.audit().unwrap();
    assert!(audit.consistent, "{audit:?}");
}
