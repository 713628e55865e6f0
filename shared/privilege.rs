//! Class mode's privileged `trader` (see DESIGN.md, "Class mode"), the
//! classic "games user" design: installed setuid to a dedicated exchange
//! user and setgid to the class group, it uses the group's rights for the
//! open of the class segment and for nothing else, and no student can
//! stop, signal or trace it.
//!
//! 1. [`suspend`], first thing in `main`: the caller is recorded (see
//!    [`crate::caller`]); the effective ids become the caller's, so
//!    argument parsing, scripts and history run with the caller's own
//!    rights; the exchange user is kept as the real and saved uid, so from
//!    this moment the caller's uid matches none that the kernel compares
//!    for `kill` or `ptrace`; the terminal's stop signals are blocked.
//! 2. `with_class_group`, only around the open of a segment the caller's
//!    own rights could not open: the class group as the effective gid, and
//!    back.
//! 3. [`drop_for_good`], on every path: when the attach is done (the
//!    segment opened, mapped and checked, or refused), or at once when no
//!    segment is opened: every uid the exchange user's (the caller's for a
//!    binary installed only setgid), every gid the caller's, checked with
//!    `getresuid` and `getresgid`.
//!
//! A binary installed without privilege does none of this: every step is a
//! no-op.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{getresgid, getresuid, setegid, setresgid, setresuid, Gid, Uid};

use crate::error::{Error, Result};

/// What the binary was installed with: the ids it gained at exec.
#[derive(Debug, Clone, Copy)]
struct Installed {
    /// The caller's real ids.
    uid: Uid,
    gid: Gid,
    /// The exchange user, when the binary is setuid.
    class_uid: Option<Uid>,
    /// The class group, when the binary is setgid.
    class_gid: Option<Gid>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();
/// Set once [`drop_for_good`] has run: no class right is left.
static DROPPED: AtomicBool = AtomicBool::new(false);
/// Set when an open needed the class group (see [`opened_with_class_group`]).
static USED: AtomicBool = AtomicBool::new(false);

fn refused(reason: String) -> Error {
    Error::ClassMode { reason }
}

/// Records the caller (see [`crate::caller::record`]), then suspends the
/// privileges the binary was installed with, keeping them only as saved
/// ids; see the module docs. Call it first thing in `main`. Fails, and the
/// binary must stop, if the ids cannot be set or are not what was
/// intended, or if the binary is installed setuid root.
pub fn suspend() -> Result<()> {
    crate::caller::record();
    let uids = getresuid().map_err(|errno| refused(format!("getresuid: {errno}")))?;
    let gids = getresgid().map_err(|errno| refused(format!("getresgid: {errno}")))?;
    let installed = *INSTALLED.get_or_init(|| Installed {
        uid: uids.real,
        gid: gids.real,
        class_uid: (uids.effective != uids.real).then_some(uids.effective),
        class_gid: (gids.effective != gids.real).then_some(gids.effective),
    });
    if installed.class_uid.is_some_and(|uid| uid.is_root()) {
        return Err(refused(
            "this trader is installed setuid root; install it setuid to a dedicated exchange user instead (see the README's class setup)".into(),
        ));
    }
    if let Some(class_gid) = installed.class_gid {
        setresgid(installed.gid, installed.gid, class_gid)
            .map_err(|errno| refused(format!("cannot set the group aside (setresgid: {errno})")))?;
    }
    if let Some(class_uid) = installed.class_uid {
        block_stop_signals()?;
        setresuid(class_uid, installed.uid, class_uid)
            .map_err(|errno| refused(format!("cannot set the user aside (setresuid: {errno})")))?;
    }
    verify(
        (
            installed.class_uid.unwrap_or(installed.uid),
            installed.uid,
            installed.class_uid.unwrap_or(installed.uid),
        ),
        (
            installed.gid,
            installed.gid,
            installed.class_gid.unwrap_or(installed.gid),
        ),
    )
}

/// Blocks SIGTSTP, SIGTTIN and SIGTTOU for the whole process: the only
/// stops a student could still cause, through the terminal (Ctrl-Z, or a
/// background read or write), once the kernel refuses their `kill`.
fn block_stop_signals() -> Result<()> {
    let mut stops = SigSet::empty();
    for signal in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
        stops.add(signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&stops), None).map_err(|errno| {
        refused(format!(
            "cannot block the stop signals (sigprocmask: {errno})"
        ))
    })
}

/// The class group, while this process may still use it: installed setgid
/// and not yet dropped for good.
pub(crate) fn class_gid() -> Option<u32> {
    if DROPPED.load(Relaxed) {
        return None;
    }
    INSTALLED.get()?.class_gid.map(Gid::as_raw)
}

/// Runs `open` with the class group as the effective gid, then sets it
/// aside again; `None` when this process has no class group to use. A
/// successful open is remembered (see [`opened_with_class_group`]). For
/// the open of a class segment only: the caller checks that what it opened
/// belongs to the group.
pub(crate) fn with_class_group<T, E>(
    open: impl FnOnce() -> std::result::Result<T, E>,
) -> Result<Option<std::result::Result<T, E>>> {
    let (Some(class_gid), Some(installed)) = (class_gid(), INSTALLED.get()) else {
        return Ok(None);
    };
    setegid(Gid::from_raw(class_gid)).map_err(|errno| {
        refused(format!(
            "cannot take the group's rights to open the segment (setegid: {errno})"
        ))
    })?;
    let opened = open();
    setegid(installed.gid).map_err(|errno| {
        refused(format!(
            "cannot set the group's rights aside after the open (setegid: {errno}); stopping instead"
        ))
    })?;
    if opened.is_ok() {
        USED.store(true, Relaxed);
    }
    Ok(Some(opened))
}

/// True when an open of this process needed the class group: what it
/// opened must then prove to be an exchange before anything about it is
/// reported.
pub(crate) fn opened_with_class_group() -> bool {
    USED.load(Relaxed)
}

/// Gives up the installed privileges for good: every gid the caller's,
/// and, when the binary is setuid, every uid the exchange user's, so the
/// caller can neither signal nor trace the process. Checked with
/// `getresuid` and `getresgid`; fails, and the binary must stop, if any id
/// is not what was intended. Does nothing after the first call, or for a
/// binary installed without privilege.
pub fn drop_for_good() -> Result<()> {
    let Some(installed) = INSTALLED.get().copied() else {
        return Ok(());
    };
    if installed.class_uid.is_none() && installed.class_gid.is_none() {
        return Ok(());
    }
    if DROPPED.swap(true, Relaxed) {
        return Ok(());
    }
    let gid = installed.gid;
    setresgid(gid, gid, gid).map_err(|errno| {
        refused(format!(
            "cannot give up the group (setresgid: {errno}); stopping instead"
        ))
    })?;
    let uid = installed.class_uid.unwrap_or(installed.uid);
    setresuid(uid, uid, uid).map_err(|errno| {
        refused(format!(
            "cannot give up the user (setresuid: {errno}); stopping instead"
        ))
    })?;
    verify((uid, uid, uid), (gid, gid, gid))?;
    crate::trace!(
        "privileges dropped for good: uids {uid}/{uid}/{uid}, gids {gid}/{gid}/{gid} (getresuid, getresgid)"
    );
    Ok(())
}

/// Checks the real, effective and saved ids against the intended ones.
fn verify(uids: (Uid, Uid, Uid), gids: (Gid, Gid, Gid)) -> Result<()> {
    let have_uids = getresuid().map_err(|errno| refused(format!("getresuid: {errno}")))?;
    let have_gids = getresgid().map_err(|errno| refused(format!("getresgid: {errno}")))?;
    let have = (
        (have_uids.real, have_uids.effective, have_uids.saved),
        (have_gids.real, have_gids.effective, have_gids.saved),
    );
    if have == (uids, gids) {
        return Ok(());
    }
    Err(refused(format!(
        "the process's ids are uids {}/{}/{} and gids {}/{}/{}, not the intended {}/{}/{} and {}/{}/{}; stopping",
        have.0 .0, have.0 .1, have.0 .2, have.1 .0, have.1 .1, have.1 .2,
        uids.0, uids.1, uids.2, gids.0, gids.1, gids.2
    )))
}
