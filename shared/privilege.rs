//! Class mode's setgid `trader` (see DESIGN.md, "Class mode"): it runs
//! with the exchange group's rights only to attach the segment, then gives
//! them up for good, before it reads a script, a history file or anything
//! else a student names, so those rights reach nothing but the segment.
#![forbid(unsafe_code)]

use nix::unistd::{getegid, getgid, setresgid};

use crate::error::{Error, Result};

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
