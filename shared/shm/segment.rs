//! What every mechanism (`posix`, `sysv`, `file`, `fd`) hands to the
//! mapping that dispatches to them, and the errors they share: kept below
//! both, so a mechanism never imports the file that calls it.

use std::io;
use std::ptr::NonNull;

use nix::errno::Errno;

use super::layout::HEADER_SIZE;
use crate::address::SegmentAddress;
use crate::error::{Error, Result};

/// Who may use a new segment: its permission bits, applied exactly, and
/// the group it is given (class mode), else the creator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) mode: u32,
    pub(crate) group: Option<u32>,
}

/// What each mechanism's mapping can do besides hold the memory.
pub(super) trait Segment: Send + Sync {
    /// What the operating system says about the segment right now.
    fn backing(&self, address: &SegmentAddress) -> Result<Backing>;
    /// Lets other processes open the segment (downgrades the lock).
    fn share(&mut self, address: &SegmentAddress) -> Result<()>;
    /// True when whoever was creating this unpublished segment is gone, so
    /// it will never be published.
    fn creation_abandoned(&self) -> bool;
    /// Allocates every block of an opened segment, where holes are possible.
    fn allocate(&self, _address: &SegmentAddress) -> Result<()> {
        Ok(())
    }
}

/// A fresh mapping made by one mechanism: `segment` owns `base..base+len`.
pub(super) struct Mapped {
    pub(super) base: NonNull<u8>,
    pub(super) len: usize,
    pub(super) segment: Box<dyn Segment>,
}

/// What the operating system says about a segment right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backing {
    /// The real size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Processes attached, where the mechanism counts them (System V).
    pub attached: Option<u64>,
    /// The name is gone: unlinked, or marked for destruction.
    pub removed: bool,
}

pub(super) fn errno_error(address: &SegmentAddress, what: &'static str, errno: Errno) -> Error {
    io_error(address, what, io::Error::from_raw_os_error(errno as i32))
}

/// Maps the common error numbers to the errors a user can act on.
pub(super) fn io_error(address: &SegmentAddress, what: &'static str, error: io::Error) -> Error {
    let address_text = address.to_string();
    match error.raw_os_error() {
        Some(libc::ENOENT) => Error::NoExchange {
            address: address_text,
        },
        Some(libc::EEXIST) => Error::AlreadyExists {
            address: address_text,
        },
        Some(libc::EACCES | libc::EPERM) => Error::PermissionDenied {
            address: address_text,
        },
        Some(libc::ELOOP) => Error::NotAnExchange {
            address: address_text,
            reason: "a symbolic link, which is never followed".into(),
        },
        Some(libc::ENOSPC | libc::ENOMEM) => Error::Os {
            address: address_text,
            what: "allocating the segment (is /dev/shm or the disk full?)",
            source: error,
        },
        _ => Error::os(address, what, error),
    }
}

pub(super) fn too_small(address: &SegmentAddress, size: u64) -> Error {
    Error::NotAnExchange {
        address: address.to_string(),
        reason: format!("{size} bytes, smaller than an exchange header of {HEADER_SIZE}"),
    }
}
