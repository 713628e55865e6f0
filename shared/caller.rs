//! Who this process acts for: the real user who ran it.
//!
//! A class trader is installed setuid to the exchange user and gives up
//! the caller's own ids for good once the segment is open (see
//! [`crate::privilege`]); after that, the operating system's ids no longer
//! name the person at the keyboard. So the binaries record the caller
//! first thing, and every right the library checks (the owner's commands,
//! whose account this is, which names are theirs in class mode) asks here,
//! not the operating system.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

/// The real user and group that ran the process, and the user's login.
struct Caller {
    uid: u32,
    gid: u32,
    login: Option<String>,
}

static CALLER: OnceLock<Caller> = OnceLock::new();

/// The recorded caller; the process's real ids if nothing was recorded.
fn caller() -> &'static Caller {
    CALLER.get_or_init(|| {
        let uid = nix::unistd::getuid();
        Caller {
            uid: uid.as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            // The password database, not `$USER`, which the user sets.
            login: nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|user| user.name),
        }
    })
}

/// Records the real uid, gid and login as the caller, once; later calls
/// keep the first. Returns the caller's uid. Call it before anything can
/// change the process's ids.
pub fn record() -> u32 {
    caller().uid
}

/// The uid this process acts for.
pub fn uid() -> u32 {
    caller().uid
}

/// The caller's primary group.
pub fn gid() -> u32 {
    caller().gid
}

/// The caller's login name, from the password database; `None` for a uid
/// that has none.
pub fn login() -> Option<&'static str> {
    caller().login.as_deref()
}

/// True when the caller is root, who may do what the owner may.
pub fn is_root() -> bool {
    uid() == 0
}
