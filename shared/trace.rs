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
//!
//! A sink can block (stderr on a pipe nobody reads), and whoever runs the
//! trader controls it. So nothing reaches the sink while this thread holds
//! the market's lock or a first-opener lock exclusively: those sections
//! [`hold`] the lines, which go into a buffer reserved before the section
//! (formatting into it allocates nothing) and reach the sink when the
//! section is over. A section that traces more than the buffer holds
//! loses the excess, and says how many lines it lost.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes of trace a held section can keep: a trade's lines take about a
/// kilobyte.
const HELD_BYTES: usize = 16 * 1024;

/// The lines of this thread's held sections.
struct Held {
    /// Sections entered and not left: lines are kept while it is not 0.
    depth: u32,
    /// The kept lines, each ending in a newline; its capacity, reserved
    /// before a section is entered, is never exceeded.
    lines: String,
    /// Lines that did not fit.
    dropped: u32,
}

thread_local! {
    static HELD: RefCell<Held> = const {
        RefCell::new(Held {
            depth: 0,
            lines: String::new(),
            dropped: 0,
        })
    };
}

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

/// Formats and sends one line, or keeps it while a section is held; call
/// it through [`trace!`].
#[cold]
#[inline(never)]
pub fn emit(args: fmt::Arguments<'_>) {
    let kept = HELD.with_borrow_mut(|held| {
        if held.depth == 0 {
            return false;
        }
        let start = held.lines.len();
        let mut room = Bounded(&mut held.lines);
        if writeln!(room, "trace: {args}").is_err() {
            held.lines.truncate(start);
            held.dropped = held.dropped.saturating_add(1);
        }
        true
    });
    if !kept {
        send(&format!("trace: {args}"));
    }
}

fn send(line: &str) {
    let mut slot = SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sink) = slot.as_mut() {
        sink(line);
    }
}

/// A `String` that refuses to grow past its capacity: formatting into it
/// never allocates.
struct Bounded<'a>(&'a mut String);

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.0.len() + text.len() > self.0.capacity() {
            return Err(fmt::Error);
        }
        self.0.push_str(text);
        Ok(())
    }
}

/// Keeps this thread's trace lines back until the returned value is
/// dropped: taken before the lock (or a first-opener lock held
/// exclusively) and dropped after it is released, so that the lines
/// traced inside reach the sink only then. When tracing is off this is
/// one branch here and one at the drop. Sections nest.
#[inline(always)]
pub fn hold() -> Holding {
    let held = enabled();
    if held {
        enter();
    }
    Holding {
        held: Section::from(held),
        _not_send: PhantomData,
    }
}

/// [`hold`] on a path compiled twice (see [`trace_if!`]): nothing at all
/// on the copy that never traces.
#[inline(always)]
pub fn hold_if(traced: bool) -> Holding {
    if traced {
        hold()
    } else {
        Holding {
            held: Section::No,
            _not_send: PhantomData,
        }
    }
}

/// A held section of trace lines: see [`hold`].
#[must_use = "the lines are held only while this lives"]
pub struct Holding {
    /// Whether the section was entered, so that it is left exactly once
    /// even if tracing is switched meanwhile.
    held: Section,
    // Left on the thread that held the lines.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Holding {
    #[inline(always)]
    fn drop(&mut self) {
        if self.held == Section::Yes {
            leave();
        }
    }
}

/// Whether a [`Holding`] entered a section. Word-sized on purpose, like the
/// lock guard's fields: where the compiler moves a `Locked` through
/// memory, a one-byte flag stored there and copied as part of a wider
/// word stalls the copy (store-to-load forwarding fails).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Section {
    No,
    Yes,
}

impl From<bool> for Section {
    #[inline(always)]
    fn from(held: bool) -> Section {
        if held {
            Section::Yes
        } else {
            Section::No
        }
    }
}

/// Enters a held section, reserving the buffer now (outside the lock).
#[cold]
#[inline(never)]
fn enter() {
    HELD.with_borrow_mut(|held| {
        held.depth += 1;
        held.lines
            .reserve(HELD_BYTES.saturating_sub(held.lines.len()));
    });
}

/// Leaves a held section; the outermost sends the kept lines to the sink.
#[cold]
#[inline(never)]
fn leave() {
    let (lines, dropped) = HELD.with_borrow_mut(|held| {
        held.depth = held.depth.saturating_sub(1);
        if held.depth > 0 {
            return (String::new(), 0);
        }
        (
            std::mem::take(&mut held.lines),
            std::mem::take(&mut held.dropped),
        )
    });
    for line in lines.lines() {
        send(line);
    }
    if dropped > 0 {
        send(&format!(
            "trace: ({dropped} more lines here did not fit the {HELD_BYTES}-byte buffer)"
        ));
    }
    // Give the buffer back, emptied, so the next section reuses it.
    HELD.with_borrow_mut(|held| {
        if held.lines.is_empty() {
            let mut lines = lines;
            lines.clear();
            held.lines = lines;
        }
    });
}

/// A duration as a person reads it: nanoseconds, microseconds or
/// milliseconds, whichever fits. Formatting it allocates nothing, so it
/// may be traced under the lock.
pub fn human(duration: Duration) -> Human {
    Human(duration)
}

/// See [`human`].
pub struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos < 10_000 {
            write!(f, "{nanos} ns")
        } else if nanos < 10_000_000 {
            write!(f, "{} µs", nanos / 1_000)
        } else {
            write!(f, "{} ms", nanos / 1_000_000)
        }
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

/// [`trace!`] on a path the compiler builds twice, once with `$traced`
/// true and once false (a const generic, chosen by one check of
/// [`enabled`] at its entry, as the trade does): the quiet copy holds no
/// check at all.
#[macro_export]
macro_rules! trace_if {
    ($traced:expr, $($arg:tt)*) => {
        if $traced {
            $crate::trace!($($arg)*);
        }
    };
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The tests that turn tracing on and off, one at a time: the switch
    /// and the sink are global.
    pub(crate) static SWITCH: Mutex<()> = Mutex::new(());

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(human(Duration::from_nanos(850)).to_string(), "850 ns");
        assert_eq!(human(Duration::from_micros(42)).to_string(), "42 µs");
        assert_eq!(human(Duration::from_millis(1500)).to_string(), "1500 ms");
    }

    #[test]
    fn lines_reach_the_sink_only_while_enabled() {
        let _switch = SWITCH
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
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

    #[test]
    fn held_lines_reach_the_sink_only_when_the_section_ends() {
        let _switch = SWITCH
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lines = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let mine = |lines: &Mutex<Vec<String>>| {
            lines
                .lock()
                .unwrap()
                .iter()
                .filter(|line| line.contains("held-test"))
                .cloned()
                .collect::<Vec<_>>()
        };
        enable(move |line| seen.lock().unwrap().push(line.to_owned()));
        let outer = hold();
        crate::trace!("held-test 1");
        let inner = hold();
        crate::trace!("held-test 2");
        drop(inner);
        assert!(mine(&lines).is_empty(), "sent inside the outer section");
        let long = "x".repeat(HELD_BYTES);
        crate::trace!("held-test {long}");
        crate::trace!("held-test 3");
        drop(outer);
        assert_eq!(
            mine(&lines),
            [
                "trace: held-test 1",
                "trace: held-test 2",
                "trace: held-test 3"
            ]
        );
        assert!(
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.starts_with("trace: (1 more lines here did not fit")),
            "the dropped line is counted"
        );
        disable();
    }
}
