//! A regular file mapped with `mmap`: it survives a reboot, and so can a
//! lock word naming a process from before it. Symbolic links are never
//! followed, and a file that is not an exchange is never overwritten (its
//! owner's `--force` removes it first, see `Exchange::remove_reporting`).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::fd::{self, Opening};
use super::segment::{io_error, Access, Mapped};
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
        // Owner only until `fd::create` has given it its group and mode.
        .mode(0o600)
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
    let opened = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(error) if write && error.raw_os_error() == Some(libc::EACCES) => {
            match open_as_class(path)? {
                Some(file) => file,
                None => return Err(io_error(address, "opening the file", error)),
            }
        }
        Err(error) => return Err(io_error(address, "opening the file", error)),
    };
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

/// The file opened read-write with the class group, for a caller whose own
/// rights were refused, if it proves to be a regular file of the class
/// group. The path is resolved with the caller's own rights (an `O_PATH`
/// descriptor), so the group never lets anyone reach or learn about a file
/// behind a folder they cannot enter; only the file itself is then opened
/// again, through `/proc/self/fd`, with the group. `None`: the caller's own
/// error stands.
fn open_as_class(path: &Path) -> Result<Option<File>> {
    let Some(class_gid) = crate::privilege::class_gid() else {
        return Ok(None);
    };
    let Ok(located) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    else {
        return Ok(None);
    };
    match located.metadata() {
        Ok(metadata) if metadata.file_type().is_file() && metadata.gid() == class_gid => {}
        _ => return Ok(None),
    }
    let again = Path::new("/proc/self/fd").join(located.as_raw_fd().to_string());
    let reopened = crate::privilege::with_class_group(|| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&again)
    })?;
    let Some(Ok(file)) = reopened else {
        return Ok(None);
    };
    crate::trace!(
        "{} reopened with the class group {class_gid}, the file's group: the one privileged open",
        path.display()
    );
    Ok(Some(file))
}

pub(super) fn remove(address: &SegmentAddress, path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|error| io_error(address, "unlink", error))
}
