//! A regular file mapped with `mmap`: it survives a reboot, and so can a
//! lock word naming a process from before it. Symbolic links are never
//! followed, and a file that is not an exchange is never overwritten.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::fd::{self, Opening};
use super::mapping::{io_error, Access, Mapped};
use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};

pub(super) fn create(
    address: &SegmentAddress,
    path: &Path,
    size: usize,
    access: Access,
) -> Result<Mapped> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(access.mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| io_error(address, "creating the file", error))?;
    crash_point(Step::AfterOpen);
    let mapped = fd::create(address, file, size, access);
    if mapped.is_err() {
        let _ = std::fs::remove_file(path);
    }
    mapped
}

/// Opens the file; the flag is true when this process has it to itself.
pub(super) fn open(address: &SegmentAddress, path: &Path) -> Result<(Mapped, bool)> {
    let file = open_regular(address, path, true)?;
    fd::open(address, file, Opening::SoleIfAlone)
}

/// Opens the file read-only (`O_RDONLY`, mapped `PROT_READ`).
pub(super) fn open_read_only(address: &SegmentAddress, path: &Path) -> Result<Mapped> {
    fd::open_read_only(address, open_regular(address, path, false)?)
}

/// Opens `path` without following a symbolic link, refusing anything but
/// a regular file.
fn open_regular(address: &SegmentAddress, path: &Path, write: bool) -> Result<File> {
    let file: File = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| io_error(address, "opening the file", error))?;
    crate::trace!(
        "open({}, {}|O_NOFOLLOW) = fd {}",
        path.display(),
        if write { "O_RDWR" } else { "O_RDONLY" },
        std::os::fd::AsRawFd::as_raw_fd(&file)
    );
    let is_file = file
        .metadata()
        .map_err(|error| io_error(address, "fstat", error))?
        .file_type()
        .is_file();
    if !is_file {
        return Err(Error::NotAnExchange {
            address: address.to_string(),
            reason: "not a regular file".into(),
        });
    }
    Ok(file)
}

pub(super) fn remove(address: &SegmentAddress, path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|error| io_error(address, "unlink", error))
}
