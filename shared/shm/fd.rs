//! What the two fd-backed mechanisms (POSIX shared memory and a regular
//! file) share: sizing and mapping a descriptor, and the flock that tells
//! a creator or a sole opener apart from everyone else.
//!
//! Both take the flock, not only the file backend: a POSIX object is also
//! a file in `/dev/shm`, so `file:/dev/shm/NAME` reaches the same bytes. If
//! POSIX attachers held no flock, a `file:` opener would think itself
//! alone and re-initialize a mutex that they may hold.

use std::fs::{File, Permissions};
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::mman::{self, MapFlags, ProtFlags};

use super::layout::HEADER_SIZE;
use super::mapping::{errno_error, io_error, too_small, Backing, Mapped, Segment};
use super::mutex::LOCK_TIMEOUT;
use crate::address::SegmentAddress;
use crate::error::{Error, Result};

/// A mapped descriptor, holding its flock while mapped. Unmapped on drop.
///
/// # Invariants
///
/// `base..base + len` is a live `MAP_SHARED` mapping of `file`, made by
/// [`map_fd`] and unmapped only in `Drop`.
struct FdSegment {
    file: Flock<File>,
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the struct owns a descriptor and a mapping of shared memory,
// neither tied to a thread; the memory is only reached through `Mapping`.
unsafe impl Send for FdSegment {}
// SAFETY: `&FdSegment` only allows fstat and flock, both thread-safe.
unsafe impl Sync for FdSegment {}

impl Segment for FdSegment {
    fn backing(&self, address: &SegmentAddress) -> Result<Backing> {
        let metadata = self
            .file
            .metadata()
            .map_err(|error| io_error(address, "fstat", error))?;
        Ok(Backing {
            size: metadata.len(),
            mode: metadata.mode() & 0o777,
            uid: metadata.uid(),
            attached: None,
            removed: metadata.nlink() == 0,
        })
    }

    fn share(&mut self, address: &SegmentAddress) -> Result<()> {
        self.file
            .relock(FlockArg::LockShared)
            .map_err(|errno| errno_error(address, "flock", errno))
    }
}

impl Drop for FdSegment {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` came from mmap (the type's invariant);
        // every borrow of the memory is tied to the `Mapping` that owns this
        // struct, so nothing touches it after this.
        let _ = unsafe { mman::munmap(self.base.cast(), self.len) };
    }
}

/// Sets up a descriptor this process just created with `O_EXCL`: locks it
/// exclusively, sets its mode exactly (the umask applied at creation),
/// sizes it, allocates every block, and maps it.
pub(super) fn create(
    address: &SegmentAddress,
    file: File,
    size: usize,
    mode: u32,
) -> Result<Mapped> {
    let file = lock_bounded(address, file, FlockArg::LockExclusiveNonblock)?;
    file.set_permissions(Permissions::from_mode(mode & 0o777))
        .map_err(|error| io_error(address, "fchmod", error))?;
    file.set_len(size as u64)
        .map_err(|error| io_error(address, "ftruncate", error))?;
    let len = libc::off_t::try_from(size).map_err(|_| Error::Overflow)?;
    match nix::fcntl::posix_fallocate(file.as_raw_fd(), 0, len) {
        Ok(()) | Err(Errno::EOPNOTSUPP | Errno::EINVAL) => {}
        Err(errno) => return Err(errno_error(address, "posix_fallocate", errno)),
    }
    map_fd(address, file, size)
}

/// Who else has an existing descriptor's segment open.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    /// Always share the flock (POSIX objects do not outlive a reboot).
    Shared,
    /// Take the flock exclusively when nobody else holds it (files).
    SoleIfAlone,
}

/// Locks and maps an existing descriptor, refusing a device or anything
/// smaller than a header. Returns the mapping and whether this process
/// holds the flock exclusively.
pub(super) fn open(
    address: &SegmentAddress,
    file: File,
    opening: Opening,
) -> Result<(Mapped, bool)> {
    let (file, sole) = match opening {
        Opening::Shared => (
            lock_bounded(address, file, FlockArg::LockSharedNonblock)?,
            false,
        ),
        Opening::SoleIfAlone => match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => (locked, true),
            Err((file, Errno::EWOULDBLOCK)) => (
                lock_bounded(address, file, FlockArg::LockSharedNonblock)?,
                false,
            ),
            Err((_, errno)) => return Err(errno_error(address, "flock", errno)),
        },
    };
    crate::trace!(
        "flock(fd {}, {}): {}",
        file.as_raw_fd(),
        if sole { "LOCK_EX" } else { "LOCK_SH" },
        if sole {
            "nobody else has it open"
        } else {
            "shared with the other attached processes"
        }
    );
    let metadata = file
        .metadata()
        .map_err(|error| io_error(address, "fstat", error))?;
    crate::trace!(
        "fstat(fd {}) = {} bytes, mode {:04o}, uid {}",
        file.as_raw_fd(),
        metadata.len(),
        metadata.mode() & 0o777,
        metadata.uid()
    );
    if metadata.file_type().is_char_device() || metadata.file_type().is_block_device() {
        return Err(Error::NotAnExchange {
            address: address.to_string(),
            reason: "a device".into(),
        });
    }
    let size = metadata.len();
    if size < HEADER_SIZE as u64 {
        return Err(too_small(address, size));
    }
    let size = usize::try_from(size).map_err(|_| Error::Overflow)?;
    Ok((map_fd(address, file, size)?, sole))
}

/// Takes a flock, waiting at most [`LOCK_TIMEOUT`] for a process that
/// holds it in a conflicting way (one creating or repairing the segment).
fn lock_bounded(address: &SegmentAddress, mut file: File, how: FlockArg) -> Result<Flock<File>> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match Flock::lock(file, how) {
            Ok(locked) => return Ok(locked),
            Err((returned, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = returned;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(Error::Lock {
                    address: address.to_string(),
                    reason: format!(
                        "another process has held the segment exclusively for over {}s; let it finish, or stop it",
                        LOCK_TIMEOUT.as_secs()
                    ),
                })
            }
            Err((_, errno)) => return Err(errno_error(address, "flock", errno)),
        }
    }
}

fn map_fd(address: &SegmentAddress, file: Flock<File>, size: usize) -> Result<Mapped> {
    let length = NonZeroUsize::new(size).ok_or_else(|| too_small(address, 0))?;
    // SAFETY: a fresh shared mapping at an address the kernel picks; it
    // aliases no Rust object, and is unmapped only in FdSegment's Drop.
    let base = unsafe {
        mman::mmap(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            &*file,
            0,
        )
    }
    .map_err(|errno| errno_error(address, "mmap", errno))?;
    crate::trace!(
        "mmap(NULL, {size}, PROT_READ|PROT_WRITE, MAP_SHARED, fd {}, 0) = {:p}",
        file.as_raw_fd(),
        base
    );
    let base = base.cast::<u8>();
    Ok(Mapped {
        base,
        len: size,
        segment: Box::new(FdSegment {
            file,
            base,
            len: size,
        }),
    })
}
