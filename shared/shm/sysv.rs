//! System V shared memory: `shmget` + `shmat`, seen with `ipcs -m`, which
//! also counts the processes attached.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

use super::layout::HEADER_SIZE;
use super::segment::{io_error, too_small, Access, Backing, Mapped, Segment};
use crate::address::{SegmentAddress, SysVKey};
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};

/// `shm_perm.mode` bit set once IPC_RMID has marked a segment for removal
/// (linux/shm.h; libc does not export it).
const SHM_DEST: u32 = 0o1000;

/// An attached System V segment. Detached on drop.
///
/// # Invariants
///
/// `base..base + len` is a live attachment of segment `id`, made by
/// [`attach`] and detached only in `Drop`.
struct SysVSegment {
    id: libc::c_int,
    base: NonNull<u8>,
}

// SAFETY: the struct holds an id and an attachment of shared memory,
// neither tied to a thread; the memory is only reached through `Mapping`.
unsafe impl Send for SysVSegment {}
// SAFETY: `&SysVSegment` only allows IPC_STAT, which is thread-safe.
unsafe impl Sync for SysVSegment {}

impl Segment for SysVSegment {
    fn backing(&self, address: &SegmentAddress) -> Result<Backing> {
        let stat = stat(address, self.id)?;
        Ok(Backing {
            size: stat.shm_segsz as u64,
            mode: u32::from(stat.shm_perm.mode) & 0o777,
            uid: stat.shm_perm.uid,
            attached: Some(stat.shm_nattch as u64),
            removed: u32::from(stat.shm_perm.mode) & SHM_DEST != 0,
        })
    }

    /// Nothing to do: System V has no lock file, and its segments do not outlive
    /// a reboot, so no opener ever needs to know it is alone.
    fn share(&mut self, _address: &SegmentAddress) -> Result<()> {
        Ok(())
    }

    /// System V has no lock to tell: the creator is gone when the process
    /// that made the segment (`shm_cpid`) no longer exists.
    fn creation_abandoned(&self) -> bool {
        let mut stat = std::mem::MaybeUninit::<libc::shmid_ds>::zeroed();
        // SAFETY: IPC_STAT writes one shmid_ds into the buffer we pass.
        if unsafe { libc::shmctl(self.id, libc::IPC_STAT, stat.as_mut_ptr()) } < 0 {
            return true;
        }
        // SAFETY: shmctl succeeded, so it filled the struct (which was zeroed).
        let creator = unsafe { stat.assume_init() }.shm_cpid;
        let creator = nix::unistd::Pid::from_raw(creator);
        matches!(
            nix::sys::signal::kill(creator, None),
            Err(nix::errno::Errno::ESRCH)
        )
    }
}

impl Drop for SysVSegment {
    fn drop(&mut self) {
        // SAFETY: `base` came from shmat (the type's invariant); every
        // borrow of the memory is tied to the `Mapping` that owns this
        // struct, so nothing touches it after this.
        unsafe { libc::shmdt(self.base.as_ptr().cast()) };
    }
}

/// Creates the segment with exactly `mode`, attaches it, and touches every
/// page: fresh System V pages are zero but not yet allocated, and a
/// shortage must show here, not mid-trade.
pub(super) fn create(
    address: &SegmentAddress,
    key: &SysVKey,
    size: usize,
    access: Access,
) -> Result<Mapped> {
    let key = resolve_key(address, key)?;
    let flags = libc::IPC_CREAT | libc::IPC_EXCL | (access.mode & 0o777) as libc::c_int;
    // SAFETY: shmget takes plain integers.
    let id = unsafe { libc::shmget(key, size, flags) };
    if id < 0 {
        return Err(io_error(address, "shmget", io::Error::last_os_error()));
    }
    crash_point(Step::AfterOpen);
    let mapped = set_access(address, id, access).and_then(|()| attach(address, id, size, 0));
    let mapped = match mapped {
        Ok(mapped) => mapped,
        Err(error) => {
            remove_id(id);
            return Err(error);
        }
    };
    for offset in (0..mapped.len).step_by(page_size()) {
        // SAFETY: `offset < len`, so the pointer stays inside the
        // attachment we just made.
        let byte = unsafe { mapped.base.as_ptr().add(offset) };
        // SAFETY: `byte` is inside the attachment (valid for the loop, and
        // any alignment suits a byte), and another process that attached
        // the segment meanwhile touches it only through atomics: so an
        // atomic store, of the zero the fresh page holds anyway.
        let byte = unsafe { std::sync::atomic::AtomicU8::from_ptr(byte) };
        byte.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    crash_point(Step::AfterSize);
    Ok(mapped)
}

/// Attaches an existing segment, refusing anything smaller than a header.
pub(super) fn open(address: &SegmentAddress, key: &SysVKey) -> Result<Mapped> {
    open_with(address, key, 0)
}

/// Attaches an existing segment read-only (`SHM_RDONLY`).
pub(super) fn open_read_only(address: &SegmentAddress, key: &SysVKey) -> Result<Mapped> {
    open_with(address, key, libc::SHM_RDONLY)
}

fn open_with(address: &SegmentAddress, key: &SysVKey, flags: libc::c_int) -> Result<Mapped> {
    let key = resolve_key(address, key)?;
    // SAFETY: shmget takes plain integers.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id < 0 {
        return Err(io_error(address, "shmget", io::Error::last_os_error()));
    }
    crate::trace!("shmget(key {key:#x}, 0, 0) = id {id} (see ipcs -m)");
    let stat = stat(address, id)?;
    crate::trace!(
        "shmctl(id {id}, IPC_STAT) = {} bytes, mode {:04o}, uid {}, {} attached",
        stat.shm_segsz,
        stat.shm_perm.mode & 0o777,
        stat.shm_perm.uid,
        stat.shm_nattch
    );
    let size = stat.shm_segsz;
    if size < HEADER_SIZE {
        return Err(too_small(address, size as u64));
    }
    attach(address, id, size, flags)
}

/// Marks the segment for removal; attached processes keep it until they
/// detach.
pub(super) fn remove(address: &SegmentAddress, key: &SysVKey) -> Result<()> {
    let key = resolve_key(address, key)?;
    // SAFETY: shmget takes plain integers.
    let id = unsafe { libc::shmget(key, 0, 0) };
    // SAFETY: IPC_RMID takes no buffer.
    if id < 0 || unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
        return Err(io_error(
            address,
            "shmctl(IPC_RMID)",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The owner of the segment at `key`, by IPC_STAT, which needs only read
/// permission.
pub(super) fn owner(address: &SegmentAddress, key: &SysVKey) -> Result<u32> {
    let key = resolve_key(address, key)?;
    // SAFETY: shmget takes plain integers.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id < 0 {
        return Err(io_error(address, "shmget", io::Error::last_os_error()));
    }
    Ok(stat(address, id)?.shm_perm.uid)
}

fn page_size() -> usize {
    // SAFETY: sysconf takes a plain integer.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(1)
}

fn resolve_key(address: &SegmentAddress, key: &SysVKey) -> Result<libc::key_t> {
    match key {
        SysVKey::Literal(key) => Ok(*key),
        SysVKey::Ftok { path, id } => {
            ftok(path, *id).map_err(|error| match error.raw_os_error() {
                // Not "no exchange; run exchange-init first": exchange-init
                // cannot create one there either until PATH exists.
                Some(libc::ENOENT | libc::ENOTDIR) => {
                    Error::os(address, "ftok (sysv:PATH:ID needs an existing PATH)", error)
                }
                _ => io_error(address, "ftok", error),
            })
        }
    }
}

fn ftok(path: &Path, id: u8) -> io::Result<libc::key_t> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `path` is a valid NUL-terminated string.
    let key = unsafe { libc::ftok(path.as_ptr(), libc::c_int::from(id)) };
    if key == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(key)
    }
}

fn stat(address: &SegmentAddress, id: libc::c_int) -> Result<libc::shmid_ds> {
    let mut stat = std::mem::MaybeUninit::<libc::shmid_ds>::zeroed();
    // SAFETY: IPC_STAT writes one shmid_ds into the buffer we pass.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, stat.as_mut_ptr()) } < 0 {
        return Err(io_error(
            address,
            "shmctl(IPC_STAT)",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: shmctl succeeded, so it filled the struct (which was zeroed).
    Ok(unsafe { stat.assume_init() })
}

/// shmget applies the mode as given, but set it through IPC_SET too, so
/// the mode is exactly what was asked whatever the platform does.
fn set_access(address: &SegmentAddress, id: libc::c_int, access: Access) -> Result<()> {
    let mut stat = stat(address, id)?;
    stat.shm_perm.mode = (access.mode & 0o777) as _;
    if let Some(group) = access.group {
        stat.shm_perm.gid = group;
    }
    // SAFETY: IPC_SET reads the shmid_ds we pass, filled by IPC_STAT.
    if unsafe { libc::shmctl(id, libc::IPC_SET, &mut stat) } < 0 {
        return Err(io_error(
            address,
            "shmctl(IPC_SET)",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Attaches segment `id`; `flags` is 0 or `SHM_RDONLY`.
fn attach(
    address: &SegmentAddress,
    id: libc::c_int,
    size: usize,
    flags: libc::c_int,
) -> Result<Mapped> {
    // SAFETY: shmat picks a fresh address for the segment; it aliases no
    // Rust object and is detached only in SysVSegment's Drop.
    let base = unsafe { libc::shmat(id, std::ptr::null(), flags) };
    if base as isize == -1 {
        return Err(io_error(address, "shmat", io::Error::last_os_error()));
    }
    crate::trace!(
        "shmat(id {id}, NULL, {}) = {base:p}",
        if flags == libc::SHM_RDONLY {
            "SHM_RDONLY"
        } else {
            "0"
        }
    );
    let base = NonNull::new(base.cast::<u8>()).ok_or_else(|| too_small(address, 0))?;
    Ok(Mapped {
        base,
        len: size,
        segment: Box::new(SysVSegment { id, base }),
    })
}

fn remove_id(id: libc::c_int) {
    // SAFETY: IPC_RMID takes no buffer.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
}
