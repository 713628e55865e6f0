//! Stopping an instrument cleanly on SIGINT, SIGTERM or SIGHUP.
//!
//! The board, `follow` and the ticker sleep (on the exchange's futex, or
//! parked) between their steps, so a signal must both raise a flag and wake
//! the sleeper. A signal-hook iterator thread does both with safe code, and
//! the instrument leaves its loop, restoring the terminal on its way out. A
//! second signal while the first is being handled ends the process at once
//! (exit 1), so a stuck instrument can still be stopped.
#![forbid(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

const STOP_SIGNALS: [libc::c_int; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Runs `body` with a flag that SIGINT, SIGTERM or SIGHUP raise, calling
/// `wake` after raising it. `body` checks the flag between its steps.
pub fn until_signalled<T>(
    wake: &(dyn Fn() + Sync),
    body: impl FnOnce(&AtomicBool) -> T,
) -> io::Result<T> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in STOP_SIGNALS {
        signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())?;
    }
    let mut signals = Signals::new(STOP_SIGNALS)?;
    let handle = signals.handle();
    let flag: &AtomicBool = &stop;
    Ok(std::thread::scope(|scope| {
        scope.spawn(move || {
            for _ in signals.forever() {
                flag.store(true, Ordering::Release);
                wake();
            }
        });
        let outcome = body(flag);
        handle.close();
        outcome
    }))
}
