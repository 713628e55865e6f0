//! A process that maps a segment dies of SIGBUS if another process shrinks
//! the object and it then touches a page past the new end. That cannot be
//! prevented (the owner may ftruncate its own object), only detected: the
//! trader checks the size before every command, but a page can vanish in
//! the middle of one. So every process that maps a segment installs, once,
//! a SIGBUS handler that turns the signal into what any other unusable
//! exchange gets: one line on stderr and exit status 2, with the terminal
//! put back the way it was found.
//!
//! The handler may only call async-signal-safe functions: `write(2)`,
//! `tcsetattr` and `_exit`. So whoever puts the terminal in raw mode first
//! saves its mode here ([`remember_terminal`]), in plain atomics the
//! handler can read without a lock.

use std::mem::{size_of, MaybeUninit};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::Once;

/// What the handler writes: the cause and the way out, on one line.
const MESSAGE: &[u8] = b"error: the exchange's segment was truncated under this process by another one (SIGBUS); recreate it with exchange-init --force\n";

/// Leave the alternate screen, show the cursor.
const LEAVE_SCREEN: &[u8] = b"\x1b[?1049l\x1b[?25h";

/// The terminal mode to restore, saved before raw mode was entered.
struct SavedTerminal {
    /// The terminal's descriptor, or -1 when nothing is saved.
    fd: AtomicI32,
    /// Whether the full-screen board switched to the alternate screen.
    alternate_screen: AtomicBool,
    /// The `termios`, byte by byte: readable from a signal handler.
    mode: [AtomicU8; size_of::<libc::termios>()],
}

static SAVED: SavedTerminal = SavedTerminal {
    fd: AtomicI32::new(-1),
    alternate_screen: AtomicBool::new(false),
    mode: [const { AtomicU8::new(0) }; size_of::<libc::termios>()],
};

/// Installs the handler, once per process. Called by every mapping.
pub(super) fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_sigbus),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: `on_sigbus` calls only async-signal-safe functions and
        // never returns; replacing the default action (death) is the point.
        let _ = unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGBUS, &action) };
    });
}

/// Saves the mode of the terminal at `fd` (before raw mode is entered), so
/// that a SIGBUS restores it; `alternate_screen` also leaves the alternate
/// screen and shows the cursor. Nothing is saved if `fd` is no terminal.
pub fn remember_terminal(fd: RawFd, alternate_screen: bool) {
    let mut mode = MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr writes one termios into the storage we pass, and
    // fails harmlessly on a descriptor that is not a terminal.
    if unsafe { libc::tcgetattr(fd, mode.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: tcgetattr succeeded, so it filled the struct.
    let mode = unsafe { mode.assume_init() };
    // SAFETY: a termios is plain integers; viewing it as bytes is sound.
    let bytes: [u8; size_of::<libc::termios>()] = unsafe { std::mem::transmute(mode) };
    SAVED.fd.store(-1, Ordering::Release);
    for (slot, byte) in SAVED.mode.iter().zip(bytes) {
        slot.store(byte, Ordering::Relaxed);
    }
    SAVED
        .alternate_screen
        .store(alternate_screen, Ordering::Relaxed);
    SAVED.fd.store(fd, Ordering::Release);
}

/// Forgets the saved terminal mode, once the terminal is restored.
pub fn forget_terminal() {
    SAVED.fd.store(-1, Ordering::Release);
}

extern "C" fn on_sigbus(_signal: libc::c_int) {
    let fd = SAVED.fd.load(Ordering::Acquire);
    if fd >= 0 {
        if SAVED.alternate_screen.load(Ordering::Relaxed) {
            write_all(libc::STDOUT_FILENO, LEAVE_SCREEN);
        }
        let mut bytes = [0u8; size_of::<libc::termios>()];
        for (byte, slot) in bytes.iter_mut().zip(&SAVED.mode) {
            *byte = slot.load(Ordering::Relaxed);
        }
        // SAFETY: the bytes are a termios that tcgetattr filled (stored
        // before `fd` was published with Release, loaded after Acquire).
        let mode: libc::termios = unsafe { std::mem::transmute(bytes) };
        // SAFETY: tcsetattr is async-signal-safe and reads the termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &mode) };
    }
    write_all(libc::STDERR_FILENO, MESSAGE);
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(2) };
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
