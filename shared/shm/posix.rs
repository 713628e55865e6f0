//! POSIX shared memory: `shm_open` + `mmap`, seen in `ls -l /dev/shm`.

use std::fs::File;

use nix::fcntl::OFlag;
use nix::sys::mman;
use nix::sys::stat::Mode;

use super::fd::{self, Opening};
use super::mapping::{errno_error, Access, Mapped};
use crate::address::SegmentAddress;
use crate::error::Result;
use crate::fault::{crash_point, Step};

pub(super) fn create(
    address: &SegmentAddress,
    name: &str,
    size: usize,
    access: Access,
) -> Result<Mapped> {
    let fd = mman::shm_open(
        name,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(access.mode as libc::mode_t),
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
    let fd = mman::shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|errno| errno_error(address, "shm_open", errno))?;
    crate::trace!(
        "shm_open({name:?}, O_RDWR) = fd {} (the object /dev/shm{name})",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    );
    let (mapped, _) = fd::open(address, File::from(fd), Opening::Shared)?;
    Ok(mapped)
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
