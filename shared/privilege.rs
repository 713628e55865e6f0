//! Class mode's setgid `trader` (see DESIGN.md, "Class mode"): it runs
//! with the exchange group's rights only to attach the segment, then gives
//! them up for good, so those rights reach nothing but the segment.
//!
//! The classic saved-set-group-ID dance: the binary first *suspends* the
//! group (effective gid = real gid, the group kept only as the saved gid),
//! so a script or config it opens before attaching is opened with the
//! user's own rights; the attach *regains* the group for the open and map,
//! then *drops* it for good (real, effective and saved gid all the user's).
#![forbid(unsafe_code)]

use nix::unistd::{getegid, getgid, getresgid, setegid, setresgid};

use crate::error::{Error, Result};

/// Acts with the user's own group until the attach: the first thing a
/// setgid `trader` does. The group stays the saved gid, for the attach.
pub fn suspend_group_rights() -> Result<()> {
    let real = getgid();
    if getegid() == real {
        return Ok(());
    }
    setegid(real).map_err(|errno| Error::ClassMode {
        reason: format!("cannot set aside the group's rights (setegid: {errno}); stopping instead"),
    })
}

/// Takes the saved group back for the open and map of the segment; a no-op
/// for a process that was never setgid or has dropped the group already.
pub(crate) fn regain_group_rights() -> Result<()> {
    let saved = getresgid()
        .map_err(|errno| Error::ClassMode {
            reason: format!("cannot read the group ids (getresgid: {errno})"),
        })?
        .saved;
    if getegid() == saved {
        return Ok(());
    }
    setegid(saved).map_err(|errno| Error::ClassMode {
        reason: format!("cannot take the group's rights back to attach (setegid: {errno})"),
    })
}

/// Sets the real, effective and saved group ids to the real one, so no
/// group right the binary was installed with can be used again. Nothing to
/// do for a process that is not setgid.
pub fn drop_group_rights() -> Result<()> {
    let real = getgid();
    if getegid() == real {
        return Ok(());
    }
    setresgid(real, real, real).map_err(|errno| Error::ClassMode {
        reason: format!(
            "cannot give up the group's rights after attaching (setresgid: {errno}); stopping instead"
        ),
    })
}
