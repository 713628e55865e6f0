//! `trader follow [--json]`: every trade and instructor action as it
//! happens, one line (or one JSON object) each, like `tail -f`.
//!
//! It sleeps on the change counter between looks at the tape (a futex on a
//! segment, pub/sub on Redis), so it never polls and never slows trading. When more than the tape holds went
//! by between two looks (the process was stopped, say), it says how many
//! it missed. SIGINT, SIGTERM and SIGHUP end it cleanly; a removed or
//! replaced exchange ends it with the usual error and exit 2.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::time::Duration;

use shm_exchange::follow::{event_json, event_line, Follower};
use shm_exchange::{ExitStatus, Market, Result};

use crate::stop::until_signalled;

/// Longest sleep between looks, so a removal is noticed even if its
/// wake-up were ever missed.
const IDLE_LOOK: Duration = Duration::from_secs(1);

/// Prints the tape's new entries until stopped.
pub fn run_follow(exchange: &dyn Market, json: bool) -> Result<ExitStatus> {
    let mut follower = Follower::from_now(exchange)?;
    eprintln!(
        "following {} from entry #{}; Ctrl-C stops",
        exchange.address(),
        follower.next_seq()
    );
    let wake = || exchange.wake_watchers();
    let outcome = until_signalled(&wake, |stop| {
        let mut stdout = io::stdout().lock();
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            // Read the counter before the look: a change made meanwhile
            // makes the wait return at once.
            let seen = exchange.change_seq();
            exchange.check_backing()?;
            let mut printed = Ok(());
            for event in follower.poll(exchange)? {
                let line = if json {
                    event_json(&event)
                } else {
                    event_line(&event)
                };
                printed = printed.and_then(|()| writeln!(stdout, "{line}"));
            }
            // Nobody reads any more (`follow | head`): stop quietly.
            if printed.and_then(|()| stdout.flush()).is_err() {
                break;
            }
            exchange.wait_for_change(seen, IDLE_LOOK);
        }
        Ok(ExitStatus::Success)
    });
    outcome.unwrap_or_else(|error| {
        Err(shm_exchange::Error::Os {
            address: exchange.address().to_string(),
            what: "installing the signal handlers",
            source: error,
        })
    })
}
