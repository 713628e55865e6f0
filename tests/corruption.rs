//! Segments that can no longer be trusted: retired by `exchange-init`,
//! corrupted byte by byte, or truncated under a trader. Each is reported
//! with a clear error (exit status 2 from the trader), never traded on and
//! never a panic, a hang or a signal death.

mod common;

use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use common::{Attached, Backend, Run, Segment, BACKENDS};
use shm_exchange::money::Money;
use shm_exchange::testing::{
    segment_size, state, AccountSlot, CurrencySlot, Header, LockSlot, RedoRecord, TapeEntry,
    HEADER_SIZE,
};
use shm_exchange::{Error, Exchange, SegmentAddress, Side};

fn read_u32(file: &std::fs::File, offset: usize) -> u32 {
    let mut bytes = [0; 4];
    file.read_exact_at(&mut bytes, offset as u64).unwrap();
    u32::from_ne_bytes(bytes)
}

fn read_i64(file: &std::fs::File, offset: usize) -> i64 {
    let mut bytes = [0; 8];
    file.read_exact_at(&mut bytes, offset as u64).unwrap();
    i64::from_ne_bytes(bytes)
}

const STATE: usize = std::mem::offset_of!(Header, state);
const TRADE_SEQ: usize =
    std::mem::offset_of!(Header, lock) + std::mem::offset_of!(LockSlot, trade_seq);
/// The first currency's (DOLLAR's) stock.
const DOLLAR_STOCK: usize =
    std::mem::offset_of!(Header, currencies) + std::mem::offset_of!(CurrencySlot, stock);

#[track_caller]
fn assert_retired_message(text: &str, context: &str) {
    assert!(
        text.contains("was removed or replaced") && text.contains("start the trader again"),
        "{context}: not the retired message: {text}"
    );
}

/// Issue 3: `exchange-init --force` or `--remove` while two traders sit
/// attached. Each one's next command says the exchange was removed or
/// replaced and how to go on, and it exits 2; neither trades on the
/// orphaned segment.
fn retired_while_attached(backend: Backend, how: &str) {
    let context = format!("{backend:?} {how}");
    let segment = Segment::create(backend);
    let mut json = Attached::start(&segment, "alice", &["--json"]);
    let mut text = Attached::start(&segment, "bob", &[]);
    assert_eq!(json.ask_json("buy DOLLAR 1")["ok"], true);
    assert!(text.ask("buy DOLLAR 1").starts_with("bought"), "{context}");
    // Keep the old object open, to look inside it once it is orphaned.
    let old = segment
        .backing_path()
        .map(|path| std::fs::File::open(path).unwrap());

    segment.init(&[how]).success();

    let reply = json.ask_json("buy DOLLAR 5");
    assert_eq!(reply["ok"], false, "{context}: {reply}");
    assert_retired_message(reply["error"].as_str().unwrap(), &context);
    let (status, stderr) = json.wait_exit();
    assert_eq!(
        status.code(),
        Some(2),
        "{context}: alice {status}: {stderr}"
    );

    let reply = text.ask("sell DOLLAR 1");
    assert!(reply.starts_with("error: "), "{context}: {reply}");
    assert_retired_message(&reply, &context);
    let (status, stderr) = text.wait_exit();
    assert_eq!(status.code(), Some(2), "{context}: bob {status}: {stderr}");

    if let Some(old) = old {
        // The orphan is marked retired and holds only the two trades made
        // before it was retired.
        assert_eq!(read_u32(&old, STATE), state::RETIRED, "{context}");
        assert_eq!(read_i64(&old, TRADE_SEQ), 2, "{context}");
        assert_eq!(read_i64(&old, DOLLAR_STOCK), 999_800, "{context}");
    }

    if how == "--force" {
        // The replacement is a fresh market, untouched by the old traders,
        // and starting a trader again uses it.
        let status = segment.init(&["--status", "--json"]).parse_json();
        assert_eq!(status["trades"], 0, "{context}: {status}");
        assert_eq!(status["accounts"], 0, "{context}: {status}");
        assert_eq!(
            status["currencies"][0]["stock"], "10000.00",
            "{context}: {status}"
        );
        let portfolio = segment.json("alice", "portfolio");
        assert_eq!(portfolio["balance"], "1000.00", "{context}: {portfolio}");
        assert_eq!(segment.json("alice", "audit")["consistent"], true);
    } else {
        segment
            .trader("alice", &["portfolio"])
            .status(2)
            .stderr_has("run exchange-init first");
    }
}

#[test]
fn removed_while_traders_are_attached() {
    for backend in BACKENDS {
        retired_while_attached(backend, "--remove");
    }
}

#[test]
fn replaced_while_traders_are_attached() {
    for backend in BACKENDS {
        retired_while_attached(backend, "--force");
    }
}

/// Sizes to shrink a default segment to: nothing, less than a header, just
/// a header, part of the account table, and one byte short.
fn shrunk_sizes() -> Vec<u64> {
    let full = segment_size(64) as u64;
    vec![
        0,
        1,
        HEADER_SIZE as u64 - 1,
        HEADER_SIZE as u64,
        full - 4096,
        full - 1,
    ]
}

fn shrink(segment: &Segment, size: u64) {
    let path = segment.backing_path().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(size)
        .unwrap();
}

#[track_caller]
fn assert_clean_fatal(run: &Run, context: &str) {
    assert_eq!(
        run.output.status.signal(),
        None,
        "{context}: killed by a signal"
    );
    run.status(2);
    let stderr = run.stderr();
    assert!(
        stderr.contains("is not an exchange")
            || stderr.contains("is corrupted")
            // An empty object is what a creator killed before sizing it
            // leaves; the way out, --force, is the same.
            || stderr.contains("left half-created"),
        "{context}: {stderr}"
    );
}

/// Issue 5, before attaching: a segment shrunk after creation is refused
/// on attach (exit 2, one clear line), by the trader, by
/// `exchange-init --status` and by the library, with no SIGBUS.
#[test]
fn shrunk_before_attach_is_refused() {
    for backend in [Backend::Posix, Backend::File] {
        for size in shrunk_sizes() {
            let context = format!("{backend:?} shrunk to {size}");
            let segment = Segment::create(backend);
            shrink(&segment, size);
            let run = segment.trader("alice", &["portfolio"]);
            assert_clean_fatal(&run, &context);
            run.stderr_has(&segment.address);
            let run = segment.script("alice", &[], "portfolio\n");
            assert_eq!(run.output.status.signal(), None, "{context}");
            run.status(2);
            let run = segment.init(&["--status"]);
            assert_clean_fatal(&run, &context);
            match Exchange::attach(&segment.parsed()) {
                Err(Error::NotAnExchange { .. } | Error::Corrupted { .. }) => {}
                Err(Error::HalfCreated { .. }) if size == 0 => {}
                Err(other) => panic!("{context}: unexpected error {other}"),
                Ok(_) => panic!("{context}: attached to a truncated segment"),
            }
        }
    }
}

/// Issue 5, while attached: a scripted trader waits for its next line, the
/// segment is shrunk under it, and its next command reports the shrink
/// (exit 2) instead of touching memory past the new end (SIGBUS).
#[test]
fn shrunk_while_attached_is_reported() {
    for backend in [Backend::Posix, Backend::File] {
        for size in shrunk_sizes() {
            for json in [false, true] {
                let context = format!("{backend:?} shrunk to {size}, json {json}");
                let segment = Segment::create(backend);
                let args: &[&str] = if json { &["--json"] } else { &[] };
                let mut trader = Attached::start(&segment, "alice", args);
                trader.ask("buy DOLLAR 1");
                shrink(&segment, size);
                let reply = trader.ask("buy DOLLAR 1");
                assert!(
                    reply.contains("is corrupted") && reply.contains("shrank"),
                    "{context}: {reply}"
                );
                if json {
                    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
                    assert_eq!(reply["ok"], false, "{context}");
                }
                let (status, stderr) = trader.wait_exit();
                assert_eq!(status.signal(), None, "{context}: died of a signal");
                assert_eq!(status.code(), Some(2), "{context}: {status}: {stderr}");
            }
        }
    }
}

/// Issue 4: byte-level corruption of a copy of a file segment.
mod corrupt {
    use super::*;

    /// One change to the copy's bytes.
    #[derive(Debug, Clone)]
    pub enum Mutation {
        /// Flip one bit.
        Flip { offset: usize, bit: u8 },
        /// Overwrite one byte.
        Byte { offset: usize, value: u8 },
        /// Overwrite an aligned 8-byte word: counts, sizes, money, indices.
        Word { offset: usize, value: i64 },
        /// Overwrite an aligned 4-byte word: states, counts, indices.
        Half { offset: usize, value: u32 },
        /// Publish the redo record naming these slots (`write_seq` ≡ 1
        /// mod 4), as if the owner died mid-change, so opening replays it.
        PendingRecord {
            currency: u32,
            account: u32,
            value: i64,
        },
        /// Publish a trade naming these slots (its tape entry after
        /// `trade_seq`, `write_seq` ≡ 3 mod 4), as if a trader died
        /// mid-trade, so opening replays it.
        PendingTrade {
            currency: u32,
            account: u32,
            value: i64,
        },
    }

    impl Mutation {
        fn span(&self) -> std::ops::Range<usize> {
            match *self {
                Mutation::Flip { offset, .. } | Mutation::Byte { offset, .. } => offset..offset + 1,
                Mutation::Word { offset, .. } => offset..offset + 8,
                Mutation::Half { offset, .. } => offset..offset + 4,
                Mutation::PendingRecord { .. } => {
                    WRITE_SEQ..REDO + std::mem::size_of::<RedoRecord>()
                }
                Mutation::PendingTrade { .. } => WRITE_SEQ..HEADER_SIZE,
            }
        }

        fn apply(&self, file: &std::fs::File) {
            match *self {
                Mutation::Flip { offset, bit } => {
                    let mut byte = [0];
                    file.read_exact_at(&mut byte, offset as u64).unwrap();
                    file.write_all_at(&[byte[0] ^ (1 << bit)], offset as u64)
                        .unwrap();
                }
                Mutation::Byte { offset, value } => {
                    file.write_all_at(&[value], offset as u64).unwrap()
                }
                Mutation::Word { offset, value } => file
                    .write_all_at(&value.to_ne_bytes(), offset as u64)
                    .unwrap(),
                Mutation::Half { offset, value } => file
                    .write_all_at(&value.to_ne_bytes(), offset as u64)
                    .unwrap(),
                Mutation::PendingRecord {
                    currency,
                    account,
                    value,
                } => {
                    let field = |name: usize| (REDO + name) as u64;
                    let write = |bytes: &[u8], at: u64| file.write_all_at(bytes, at).unwrap();
                    write(
                        &currency.to_ne_bytes(),
                        field(std::mem::offset_of!(RedoRecord, currency)),
                    );
                    write(
                        &account.to_ne_bytes(),
                        field(std::mem::offset_of!(RedoRecord, account)),
                    );
                    write(
                        &value.to_ne_bytes(),
                        field(std::mem::offset_of!(RedoRecord, balance)),
                    );
                    publish(file, 1);
                }
                Mutation::PendingTrade {
                    currency,
                    account,
                    value,
                } => {
                    let mut trade_seq = [0; 8];
                    file.read_exact_at(&mut trade_seq, TRADE_SEQ as u64)
                        .unwrap();
                    let seq = u64::from_ne_bytes(trade_seq).wrapping_add(1).max(1);
                    let entry = TAPE + (seq - 1) as usize % 256 * std::mem::size_of::<TapeEntry>();
                    let field = |name: usize| (entry + name) as u64;
                    let write = |bytes: &[u8], at: u64| file.write_all_at(bytes, at).unwrap();
                    write(&seq.to_ne_bytes(), field(0));
                    // A buy, as the tape stores its kind.
                    write(&[1], field(std::mem::offset_of!(TapeEntry, kind)));
                    write(
                        &(currency as u8).to_ne_bytes(),
                        field(std::mem::offset_of!(TapeEntry, currency)),
                    );
                    write(
                        &(account as u16).to_ne_bytes(),
                        field(std::mem::offset_of!(TapeEntry, account)),
                    );
                    write(
                        &value.to_ne_bytes(),
                        field(std::mem::offset_of!(TapeEntry, holding)),
                    );
                    publish(file, 3);
                }
            }
        }
    }

    /// Makes `write_seq` odd with the residue (mod 4) that says where the
    /// pending change's redo is.
    fn publish(file: &std::fs::File, residue: u64) {
        let mut write_seq = [0; 8];
        file.read_exact_at(&mut write_seq, WRITE_SEQ as u64)
            .unwrap();
        let odd = u64::from_ne_bytes(write_seq) | 1;
        let published = if odd % 4 == residue {
            odd
        } else {
            odd.wrapping_add(2)
        };
        file.write_all_at(&published.to_ne_bytes(), WRITE_SEQ as u64)
            .unwrap();
    }

    const REDO: usize = std::mem::offset_of!(Header, redo);
    const FLAGS: usize = std::mem::offset_of!(Header, flags);
    const LOCK: usize = std::mem::offset_of!(Header, lock);
    /// The readers' counter, whose oddness publishes the redo record.
    const WRITE_SEQ: usize = LOCK + std::mem::offset_of!(LockSlot, write_seq);
    /// The mutex's bytes, before the words that share its line.
    const MUTEX_END: usize = LOCK + std::mem::offset_of!(LockSlot, cash);
    const CURRENCIES: usize = std::mem::offset_of!(Header, currencies);
    const TAPE: usize = std::mem::offset_of!(Header, tape);
    const ACCOUNT: usize = std::mem::size_of::<AccountSlot>();
    /// Accounts the template has open.
    const OPEN_ACCOUNTS: usize = 3;
    const SIZE: usize = segment_size(64);

    /// Byte ranges whose contents nothing checks or depends on before it
    /// rewrites them: the mutex (re-initialized by the sole opener), the
    /// idle redo record and the trade redo words on the currencies' lines
    /// (read only while `write_seq` is odd), the tape, the wake-up
    /// counters, where the tape starts, and the unused currency and account
    /// slots. Corrupting only these must leave a market that attaches,
    /// balances and trades.
    fn harmless(span: &std::ops::Range<usize>) -> bool {
        let trade_redo = |index: usize| {
            let line = CURRENCIES + index * std::mem::size_of::<CurrencySlot>();
            line + std::mem::offset_of!(CurrencySlot, trade_cash)
                ..line + std::mem::size_of::<CurrencySlot>()
        };
        let counters = std::mem::offset_of!(Header, watchers) + 4..FLAGS;
        let sequences = FLAGS + 4..std::mem::offset_of!(Header, account_serial);
        let tape_start = std::mem::offset_of!(Header, tape_start);
        let unused_currencies = CURRENCIES + 4 * std::mem::size_of::<CurrencySlot>()..TAPE;
        let ranges = [
            trade_redo(0),
            trade_redo(1),
            trade_redo(2),
            trade_redo(3),
            counters,
            sequences,
            tape_start..tape_start + 8,
            LOCK..MUTEX_END,
            REDO..CURRENCIES,
            unused_currencies,
            TAPE..HEADER_SIZE,
            HEADER_SIZE + OPEN_ACCOUNTS * ACCOUNT..SIZE,
        ];
        ranges
            .iter()
            .any(|range| range.start <= span.start && span.end <= range.end)
    }

    /// Offsets weighted towards what matters: the identity words, the
    /// lock, the redo record, the currencies in use, the open accounts,
    /// and anywhere at all.
    fn offset() -> impl Strategy<Value = usize> {
        prop_oneof![
            2 => 0..LOCK,
            2 => LOCK..REDO,
            2 => REDO..CURRENCIES,
            3 => CURRENCIES..CURRENCIES + 4 * std::mem::size_of::<CurrencySlot>(),
            1 => TAPE..HEADER_SIZE,
            3 => HEADER_SIZE..HEADER_SIZE + OPEN_ACCOUNTS * ACCOUNT,
            1 => HEADER_SIZE + OPEN_ACCOUNTS * ACCOUNT..SIZE,
            1 => 0..SIZE,
        ]
    }

    /// Values that break range checks and arithmetic.
    fn word() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(-1),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(i64::MAX / 10_000),
            Just(17),
            Just(65_537),
            Just(SIZE as i64),
            Just(i64::from(state::RETIRED)),
            any::<i64>(),
        ]
    }

    fn half() -> impl Strategy<Value = u32> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(2),
            Just(3),
            Just(16),
            Just(64),
            Just(65),
            Just(u32::MAX),
            Just(state::READY),
            Just(state::RETIRED),
            any::<u32>(),
        ]
    }

    /// An index into a table with `used` entries in use: in range, just
    /// past the used ones, at the edges of the fixed tables, or anything.
    fn index(used: u32) -> impl Strategy<Value = u32> {
        prop_oneof![
            3 => 0..used,
            1 => Just(used),
            1 => Just(15),
            1 => Just(16),
            1 => Just(63),
            1 => Just(64),
            1 => any::<u32>(),
        ]
    }

    pub fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            3 => (offset(), 0..8u8).prop_map(|(offset, bit)| Mutation::Flip { offset, bit }),
            2 => (offset(), any::<u8>()).prop_map(|(offset, value)| Mutation::Byte { offset, value }),
            3 => (offset(), word()).prop_map(|(offset, value)| Mutation::Word { offset: offset & !7, value }),
            2 => (offset(), half()).prop_map(|(offset, value)| Mutation::Half { offset: offset & !3, value }),
            1 => (index(4), index(3), word()).prop_map(|(currency, account, value)| Mutation::PendingRecord {
                currency,
                account,
                value
            }),
            1 => (index(4), index(3), word()).prop_map(|(currency, account, value)| Mutation::PendingTrade {
                currency,
                account,
                value
            }),
        ]
    }

    static COPIES: AtomicU32 = AtomicU32::new(0);

    /// A mutated copy of the template, under the segment's directory.
    fn corrupted_copy(template: &Path, mutations: &[Mutation]) -> PathBuf {
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let copy = template.with_file_name(format!("copy-{n}"));
        std::fs::copy(template, &copy).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&copy)
            .unwrap();
        for mutation in mutations {
            mutation.apply(&file);
        }
        copy
    }

    /// An error a user can act on: one line, and fatal (exit status 2).
    fn check_attach_error(error: &Error) -> Result<(), String> {
        let message = error.to_string();
        if message.is_empty() || message.contains('\n') || error.is_refusal() {
            return Err(format!("unclear attach error: {message:?}"));
        }
        Ok(())
    }

    /// What the library made of a copy, when it attached.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct View {
        /// `audit` before any trade says the market balances.
        consistent_before: bool,
        /// `audit` after all the trades says it balances.
        consistent_after: bool,
        /// A new account could open and buy 1 DOLLAR.
        new_account_trades: bool,
    }

    impl View {
        const SOUND: View = View {
            consistent_before: true,
            consistent_after: true,
            new_account_trades: true,
        };
    }

    /// Everything a trader can do to the copy, through the library: any
    /// call may fail, but must return. `None` when attaching failed (with
    /// a clear, fatal error).
    fn exercise(address: &SegmentAddress) -> Result<Option<View>, String> {
        let exchange = match Exchange::attach(address) {
            Ok(exchange) => exchange,
            Err(error) => return check_attach_error(&error).map(|()| None),
        };
        let _ = exchange.rates();
        let _ = exchange.status();
        let before = exchange.audit();
        let names: Vec<String> = exchange
            .currencies()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let new_account_trades = exchange
            .open_account("x")
            .and_then(|x| Ok((x, exchange.currency("DOLLAR")?)))
            .and_then(|(x, dollar)| {
                exchange.trade(x, Side::Buy, dollar, Money::from_hundredths(100))
            })
            .is_ok();
        for account in ["x", "alice", "bob"] {
            let Ok(id) = exchange.open_account(account) else {
                continue;
            };
            let _ = exchange.account_name(id);
            let _ = exchange.portfolio(id);
            for name in &names {
                let Ok(currency) = exchange.currency(name) else {
                    continue;
                };
                for (side, amount) in [
                    (Side::Buy, 100),
                    (Side::Sell, 50),
                    (Side::Buy, i64::MAX),
                    (Side::Sell, 1),
                ] {
                    let _ = exchange.trade(id, side, currency, Money::from_hundredths(amount));
                }
            }
            let _ = exchange.portfolio(id);
        }
        let after = exchange.audit();
        let _ = exchange.rates();
        let consistent = |audit: &Result<shm_exchange::domain::Audit, Error>| {
            audit.as_ref().is_ok_and(|audit| audit.consistent)
        };
        let view = View {
            consistent_before: consistent(&before),
            consistent_after: consistent(&after),
            new_account_trades,
        };
        // Trading never turns a balanced market into an unbalanced one.
        if view.consistent_before && !view.consistent_after {
            return Err(format!(
                "trading unbalanced the market: {before:?} then {after:?}"
            ));
        }
        Ok(Some(view))
    }

    /// Runs `exercise` on its own thread, so a hang fails the case instead
    /// of the whole run.
    fn exercise_bounded(address: &SegmentAddress) -> Result<Option<View>, TestCaseError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let address = address.clone();
        let worker = std::thread::spawn(move || {
            let _ = sender.send(exercise(&address));
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(result) => {
                worker.join().unwrap();
                result.map_err(TestCaseError::fail)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
                Err(panic) => Err(TestCaseError::fail(format!(
                    "the library panicked: {}",
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                ))),
                Ok(()) => Err(TestCaseError::fail("the worker vanished")),
            },
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(TestCaseError::fail("the library hung"))
            }
        }
    }

    /// The same corruption through the real trader: it ends with a status
    /// (0, 1 or 2), never a panic (101) or a signal.
    fn run_trader(copy: &Path) -> Result<(), TestCaseError> {
        let mut command = std::process::Command::new(common::TRADER);
        command
            .arg("--segment")
            .arg(format!("file:{}", copy.display()))
            .args(["--name", "alice", "--json"])
            .env_remove("SHM_EXCHANGE_CRASH_AT");
        let run = Run::new(
            command,
            b"rates\nportfolio\naudit\nbuy DOLLAR 1\nsell DOLLAR 1\nbuy EURO 2\naudit\n",
        );
        let status = run.output.status;
        prop_assert!(
            matches!(status.code(), Some(0..=2)),
            "trader ended with {status}\nstdout: {}\nstderr: {}",
            run.stdout(),
            run.stderr()
        );
        for line in run.stdout().lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|error| TestCaseError::fail(format!("bad JSON {line:?}: {error}")))?;
            prop_assert!(value["ok"].is_boolean(), "{line}");
        }
        Ok(())
    }

    /// A file segment with a few accounts, holdings and trades on the tape.
    fn template(segment: &Segment) -> PathBuf {
        segment
            .script("alice", &[], "buy DOLLAR 10\nbuy EURO 3\nsell DOLLAR 2\n")
            .success();
        segment
            .script("bob", &[], "buy POUND 1.5\nbuy STERLIN 7\n")
            .success();
        segment.trader("carol", &["portfolio"]).success();
        match segment.parsed() {
            SegmentAddress::File { path } => path,
            other => panic!("not a file segment: {other}"),
        }
    }

    #[test]
    fn corrupted_copies_give_an_error_or_a_consistent_view() {
        let segment = Segment::create(Backend::File);
        let template = template(&segment);
        assert_eq!(std::fs::metadata(&template).unwrap().len() as usize, SIZE);
        // The unmodified template is sound, through the same checks.
        let pristine = corrupted_copy(&template, &[]);
        let address: SegmentAddress = format!("file:{}", pristine.display()).parse().unwrap();
        assert_eq!(exercise(&address), Ok(Some(View::SOUND)));

        let mut runner = TestRunner::new(Config {
            cases: 128,
            failure_persistence: None,
            ..Config::default()
        });
        let harmless_cases = std::cell::Cell::new(0);
        let refused = std::cell::Cell::new(0);
        let sound = std::cell::Cell::new(0);
        let result = runner.run(&proptest::collection::vec(mutation(), 1..5), |mutations| {
            let copy = corrupted_copy(&template, &mutations);
            let address: SegmentAddress = format!("file:{}", copy.display()).parse().unwrap();
            let outcome = exercise_bounded(&address)?;
            match &outcome {
                None => refused.set(refused.get() + 1),
                Some(view) if *view == View::SOUND => sound.set(sound.get() + 1),
                Some(_) => {}
            }
            if mutations.iter().all(|mutation| harmless(&mutation.span())) {
                harmless_cases.set(harmless_cases.get() + 1);
                prop_assert_eq!(
                    outcome,
                    Some(View::SOUND),
                    "harmless corruption broke the market"
                );
            }
            let second = corrupted_copy(&template, &mutations);
            let outcome = run_trader(&second);
            let _ = std::fs::remove_file(&copy);
            let _ = std::fs::remove_file(&second);
            outcome
        });
        if let Err(error) = result {
            panic!("{error}");
        }
        eprintln!(
            "corruption runs: {} refused on attach, {} sound, {} only touched bytes nothing trusts",
            refused.get(),
            sound.get(),
            harmless_cases.get()
        );
    }
}
