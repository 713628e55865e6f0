//! What the two fd-backed mechanisms (POSIX shared memory and a regular
//! file) share: sizing and mapping a descriptor, and the lock that tells a
//! creator or a sole opener apart from everyone else.
//!
//! # The first-opener protocol
//!
//! Every handle holds a lock on the whole file for as long as it is
//! mapped: a creator, and a file's sole opener while it repairs, hold it
//! exclusively; everyone else holds it shared. So "I got it exclusively"
//! proves that nobody else has the segment mapped, and "someone holds it
//! exclusively" means a creation or a repair is under way.
//!
//! The lock is an open-file-description (OFD) byte-range lock,
//! `fcntl(F_OFD_SETLK)` over the whole file. LMDB's lock file does the
//! same dance with classic fcntl locks (`mdb_env_excl_lock` tries
//! `F_WRLCK`, else waits for `F_RDLCK`; `mdb_env_share_locks` downgrades
//! with one `F_SETLK` of `F_RDLCK`, "the shared lock replaces the existing
//! lock"). The OFD kind adds what classic locks lack: it belongs to the
//! descriptor, not the process, so two opens in one process conflict like
//! two processes, and closing some other descriptor of the file does not
//! drop it. Turning the exclusive lock into a shared one is one atomic
//! call on the same lock. `flock` gives neither promise about the conversion: it
//! may drop the exclusive lock before it takes the shared one, letting a
//! second opener in between think itself alone and re-initialize a mutex
//! that the first is about to use. With the OFD lock the publisher's
//! downgrade has no such window, by construction rather than by ordering.
//!
//! Both mechanisms take the lock, not only the file backend: a POSIX
//! object is also a file in `/dev/shm`, so `file:/dev/shm/NAME` reaches the
//! same bytes. If POSIX attachers held no lock, a `file:` opener would
//! think itself alone and re-initialize a mutex that they may hold.

use std::fs::{File, Permissions};
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::mman::{self, MapFlags, ProtFlags};

use super::layout::HEADER_SIZE;
use super::mutex::LOCK_TIMEOUT;
use super::segment::{errno_error, io_error, too_small, Access, Backing, Mapped, Segment};
use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};

/// A mapped descriptor, holding its OFD lock while mapped (closing the
/// descriptor releases it; a read-only one holds none). Unmapped on drop.
///
/// # Invariants
///
/// `base..base + len` is a live `MAP_SHARED` mapping of `file`, made by
/// [`map_fd`] and unmapped only in `Drop`.
struct FdSegment {
    file: Descriptor,
    /// While the OFD lock is held exclusively (a creation, or a sole
    /// opener's repair), this thread's trace lines are held back (see
    /// `crate::trace::hold`): a trace sink that blocks must not keep the
    /// lock, and with it every other opener, waiting. Declared after
    /// `file`, so the lines go out after the descriptor, and its lock, is
    /// closed; or at the downgrade.
    held: Option<crate::trace::Holding>,
    base: NonNull<u8>,
    len: usize,
}

/// The descriptor a mapping keeps: holding its OFD lock, or read-only
/// without one.
enum Descriptor {
    Locked(File),
    ReadOnly(File),
}

impl Descriptor {
    fn file(&self) -> &File {
        match self {
            Descriptor::Locked(file) => file,
            Descriptor::ReadOnly(file) => file,
        }
    }
}

// SAFETY: the struct owns a descriptor and a mapping of shared memory,
// neither tied to a thread; the memory is only reached through `Mapping`.
unsafe impl Send for FdSegment {}
// SAFETY: `&FdSegment` only allows fstat and fcntl, both thread-safe.
unsafe impl Sync for FdSegment {}

impl Segment for FdSegment {
    fn backing(&self, address: &SegmentAddress) -> Result<Backing> {
        let metadata = self
            .file
            .file()
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

    /// The atomic downgrade: exclusive to shared on the same lock, with no
    /// moment at which the file is unlocked.
    fn share(&mut self, address: &SegmentAddress) -> Result<()> {
        match &self.file {
            Descriptor::Locked(file) => {
                try_lock(file, Hold::Shared)
                    .map_err(|errno| errno_error(address, "fcntl(F_OFD_SETLK)", errno))?;
                self.held = None;
                Ok(())
            }
            // Holds no lock: it keeps nobody out.
            Descriptor::ReadOnly(_) => Ok(()),
        }
    }

    /// A locked handle holds the lock, which a creator keeps exclusively
    /// until it publishes: so whoever left the segment unpublished is gone.
    /// A read-only handle took no lock and cannot tell.
    fn creation_abandoned(&self) -> bool {
        matches!(self.file, Descriptor::Locked(_))
    }

    /// A file copied sparse (or made by anyone) may have holes, and a hole
    /// written on a full disk is a SIGBUS: its sole opener allocates it
    /// all, once the file has proven to be an exchange.
    fn allocate(&self, address: &SegmentAddress) -> Result<()> {
        allocate(address, self.file.file(), self.len as u64)
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

/// Sets up a descriptor this process just created with `O_EXCL` and mode
/// 0600: locks it exclusively, gives it its group, and only then sets its
/// final mode exactly (the umask is not applied), so nobody else can open
/// it before it belongs to the class's group; sizes it, allocates every
/// block, and maps it.
pub(super) fn create(
    address: &SegmentAddress,
    file: File,
    size: usize,
    access: Access,
) -> Result<Mapped> {
    let held = crate::trace::hold();
    let file = lock_bounded(address, file)?;
    if let Some(group) = access.group {
        nix::unistd::fchown(
            file.as_raw_fd(),
            None,
            Some(nix::unistd::Gid::from_raw(group)),
        )
        .map_err(|errno| match errno {
            // The group exists (the caller looked it up) but is not one of
            // this process's: added to it, the user has not logged in since.
            Errno::EPERM => Error::ClassMode {
                reason: format!(
                    "you are not in group {name} in this shell: log in again or run `newgrp {name}`",
                    name = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(group))
                        .ok()
                        .flatten()
                        .map_or_else(|| group.to_string(), |group| group.name)
                ),
            },
            errno => errno_error(address, "fchown", errno),
        })?;
    }
    file.set_permissions(Permissions::from_mode(access.mode & 0o777))
        .map_err(|error| io_error(address, "fchmod", error))?;
    file.set_len(size as u64)
        .map_err(|error| io_error(address, "ftruncate", error))?;
    crash_point(Step::AfterSize);
    allocate(address, &file, size as u64)?;
    map_fd(address, Some(held), Descriptor::Locked(file), size)
}

/// Allocates every block of the first `size` bytes, where the filesystem
/// can (otherwise a full disk or /dev/shm shows as SIGBUS mid-trade).
fn allocate(address: &SegmentAddress, file: &File, size: u64) -> Result<()> {
    let len = libc::off_t::try_from(size).map_err(|_| Error::Overflow)?;
    match nix::fcntl::posix_fallocate(file.as_raw_fd(), 0, len) {
        Ok(()) | Err(Errno::EOPNOTSUPP | Errno::EINVAL) => Ok(()),
        Err(errno) => Err(errno_error(address, "posix_fallocate", errno)),
    }
}

/// Who else has an existing descriptor's segment open.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    /// Always share the lock (POSIX objects do not outlive a reboot).
    Shared,
    /// Take the lock exclusively when nobody else holds it (files).
    SoleIfAlone,
}

/// How a handle holds the file's lock.
#[derive(Clone, Copy)]
enum Hold {
    Shared,
    Exclusive,
}

/// Takes (or converts, atomically) this descriptor's OFD lock on the whole
/// file without waiting; `EAGAIN` or `EACCES` when another holds it in a
/// conflicting way.
fn try_lock(file: &File, hold: Hold) -> std::result::Result<(), Errno> {
    let kind = match hold {
        Hold::Shared => libc::F_RDLCK,
        Hold::Exclusive => libc::F_WRLCK,
    };
    let whole_file = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(file.as_raw_fd(), FcntlArg::F_OFD_SETLK(&whole_file)).map(drop)
}

fn is_conflict(errno: Errno) -> bool {
    matches!(errno, Errno::EAGAIN | Errno::EACCES)
}

/// Locks and maps an existing descriptor, refusing a device or anything
/// smaller than a header. Returns the mapping and whether this process
/// holds the lock exclusively. A segment locked exclusively by another
/// handle is being created (or repaired): [`Error::BeingCreated`], which
/// the attacher waits out. An empty one was left by a creator that died
/// before sizing it: [`Error::HalfCreated`].
pub(super) fn open(
    address: &SegmentAddress,
    file: File,
    opening: Opening,
) -> Result<(Mapped, bool)> {
    let lock_error = |errno| errno_error(address, "fcntl(F_OFD_SETLK)", errno);
    let mut held = Some(crate::trace::hold());
    // Moved below `held`, so that on an early return the descriptor, and
    // its lock, is closed before the held lines go out.
    let file = file;
    let sole = match opening {
        Opening::SoleIfAlone => match try_lock(&file, Hold::Exclusive) {
            Ok(()) => true,
            Err(errno) if is_conflict(errno) => false,
            Err(errno) => return Err(lock_error(errno)),
        },
        Opening::Shared => false,
    };
    if !sole {
        held = None;
        match try_lock(&file, Hold::Shared) {
            Ok(()) => {}
            Err(errno) if is_conflict(errno) => {
                return Err(Error::BeingCreated {
                    address: address.to_string(),
                })
            }
            Err(errno) => return Err(lock_error(errno)),
        }
    }
    crate::trace!(
        "fcntl(fd {}, F_OFD_SETLK, {}): {}",
        file.as_raw_fd(),
        if sole { "F_WRLCK" } else { "F_RDLCK" },
        if sole {
            "nobody else has it open"
        } else {
            "shared with the other attached processes"
        }
    );
    // Nothing is allocated or written here: the sole opener allocates
    // once the header has proven the file to be an exchange.
    let size = checked_size(address, &file)?;
    Ok((map_fd(address, held, Descriptor::Locked(file), size)?, sole))
}

/// Maps a descriptor opened `O_RDONLY` with `PROT_READ`, refusing a device
/// or anything smaller than a header. It takes no lock: a reader must
/// never keep a file's sole opener from repairing it.
pub(super) fn open_read_only(address: &SegmentAddress, file: File) -> Result<Mapped> {
    let size = checked_size(address, &file)?;
    map_fd(address, None, Descriptor::ReadOnly(file), size)
}

/// The descriptor's size, if it is no device and holds at least a header;
/// an empty one was left by a creator that died before sizing it.
fn checked_size(address: &SegmentAddress, file: &File) -> Result<usize> {
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
    if size == 0 {
        return Err(Error::HalfCreated {
            address: address.to_string(),
        });
    }
    if size < HEADER_SIZE as u64 {
        return Err(too_small(address, size));
    }
    usize::try_from(size).map_err(|_| Error::Overflow)
}

/// Takes the lock exclusively, waiting at most [`LOCK_TIMEOUT`] for
/// attachers that hold it shared for a moment (they find the fresh object
/// unfinished and let go).
fn lock_bounded(address: &SegmentAddress, file: File) -> Result<File> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match try_lock(&file, Hold::Exclusive) {
            Ok(()) => return Ok(file),
            Err(errno) if is_conflict(errno) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(errno) if is_conflict(errno) => {
                return Err(Error::Lock {
                    address: address.to_string(),
                    reason: format!(
                        "other processes have held the new segment for over {}s; stop them",
                        LOCK_TIMEOUT.as_secs()
                    ),
                })
            }
            Err(errno) => return Err(errno_error(address, "fcntl(F_OFD_SETLK)", errno)),
        }
    }
}

/// Maps `file`; `held` holds the trace lines back while its lock is held
/// exclusively (see [`FdSegment`]).
/// (`held` comes before `file` so that, on an error, it drops after it.)
fn map_fd(
    address: &SegmentAddress,
    held: Option<crate::trace::Holding>,
    file: Descriptor,
    size: usize,
) -> Result<Mapped> {
    let length = NonZeroUsize::new(size).ok_or_else(|| too_small(address, 0))?;
    let protection = match file {
        Descriptor::Locked(_) => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        Descriptor::ReadOnly(_) => ProtFlags::PROT_READ,
    };
    // SAFETY: a fresh shared mapping at an address the kernel picks; it
    // aliases no Rust object, and is unmapped only in FdSegment's Drop.
    let base = unsafe {
        mman::mmap(
            None,
            length,
            protection,
            MapFlags::MAP_SHARED,
            file.file(),
            0,
        )
    }
    .map_err(|errno| errno_error(address, "mmap", errno))?;
    crate::trace!(
        "mmap(NULL, {size}, {}, MAP_SHARED, fd {}, 0) = {:p}",
        match file {
            Descriptor::Locked(_) => "PROT_READ|PROT_WRITE",
            Descriptor::ReadOnly(_) => "PROT_READ",
        },
        file.file().as_raw_fd(),
        base
    );
    let base = base.cast::<u8>();
    Ok(Mapped {
        base,
        len: size,
        segment: Box::new(FdSegment {
            file,
            held,
            base,
            len: size,
        }),
    })
}
