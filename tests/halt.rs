//! No write but the owner's goes past a halt (issue 19), on every store: a
//! student's trade on a halted market is refused and opens no account (an
//! account is a starting balance handed out), a student's read shows their
//! account as not open yet, and the owner still opens one. Resumed, the
//! student's trade opens theirs.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::users::TestUser;
use common::{each_backend, Backend, Run, Segment};

fn a_halted_market_opens_no_account_but_the_owners(backend: Backend) {
    let Some(student) = TestUser::create("ht") else {
        return;
    };
    let segment = Segment::unique(backend);
    if let Some(dir) = segment.dir() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mode: &[&str] = if backend == Backend::Redis {
        &[]
    } else {
        &["--mode", "0666"]
    };
    segment.init(mode).success();
    segment.trader("teacher", &["halt"]).success();
    let as_student = |args: &[&str]| {
        let mut command = segment.trader_command(&student.name);
        command.args(args);
        student.apply(&mut command);
        Run::new(command, b"")
    };
    let names = || -> Vec<String> {
        segment.json("reader", "traders")["traders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["name"].as_str().unwrap().to_owned())
            .collect()
    };

    as_student(&["buy", "DOLLAR", "1"])
        .status(1)
        .stderr_has("trading is halted");
    let read = as_student(&["--json", "portfolio"]).success().parse_json();
    assert_eq!(read["open"], false, "{read}");
    assert_eq!(read["balance"], "1000.00", "{read}");
    assert_eq!(
        names(),
        Vec::<String>::new(),
        "a refused trade opened an account"
    );
    let audit = segment.json("reader", "audit");
    assert_eq!(audit["consistent"], true, "{audit}");
    assert_eq!(audit["money"]["accounts_opened"], 0, "{audit}");

    // The owner (root here) still opens one on a halted market.
    segment.trader("teacher", &["portfolio"]).success();
    assert_eq!(names(), vec!["teacher".to_owned()]);

    segment.trader("teacher", &["resume"]).success();
    as_student(&["buy", "DOLLAR", "1"]).success();
    assert!(names().contains(&student.name), "{:?}", names());
}

each_backend!(a_halted_market_opens_no_account_but_the_owners);
