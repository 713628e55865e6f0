//! `trader --trace`: the system calls and protocol steps behind each
//! command, for a lesson on what happens underneath (shm_open, mmap, the
//! header checks, the lock and how long it waited, the redo record
//! published, applied and cleared, the unlock, the wake-up).
//!
//! Off by default, and then it costs the hot path one `Relaxed` load of a
//! global flag and a branch predicted not taken: the [`trace!`] macro
//! formats nothing unless tracing is on, and the emitting function is
//! `#[cold]` and never inlined, so its code stays out of the trade path.
//! The text goes to a sink the binary installs (stderr for `trader`); the
//! library never writes to a stream of its own accord.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Where trace lines go: set once by the binary, replaced by tests.
type Sink = Box<dyn FnMut(&str) + Send>;
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Sends every trace line to `sink`, one call a line, from now on.
pub fn enable(sink: impl FnMut(&str) + Send + 'static) {
    let mut slot = SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(Box::new(sink));
    ENABLED.store(true, Ordering::Relaxed);
}

/// Stops tracing and drops the sink.
pub fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
    let mut slot = SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = None;
}

/// Whether tracing is on: the only cost of a trace point when it is off.
#[inline(always)]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The time now, only when tracing (to time a wait without a clock read
/// on the untraced path).
#[inline(always)]
pub fn start_timer() -> Option<Instant> {
    if enabled() {
        Some(Instant::now())
    } else {
        None
    }
}

/// Formats and sends one line; call it through [`trace!`].
#[cold]
#[inline(never)]
pub fn emit(args: fmt::Arguments<'_>) {
    let line = format!("trace: {args}");
    let mut slot = SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sink) = slot.as_mut() {
        sink(&line);
    }
}

/// A duration as a person reads it: nanoseconds, microseconds or
/// milliseconds, whichever fits.
pub fn human(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{} µs", nanos / 1_000)
    } else {
        format!("{} ms", nanos / 1_000_000)
    }
}

/// One trace line, formatted only when tracing is on:
/// `trace!("shm_open({name:?}) = fd {fd}")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::trace::enabled() {
            $crate::trace::emit(format_args!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(human(Duration::from_nanos(850)), "850 ns");
        assert_eq!(human(Duration::from_micros(42)), "42 µs");
        assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
    }

    #[test]
    fn lines_reach_the_sink_only_while_enabled() {
        let lines = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        // Other tests in this process may trace meanwhile: look only for
        // this test's own line.
        let mine = |lines: &[String]| lines.iter().any(|line| line.contains("sink-test 7"));
        crate::trace!("sink-test {}", 6);
        enable(move |line| seen.lock().unwrap().push(line.to_owned()));
        crate::trace!("sink-test {}", 7);
        disable();
        crate::trace!("sink-test {}", 8);
        let lines = lines.lock().unwrap();
        assert!(mine(&lines), "{lines:?}");
        assert!(lines
            .iter()
            .all(|line| !line.contains("sink-test 6") && !line.contains("sink-test 8")));
        assert!(lines.iter().any(|line| line == "trace: sink-test 7"));
    }
}
