//! `exchange-lab bench --redis-only --quick`: the Redis rows alone, the product's
//! store beside the all-Lua trade on the same server at 1, 2, 4 and 8
//! clients, each with its round trips and retries per trade from the
//! server's counters, and the 8-against-1 ratio. Figures are never judged
//! here: performance is measured in benchmarks, not in timed tests.

mod common;

use std::process::Command;

use common::{Run, LAB};

#[test]
fn the_redis_rows_show_the_store_beside_the_all_lua_trade() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let mut command = Command::new(LAB);
    command.args(["bench", "--redis-only", "--quick", "--json"]);
    let run = Run::within(command, b"", std::time::Duration::from_secs(600));
    // One JSON object a row as it is measured, then the whole table.
    let stdout = run.success().stdout();
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let rows = report["rows"].as_array().unwrap();
    let row = |label: &str| {
        rows.iter()
            .find(|row| row["label"] == label)
            .unwrap_or_else(|| panic!("no row {label:?}: {report}"))
    };
    for procs in ["1 process", "2 processes", "4 processes", "8 processes"] {
        let store = row(&format!("(e) Redis, {procs}"));
        let note = store["note"].as_str().unwrap();
        assert!(note.contains("x the all-Lua trade"), "{note}");
        assert!(note.contains("round trips and"), "{note}");
        assert!(note.contains("retries per trade"), "{note}");
        assert!(
            store["value"].as_str().unwrap().ends_with("trades/s"),
            "{store}"
        );
        let anchor = row(&format!("    all-Lua trade, same server, {procs}"));
        assert!(
            anchor["note"]
                .as_str()
                .unwrap()
                .contains("round trips per trade"),
            "{anchor}"
        );
    }
    let scaling = row("    Redis store, 8 clients against 1");
    assert!(
        scaling["value"].as_str().unwrap().ends_with('x'),
        "{scaling}"
    );
    // Only the Redis rows: nothing of shared memory's.
    assert!(
        rows.iter()
            .all(|row| !row["label"].as_str().unwrap().contains("stress")),
        "{report}"
    );
}
