//! Who this process acts for: the real user who ran it.
//!
//! A class trader is installed with privilege and gives it up early (see
//! [`crate::privilege`]); after that, the operating system's ids may no
//! longer name the person at the keyboard. So the binaries record the
//! caller first thing, and every right the library checks (the owner's
//! commands, whose account this is, who holds the lock) asks here, not
//! the operating system.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

static CALLER: OnceLock<u32> = OnceLock::new();

/// Records the real uid as the caller, once; later calls keep the first.
/// Returns the caller's uid.
pub fn record() -> u32 {
    *CALLER.get_or_init(|| nix::unistd::getuid().as_raw())
}

/// The uid this process acts for: the one [`record`] kept, else the real
/// uid.
pub fn uid() -> u32 {
    CALLER
        .get()
        .copied()
        .unwrap_or_else(|| nix::unistd::getuid().as_raw())
}

/// True when the caller is root, who may do what the owner may.
pub fn is_root() -> bool {
    uid() == 0
}
