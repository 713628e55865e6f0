//! POSIX shared memory: `shm_open` + `mmap`, seen in `ls -l /dev/shm`.

use std::fs::File;

use nix::fcntl::OFlag;
use nix::sys::mman;
use nix::sys::stat::Mode;

use super::fd::{self, Opening};
use super::mapping::{errno_error, Mapped};
use crate::address::SegmentAddress;
use crate::error::Result;

pub(super) fn create(
    address: &SegmentAddress,
    name: &str,
    size: usize,
    mode: u32,
) -> Result<Mapped> {
    let fd = mman::shm_open(
        name,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode as libc::mode_t),
    )
    .map_err(|errno| errno_error(address, "shm_open", errno))?;
    let mapped = fd::create(address, File::from(fd), size, mode);
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

pub(super) fn remove(address: &SegmentAddress, name: &str) -> Result<()> {
    mman::shm_unlink(name).map_err(|errno| errno_error(address, "shm_unlink", errno))
}
