//! A process that maps a segment dies of SIGBUS if another process shrinks
//! the object and it then touches a page past the new end. That cannot be
//! prevented (the owner may ftruncate its own object), only detected: the
//! trader checks the size before every command, but a page can vanish in
//! the middle of one. So the binaries install, once, a SIGBUS handler
//! ([`install_sigbus_handler`]) that turns the signal into what any other
//! unusable exchange gets: one line on stderr and exit status 2, with the
//! terminal put back the way it was found.
//!
//! Only a SIGBUS the kernel raised for an address inside one of this
//! process's segment mappings is that: each mapping registers its range
//! here (a fixed table of atomics, which the handler reads without a
//! lock). Any other SIGBUS (`kill -BUS`, another library's mmap) gets the
//! default action, death by SIGBUS, as if no handler were installed. The
//! library installs nothing itself: a program that links it keeps its
//! own signal dispositions unless it opts in.
//!
//! The handler may only call async-signal-safe functions: `write(2)`,
//! `tcsetattr`, `sigaction`, `raise` and `_exit`. So whoever puts the
//! terminal in raw mode first saves its mode here ([`remember_terminal`]),
//! field by field in plain atomics the handler can read without a lock.

use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

/// What the handler writes: the cause and the way out, on one line.
const MESSAGE: &[u8] = b"error: the exchange's segment was truncated under this process by another one (SIGBUS); recreate it with exchange-init --force\n";

/// Leave the alternate screen, show the cursor.
const LEAVE_SCREEN: &[u8] = b"\x1b[?1049l\x1b[?25h";

/// The terminal mode to restore, saved before raw mode was entered: each
/// field of the `termios` that `tcsetattr` reads, never its padding.
struct SavedTerminal {
    /// The terminal's descriptor, or -1 when nothing is saved.
    fd: AtomicI32,
    /// Whether the full-screen board switched to the alternate screen.
    alternate_screen: AtomicBool,
    /// `c_iflag`, `c_oflag`, `c_cflag`, `c_lflag`, `c_ispeed`, `c_ospeed`.
    words: [AtomicU32; 6],
    c_line: AtomicU8,
    c_cc: [AtomicU8; libc::NCCS],
}

static SAVED: SavedTerminal = SavedTerminal {
    fd: AtomicI32::new(-1),
    alternate_screen: AtomicBool::new(false),
    words: [const { AtomicU32::new(0) }; 6],
    c_line: AtomicU8::new(0),
    c_cc: [const { AtomicU8::new(0) }; libc::NCCS],
};

/// Segment mappings a process holds at once, at most, for the handler to
/// recognize: a trader holds one or two. A mapping beyond them still
/// works; a SIGBUS in it is then treated as foreign (the process dies of
/// SIGBUS instead of printing the line).
const MAPPINGS: usize = 64;

/// One registered mapping: `start..end`, or a free slot (`start == 0`).
/// `end` is published after `start` and cleared before it, so the handler
/// never sees a range that is not (or no longer) a mapping.
struct Range {
    start: AtomicUsize,
    end: AtomicUsize,
}

static RANGES: [Range; MAPPINGS] = [const {
    Range {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
    }
}; MAPPINGS];

/// A mapping's place in the table: registered by [`Registered::new`],
/// taken out by [`Registered::release`] or when dropped. Its holder
/// releases it before unmapping.
pub(super) struct Registered {
    slot: Option<usize>,
}

impl Registered {
    /// Registers `base..base + len` as a mapping of this process's.
    pub(super) fn new(base: NonNull<u8>, len: usize) -> Registered {
        let start = base.as_ptr() as usize;
        let slot = RANGES.iter().position(|range| {
            range
                .start
                .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(slot) = slot {
            RANGES[slot]
                .end
                .store(start.saturating_add(len), Ordering::Release);
        }
        Registered { slot }
    }

    /// Takes the range out of the table (again: a no-op).
    pub(super) fn release(&mut self) {
        if let Some(slot) = self.slot.take() {
            RANGES[slot].end.store(0, Ordering::Release);
            RANGES[slot].start.store(0, Ordering::Release);
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.release();
    }
}

/// True when `address` lies inside a registered mapping.
fn is_ours(address: usize) -> bool {
    RANGES.iter().any(|range| {
        let start = range.start.load(Ordering::Acquire);
        let end = range.end.load(Ordering::Acquire);
        start != 0 && start <= address && address < end
    })
}

/// Installs the SIGBUS handler, once per process: for the binaries to call
/// first thing (see the module doc). Without it, a segment truncated under
/// the process kills it with SIGBUS.
pub fn install_sigbus_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::SigAction(on_sigbus),
            nix::sys::signal::SaFlags::SA_SIGINFO,
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: `on_sigbus` calls only async-signal-safe functions, and
        // gives every SIGBUS that is not ours the default action.
        let _ = unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGBUS, &action) };
    });
}

/// Saves the mode of the terminal at `fd` (before raw mode is entered), so
/// that a SIGBUS restores it; `alternate_screen` also leaves the alternate
/// screen and shows the cursor. Nothing is saved if `fd` is no terminal.
pub fn remember_terminal(fd: RawFd, alternate_screen: bool) {
    let Some(mode) = terminal_mode(fd) else {
        return;
    };
    SAVED.fd.store(-1, Ordering::Release);
    for (slot, word) in SAVED.words.iter().zip(words_of(&mode)) {
        slot.store(word, Ordering::Relaxed);
    }
    SAVED.c_line.store(mode.c_line, Ordering::Relaxed);
    for (slot, byte) in SAVED.c_cc.iter().zip(mode.c_cc) {
        slot.store(byte, Ordering::Relaxed);
    }
    SAVED
        .alternate_screen
        .store(alternate_screen, Ordering::Relaxed);
    SAVED.fd.store(fd, Ordering::Release);
}

/// The mode of the terminal at `fd`, if it is one.
fn terminal_mode(fd: RawFd) -> Option<libc::termios> {
    let mut mode = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr writes one termios into the storage we pass, and
    // fails harmlessly on a descriptor that is not a terminal.
    if unsafe { libc::tcgetattr(fd, mode.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: tcgetattr succeeded, so it filled the struct.
    Some(unsafe { mode.assume_init() })
}

/// Forgets the saved terminal mode, once the terminal is restored.
pub fn forget_terminal() {
    SAVED.fd.store(-1, Ordering::Release);
}

/// The 32-bit fields of a termios, in [`SavedTerminal::words`]' order.
fn words_of(mode: &libc::termios) -> [u32; 6] {
    [
        mode.c_iflag,
        mode.c_oflag,
        mode.c_cflag,
        mode.c_lflag,
        mode.c_ispeed,
        mode.c_ospeed,
    ]
}

/// The saved mode, field by field, and its descriptor; `None` if nothing
/// is saved. Async-signal-safe.
fn saved_mode() -> Option<(RawFd, libc::termios)> {
    let fd = SAVED.fd.load(Ordering::Acquire);
    if fd < 0 {
        return None;
    }
    let [c_iflag, c_oflag, c_cflag, c_lflag, c_ispeed, c_ospeed] = SAVED
        .words
        .each_ref()
        .map(|word| word.load(Ordering::Relaxed));
    Some((
        fd,
        libc::termios {
            c_iflag,
            c_oflag,
            c_cflag,
            c_lflag,
            c_line: SAVED.c_line.load(Ordering::Relaxed),
            c_cc: SAVED
                .c_cc
                .each_ref()
                .map(|byte| byte.load(Ordering::Relaxed)),
            c_ispeed,
            c_ospeed,
        },
    ))
}

extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo, alive
    // for the handler's run.
    let info = unsafe { &*info };
    // si_addr is meaningful when si_code is positive: raised by the
    // kernel for a fault, not sent by a process.
    let fault = (info.si_code > 0).then(|| {
        // SAFETY: reads the union field the kernel set for a fault.
        unsafe { info.si_addr() as usize }
    });
    if !fault.is_some_and(is_ours) {
        default_action(signal);
        return;
    }
    if let Some((fd, mode)) = saved_mode() {
        if SAVED.alternate_screen.load(Ordering::Relaxed) {
            write_all(libc::STDOUT_FILENO, LEAVE_SCREEN);
        }
        // SAFETY: tcsetattr is async-signal-safe and reads the termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &mode) };
    }
    write_all(libc::STDERR_FILENO, MESSAGE);
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(2) };
}

/// Puts back the default action for `signal` and raises it again: it is
/// delivered, and kills the process, as soon as the handler returns (a
/// fault's instruction also faults again).
fn default_action(signal: libc::c_int) {
    let mut action: libc::sigaction = zeroed_action();
    action.sa_sigaction = libc::SIG_DFL;
    // SAFETY: sigaction is async-signal-safe; `action` is a valid,
    // all-default sigaction.
    unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    // SAFETY: raise is async-signal-safe.
    unsafe { libc::raise(signal) };
}

fn zeroed_action() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zero bytes are
    // valid (no flags, an empty mask, SIG_DFL).
    unsafe { std::mem::MaybeUninit::zeroed().assume_init() }
}

/// `write(2)` until done or failed: async-signal-safe.
fn write_all(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for reads of its length.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(written) {
            Ok(count) if count > 0 => bytes = &bytes[count.min(bytes.len())..],
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The saved mode is the terminal's, field for field: on a fresh
    /// pseudo-terminal, with a few fields changed from their defaults.
    #[test]
    fn a_remembered_terminal_mode_is_the_terminals_field_by_field() {
        let (mut leader, mut follower) = (-1, -1);
        let (name, mode, size) = (std::ptr::null_mut(), std::ptr::null(), std::ptr::null());
        // SAFETY: openpty writes two descriptors and, given null pointers,
        // reads and writes nothing else.
        let opened = unsafe { libc::openpty(&mut leader, &mut follower, name, mode, size) };
        assert_eq!(opened, 0, "openpty");
        let mut mode = terminal_mode(follower).expect("a terminal");
        // SAFETY: `mode` is a valid termios.
        unsafe { libc::cfmakeraw(&mut mode) };
        mode.c_cc[libc::VMIN] = 7;
        mode.c_cc[libc::VTIME] = 3;
        // SAFETY: as above.
        let speed = unsafe { libc::cfsetspeed(&mut mode, libc::B2400) };
        assert_eq!(speed, 0);
        // SAFETY: `follower` is a terminal and `mode` a valid termios.
        let set = unsafe { libc::tcsetattr(follower, libc::TCSANOW, &mode) };
        assert_eq!(set, 0);
        let expected = terminal_mode(follower).expect("a terminal");
        remember_terminal(follower, false);
        let (saved_fd, saved) = saved_mode().expect("a mode is saved");
        forget_terminal();
        assert_eq!(saved_fd, follower);
        assert_eq!(words_of(&saved), words_of(&expected));
        assert_eq!(saved.c_line, expected.c_line);
        assert_eq!(saved.c_cc, expected.c_cc);
        assert_eq!(saved.c_cc[libc::VMIN], 7);
        assert!(saved_mode().is_none(), "forgotten");
        for fd in [leader, follower] {
            // SAFETY: the descriptor is this test's and used no more.
            unsafe { libc::close(fd) };
        }
    }

    #[test]
    fn only_registered_ranges_are_ours() {
        let mut memory = vec![0u8; 4096];
        let base = NonNull::new(memory.as_mut_ptr()).unwrap();
        let start = base.as_ptr() as usize;
        assert!(!is_ours(start));
        let mut registered = Registered::new(base, memory.len());
        assert!(is_ours(start) && is_ours(start + 4095));
        assert!(!is_ours(start + 4096) && !is_ours(start - 1));
        registered.release();
        assert!(!is_ours(start));
    }
}
