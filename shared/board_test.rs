//! The board's layout on synthetic markets of every shape, and one real
//! exchange.

use super::*;
use crate::domain::Status;
use crate::{Exchange, MarketConfig, Money, SegmentAddress, Side, Store};

fn price(text: &str) -> Price {
    Price::parse(text).unwrap()
}

fn rate(name: &str, sell: &str, buy: &str) -> Rate {
    Rate {
        name: name.into(),
        sell: price(sell),
        buy: price(buy),
        stock: Money::from_hundredths(1_000_000),
    }
}

fn portfolio(name: &str, net_worth: i64) -> Portfolio {
    let net_worth = Money::from_hundredths(net_worth);
    let start = Money::from_hundredths(100_000);
    Portfolio {
        name: name.into(),
        balance: net_worth,
        holdings: vec![("DOLLAR".into(), Money::from_hundredths(150))],
        values: vec![("DOLLAR".into(), Money::ZERO.into())],
        net_worth: net_worth.into(),
        starting_balance: start,
        profit: net_worth.checked_sub(start).unwrap().into(),
    }
}

/// Mostly trades, with a price move every fifth entry.
fn entry(seq: u64, account: &str) -> TapeRow {
    let kind = if seq % 5 == 0 {
        TapeKind::Price {
            currency: "STERLIN".into(),
            sell: price("24.5520"),
            buy: price("24.5510"),
        }
    } else {
        TapeKind::Trade {
            account: account.into(),
            side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
            currency: "STERLIN".into(),
            amount: Money::from_hundredths(123_456_789),
            price: price("24.5520"),
            total: Money::from_hundredths(3_031_111_111),
        }
    };
    TapeRow { seq, kind }
}

/// A market of `currencies` currencies, `accounts` accounts with names of
/// `name_len` characters, and a full tape.
fn snapshot(currencies: usize, accounts: usize, name_len: usize) -> Snapshot {
    let name = |index: usize| format!("{index:0>width$}", width = name_len);
    Snapshot {
        round_end: None,
        status: Status {
            address: "posix:/a-classroom-exchange-with-a-long-name".into(),
            size: 1,
            mode: "0600".into(),
            owner_uid: 0,
            attached: None,
            layout_version: 4,
            accounts: accounts as u32,
            account_capacity: 64,
            cash: Money::from_hundredths(100_000_000),
            trades: 300,
            unlocked_trades: 0,
            halted: false,
            currencies: (0..currencies)
                .map(|index| rate(&format!("CURRENCY{index:02}"), "24.5520", "24.5510"))
                .collect(),
        },
        leaders: (0..accounts)
            .map(|index| portfolio(&name(index), 200_000 - index as i64 * 1_000))
            .collect(),
        stress: Vec::new(),
        tape: (1..=TAPE_LEN as u64)
            .rev()
            .map(|seq| entry(seq, &name(seq as usize % accounts.max(1))))
            .collect(),
    }
}

fn strip_colour(line: &str) -> String {
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|code| code.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

#[track_caller]
fn assert_fits(lines: &[String], size: Size) {
    assert!(
        lines.len() <= size.height,
        "{} rows: {lines:#?}",
        lines.len()
    );
    for line in lines {
        assert!(
            visible_width(line) <= size.width,
            "{} columns: {line:?}",
            visible_width(line)
        );
    }
}

#[track_caller]
fn assert_market_shows(lines: &[String], currencies: usize) {
    assert!(
        strip_colour(&lines[0]).starts_with("shm-exchange "),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|line| line.starts_with("CURRENCY ")));
    for index in 0..currencies {
        let name = format!("CURRENCY{index:02}");
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with(&name) && line.ends_with("10000.00")),
            "{name} or its stock is missing: {lines:#?}"
        );
    }
}

const SMALL: Size = Size {
    width: 80,
    height: 24,
};
const BIG: Size = Size {
    width: 200,
    height: 50,
};

#[test]
fn at_80x24_the_title_rates_and_stock_show_and_the_rest_is_filled() {
    let lines = Board::new(TAPE_LEN).lay_out(&snapshot(4, 10, 31), SMALL, false);
    assert_fits(&lines, SMALL);
    assert_market_shows(&lines, 4);
    assert_eq!(lines.len(), SMALL.height, "{lines:#?}");
    let leaders = lines.iter().position(|line| line == "LEADERS").unwrap();
    let trades = lines.iter().position(|line| line == LATEST).unwrap();
    assert!(lines[leaders + 1].contains("NET WORTH"));
    assert!(lines[leaders + 2].contains("00000000000…"), "{lines:#?}");
    assert!(lines[trades + 1].starts_with("SEQ") || lines[trades + 1].contains("SEQ"));
    assert!(
        lines[trades + 2].contains("256"),
        "newest first: {lines:#?}"
    );
}

#[test]
fn at_200x50_the_board_uses_the_room() {
    let lines = Board::new(TAPE_LEN).lay_out(&snapshot(4, 10, 31), BIG, false);
    assert_fits(&lines, BIG);
    assert_market_shows(&lines, 4);
    assert_eq!(lines.len(), BIG.height);
    // Every leader, with whole names and their holdings.
    assert!(lines.iter().any(|line| line.contains(&"0".repeat(31))));
    assert!(lines.iter().any(|line| line.contains("HOLDINGS")));
    assert!(lines.iter().any(|line| line.contains("1.50 DOLLAR")));
}

#[test]
fn sixteen_currencies_still_fit_80x24() {
    let lines = Board::new(TAPE_LEN).lay_out(&snapshot(16, 64, 31), SMALL, false);
    assert_fits(&lines, SMALL);
    assert_market_shows(&lines, 16);
}

#[test]
fn every_size_fits_and_keeps_the_title() {
    let market = snapshot(4, 3, 20);
    for width in [1, 20, 40, 79, 80, 81, 120, 300] {
        for height in [1, 2, 7, 8, 12, 13, 24, 60] {
            let size = Size { width, height };
            for colour in [false, true] {
                let lines = Board::new(TAPE_LEN).lay_out(&market, size, colour);
                assert_fits(&lines, size);
                let title = strip_colour(&lines[0]);
                assert!(
                    !title.is_empty()
                        && "shm-exchange posix:/".starts_with(&title[..title.len().min(20)]),
                    "{size:?}: the title is gone: {lines:#?}"
                );
            }
        }
    }
}

#[test]
fn an_empty_market_says_so() {
    let mut market = snapshot(4, 0, 5);
    market.tape.clear();
    let lines = Board::new(TAPE_LEN).lay_out(&market, SMALL, false);
    assert_fits(&lines, SMALL);
    let trades = lines.iter().position(|line| line == LATEST).unwrap();
    assert_eq!(lines[trades + 1], "(no trades yet)");
    let leaders = lines.iter().position(|line| line == "LEADERS").unwrap();
    assert_eq!(lines[leaders + 1], "(none yet)");
}

#[test]
fn quotes_show_their_last_move_until_the_next() {
    let mut board = Board::new(TAPE_LEN);
    let rates = |sell: &str, buy: &str| vec![rate("DOLLAR", sell, buy)];
    let dollar_line = |board: &Board, colour: bool| {
        let mut market = snapshot(1, 1, 3);
        market.status.currencies = board
            .quotes
            .iter()
            .map(|(name, sell, buy)| Rate {
                name: name.clone(),
                sell: *sell,
                buy: *buy,
                stock: Money::ZERO,
            })
            .collect();
        board
            .lay_out(&market, SMALL, colour)
            .into_iter()
            .find(|line| line.contains("DOLLAR"))
            .unwrap()
    };
    board.note_quotes(&rates("13.72", "13.40"));
    assert!(!dollar_line(&board, false).contains('▲'));
    board.note_quotes(&rates("13.80", "13.48"));
    let up = format!("▲ {}", price("0.08"));
    assert!(dollar_line(&board, false).contains(&up));
    board.note_quotes(&rates("13.80", "13.48"));
    assert!(dollar_line(&board, false).contains(&up), "kept");
    board.note_quotes(&rates("13.70", "13.38"));
    assert!(dollar_line(&board, false).contains(&format!("▼ {}", price("0.10"))));
    let coloured = dollar_line(&board, true);
    let red = format!("\x1b[31m{}\x1b[0m", price("13.70"));
    assert!(coloured.contains(&red), "{coloured:?}");
}

#[test]
fn colour_only_when_asked() {
    let market = snapshot(4, 5, 8);
    let plain = Board::new(TAPE_LEN).lay_out(&market, BIG, false);
    assert!(plain.iter().all(|line| !line.contains('\x1b')));
    let coloured = Board::new(TAPE_LEN).lay_out(&market, BIG, true);
    assert!(
        coloured.iter().any(|line| line.contains("\x1b[32m")),
        "gains"
    );
    assert_fits(&coloured, BIG);
}

#[test]
fn fitting_counts_only_visible_characters() {
    assert_eq!(fit_width("abcdef", 3), "abc");
    assert_eq!(fit_width("ab", 3), "ab");
    assert_eq!(fit_width("▲ 1", 2), "▲ ");
    assert_eq!(fit_width("\x1b[32mgreen\x1b[0m", 3), "\x1b[32mgre\x1b[0m");
    assert_eq!(fit_width("\x1b[32mab\x1b[0m", 2), "\x1b[32mab\x1b[0m");
    assert_eq!(visible_width("\x1b[1;31merror\x1b[0m: x"), 8);
}

#[test]
fn a_real_exchange_on_the_board() {
    let address: SegmentAddress = format!("posix:/shmx-board-{}", std::process::id())
        .parse()
        .unwrap();
    struct Remove<'a>(&'a SegmentAddress);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = Exchange::remove(self.0);
        }
    }
    let exchange =
        Store::Segment(Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap());
    let _remove = Remove(&address);
    let empty = board(exchange.market(), 120, 40).unwrap();
    assert!(empty.contains("trades 0, moves 0"), "{empty}");
    assert!(
        empty.contains(&format!("{LATEST}\n(no trades yet)")),
        "{empty}"
    );

    // A race ran first, on a market of stress accounts only, as the
    // library insists; the class came after.
    let stress = exchange.open_account("stress-0").unwrap();
    let euro = exchange.currency("EURO").unwrap();
    exchange
        .unlocked_demo()
        .unwrap()
        .trade(stress, Side::Buy, euro, Money::from_hundredths(100))
        .unwrap();
    let ann = exchange.open_account("ann").unwrap();
    let bob = exchange.open_account("bob").unwrap();
    let pound = exchange.currency("POUND").unwrap();
    exchange
        .trade(ann, Side::Buy, pound, Money::from_hundredths(250))
        .unwrap();
    exchange
        .trade(ann, Side::Sell, pound, Money::from_hundredths(100))
        .unwrap();
    exchange
        .trade(bob, Side::Buy, pound, Money::from_hundredths(100))
        .unwrap();
    let text = board(exchange.market(), 120, 40).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("trades 3 + 1 UNLOCKED, moves 0"),
        "{text}"
    );
    // The race's account takes a slot, but is no leader.
    assert!(lines[0].contains("accounts 3/64"), "{text}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("POUND") && line.contains("33.25")),
        "{text}"
    );
    // bob lost one spread, ann two: bob leads.
    let leaders = text.split("LEADERS\n").nth(1).unwrap();
    let rows: Vec<&str> = leaders.lines().collect();
    assert!(rows[1].contains("1  bob"), "{text}");
    assert!(rows[2].contains("2  ann"), "{text}");
    let trades = text.split(&format!("{LATEST}\n")).nth(1).unwrap();
    let rows: Vec<&str> = trades.lines().collect();
    assert!(rows[0].trim_start().starts_with("SEQ"), "{text}");
    assert!(rows[1].contains("bob") && rows[1].contains("buy"), "{text}");
    assert!(
        rows[2].contains("sell") && rows[2].contains("33.24"),
        "{text}"
    );
    assert!(
        rows[3].contains("buy") && rows[3].contains("83.13"),
        "{text}"
    );

    // The race demonstration's account is summed apart, not a leader; the
    // owner's price and halt are on the tape, and the title says HALTED.
    let dollar = exchange.currency("DOLLAR").unwrap();
    exchange
        .set_price(dollar, price("14.10"), price("13.80"))
        .unwrap();
    exchange.halt().unwrap();
    let text = board(exchange.market(), 120, 40).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("HALTED"), "{text}");
    assert!(
        lines[0].contains("trades 3 + 1 UNLOCKED, moves 2"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("stress: 1 account, balances "),
        "{text}"
    );
    let leaders = text.split("LEADERS\n").nth(1).unwrap();
    assert!(!leaders.contains("stress-0"), "{text}");
    // The trades first, the owner's actions on a line of their own.
    let tape = text.split(&format!("{LATEST}\n")).nth(1).unwrap();
    let rows: Vec<&str> = tape.lines().collect();
    assert!(rows[1].contains("bob") && rows[1].contains("buy"), "{text}");
    assert_eq!(
        rows.last().unwrap(),
        &"owner: #5 halt; #4 price DOLLAR sell 14.10 buy 13.80",
        "{text}"
    );

    // A reset starts the title's counts again, the race's count too.
    exchange.resume().unwrap();
    exchange.reset().unwrap();
    let text = board(exchange.market(), 120, 40).unwrap();
    assert!(
        text.lines().next().unwrap().contains("trades 0, moves 0"),
        "{text}"
    );
    assert!(!text.contains("UNLOCKED"), "{text}");
}

/// A ticker's flood of moves never pushes the students' trades out of
/// view at 80x24, and the title counts them apart.
#[test]
fn a_ticker_keeps_the_trades_in_view_and_the_title_counts_apart() {
    let mut market = snapshot(4, 3, 8);
    let trades = [1_u64, 2, 3].map(|seq| entry(seq, "ana"));
    let ticks = (4..=203).map(|seq| TapeRow {
        seq,
        kind: TapeKind::Tick { moves: 4 },
    });
    market.tape = trades.into_iter().chain(ticks).rev().collect();
    let mut board = Board::new(TAPE_LEN);
    board.note(&market);
    let lines = board.lay_out(&market, SMALL, false);
    assert_fits(&lines, SMALL);
    assert!(lines[0].contains("trades 3, moves 200"), "{lines:#?}");
    let section = lines.iter().position(|line| line == LATEST).unwrap();
    for seq in 1..=3 {
        assert!(
            lines[section..]
                .iter()
                .any(|line| line.trim_start().starts_with(&format!("{seq} "))),
            "trade #{seq} scrolled away: {lines:#?}"
        );
    }
    assert_eq!(
        lines.last().unwrap(),
        "owner: #203 tick, 4 quotes moved; #202 tick, 4 quotes moved",
        "{lines:#?}"
    );
}

#[test]
fn the_tally_counts_new_entries_once_and_starts_again_at_a_reset() {
    let mut tally = Tally::default();
    let tick = |seq| TapeRow {
        seq,
        kind: TapeKind::Tick { moves: 2 },
    };
    let mut tape: Vec<TapeRow> = vec![entry(1, "ana"), entry(2, "ana"), tick(3)];
    tape.reverse();
    tally.note(&tape);
    tally.note(&tape);
    assert_eq!((tally.trades, tally.moves), (2, 1));
    // After a reset the tape starts with it.
    let tape = vec![
        entry(6, "ana"),
        tick(5),
        TapeRow {
            seq: 4,
            kind: TapeKind::Reset,
        },
    ];
    tally.note(&tape);
    assert_eq!((tally.trades, tally.moves), (1, 1));
}

#[test]
fn sparklines_scale_to_what_they_show() {
    assert_eq!(sparkline(&[], 10), "");
    assert_eq!(sparkline(&[5, 5, 5], 10), "▁▁▁");
    assert_eq!(sparkline(&[0, 7, 14], 10), "▁▄█");
    assert_eq!(sparkline(&[100, 0, 7, 14], 3), "▁▄█", "only the last 3");
    assert_eq!(sparkline(&[i128::MIN, i128::MAX], 2), "▁█");
}

/// A wide board draws each currency's price and each leader's net worth
/// over time; 80 columns keep to what they showed.
#[test]
fn a_wide_board_draws_prices_and_net_worth_over_time() {
    let mut market = snapshot(4, 3, 8);
    let mut board = Board::new(TAPE_LEN);
    for step in 0..30_i64 {
        let sell = format!("{}.5520", 24 + step % 5);
        market.status.currencies = (0..4)
            .map(|index| rate(&format!("CURRENCY{index:02}"), &sell, "20.00"))
            .collect();
        market.leaders[0].net_worth = Money::from_hundredths(200_000 + step * 100).into();
        board.note(&market);
    }
    let wide = board.lay_out(&market, BIG, false);
    assert_fits(&wide, BIG);
    let header = wide
        .iter()
        .find(|line| line.starts_with("CURRENCY "))
        .unwrap();
    assert!(header.contains(PRICE_HISTORY), "{wide:#?}");
    let dollar = wide
        .iter()
        .find(|line| line.starts_with("CURRENCY00"))
        .unwrap();
    assert!(dollar.contains("▁▂▄▆█▁"), "{wide:#?}");
    assert!(
        wide.iter().any(|line| line.contains(WORTH_HISTORY)),
        "{wide:#?}"
    );
    let small = board.lay_out(&market, SMALL, false);
    assert_fits(&small, SMALL);
    assert!(small.iter().all(|line| !line.contains('▁')), "{small:#?}");
}

#[test]
fn halted_always_shows_in_the_title() {
    let mut market = snapshot(4, 3, 8);
    market.status.halted = true;
    for width in [20, 40, 80, 200] {
        let size = Size { width, height: 24 };
        for colour in [false, true] {
            let lines = Board::new(TAPE_LEN).lay_out(&market, size, colour);
            assert_fits(&lines, size);
            assert!(strip_colour(&lines[0]).contains("HALTED"), "{lines:#?}");
        }
    }
    market.status.halted = false;
    let lines = Board::new(TAPE_LEN).lay_out(&market, BIG, false);
    assert!(!lines[0].contains("HALTED"), "{lines:#?}");
}
