//! POSIX shared memory: `shm_open` + `mmap`, seen in `ls -l /dev/shm`.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman;
use nix::sys::stat::Mode;

use super::fd::{self, Opening};
use super::segment::{errno_error, Access, Mapped};
use crate::address::SegmentAddress;
use crate::error::Result;
use crate::fault::{crash_point, Step};

pub(super) fn create(
    address: &SegmentAddress,
    name: &str,
    size: usize,
    access: Access,
) -> Result<Mapped> {
    // Owner only until `fd::create` has given it its group and mode.
    let fd = mman::shm_open(
        name,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(|errno| errno_error(address, "shm_open", errno))?;
    crash_point(Step::AfterOpen);
    let mapped = fd::create(address, File::from(fd), size, access);
    if mapped.is_err() {
        let _ = mman::shm_unlink(name);
    }
    mapped
}

pub(super) fn open(address: &SegmentAddress, name: &str) -> Result<Mapped> {
    let open = || mman::shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty());
    let fd = match open() {
        Ok(fd) => fd,
        // A class segment: the caller's own rights cannot open it, the
        // class group's can, and what it opens must be the group's.
        Err(Errno::EACCES) => open_as_class(address, open)?,
        Err(errno) => return Err(errno_error(address, "shm_open", errno)),
    };
    crate::trace!(
        "shm_open({name:?}, O_RDWR) = fd {} (the object /dev/shm{name})",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    );
    let (mapped, _) = fd::open(address, File::from(fd), Opening::Shared)?;
    Ok(mapped)
}

/// The open again with the class group, for a caller whose own rights were
/// refused; an object that is not the group's gets the caller's own error.
fn open_as_class(
    address: &SegmentAddress,
    open: impl FnOnce() -> nix::Result<OwnedFd>,
) -> Result<OwnedFd> {
    let denied = || errno_error(address, "shm_open", Errno::EACCES);
    let Some(class_gid) = crate::privilege::class_gid() else {
        return Err(denied());
    };
    let Some(Ok(fd)) = crate::privilege::with_class_group(open)? else {
        return Err(denied());
    };
    let group = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(|_| denied())?
        .st_gid;
    if group != class_gid {
        return Err(denied());
    }
    crate::trace!(
        "shm_open with the class group {class_gid}, the object's group: the one privileged open"
    );
    Ok(fd)
}

/// Where Linux keeps the object: `/dev/shm/NAME` (glibc's shm_open opens
/// exactly that file, which is also why `file:/dev/shm/NAME` aliases it).
pub(super) fn path_of(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/dev/shm").join(name.trim_start_matches('/'))
}

/// Opens the object read-only (`O_RDONLY`, mapped `PROT_READ`).
pub(super) fn open_read_only(address: &SegmentAddress, name: &str) -> Result<Mapped> {
    let fd = mman::shm_open(name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|errno| errno_error(address, "shm_open", errno))?;
    crate::trace!(
        "shm_open({name:?}, O_RDONLY) = fd {} (the object /dev/shm{name})",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    );
    fd::open_read_only(address, File::from(fd))
}

pub(super) fn remove(address: &SegmentAddress, name: &str) -> Result<()> {
    mman::shm_unlink(name).map_err(|errno| errno_error(address, "shm_unlink", errno))
}
