//! Maps a segment into this process, for each of the three mechanisms.
//!
//! This module and [`crate::lock`] hold all of the crate's `unsafe`. Every
//! OS call that can fail becomes an [`Error`] naming the address; nothing
//! past the real size of the segment is ever touched.
//!
//! # Safety
//!
//! Another process can change a mapped segment at any moment, and a process
//! of the same user can even shrink the object under us. The first is why
//! the shared structs are all atomics (see [`crate::layout`]). The second
//! cannot be prevented, only detected: [`Mapping::backing`] re-reads the
//! real size, and the trader checks it before every command.

use std::ffi::CString;
use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::mman::{self, MapFlags, ProtFlags};
use nix::sys::stat::Mode;

use crate::address::{SegmentAddress, SysVKey};
use crate::error::{Error, Result};
use crate::layout::{AccountSlot, Header, HEADER_SIZE};
use crate::lock::LOCK_TIMEOUT;

/// One segment mapped read-write into this process. Unmapped on drop.
pub struct Mapping {
    base: NonNull<u8>,
    len: usize,
    handle: Handle,
    sole_opener: bool,
}

// SAFETY: the mapping is plain shared memory, reachable from any thread;
// all access to it goes through atomics or the process-shared mutex.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out `&Header` and `&[AccountSlot]`,
// which are made of atomics.
unsafe impl Sync for Mapping {}

enum Handle {
    /// A POSIX shared-memory object.
    Posix(File),
    /// A regular file, holding a shared flock while attached (exclusive
    /// while it is being set up or recovered).
    File(Flock<File>),
    /// A System V segment id.
    SysV(libc::c_int),
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

fn mode_bits(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode as libc::mode_t)
}

fn errno_error(address: &SegmentAddress, what: &'static str, errno: Errno) -> Error {
    io_error(address, what, io::Error::from_raw_os_error(errno as i32))
}

/// Maps the common error numbers to the errors a user can act on.
fn io_error(address: &SegmentAddress, what: &'static str, error: io::Error) -> Error {
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

fn too_small(address: &SegmentAddress, size: u64) -> Error {
    Error::NotAnExchange {
        address: address.to_string(),
        reason: format!("{size} bytes, smaller than an exchange header of {HEADER_SIZE}"),
    }
}

impl Mapping {
    /// Creates a new segment of `size` bytes with exactly `mode`, every page
    /// allocated and zeroed, and maps it. Fails if anything already exists
    /// at the address. A file segment is returned holding an exclusive
    /// flock; call [`Mapping::share`] once it is initialized.
    pub fn create(address: &SegmentAddress, size: usize, mode: u32) -> Result<Mapping> {
        // `header()` relies on every mapping holding at least a header.
        if size < HEADER_SIZE {
            return Err(too_small(address, size as u64));
        }
        match address {
            SegmentAddress::Posix { name } => {
                let fd = mman::shm_open(
                    name.as_str(),
                    OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
                    mode_bits(mode),
                )
                .map_err(|errno| errno_error(address, "shm_open", errno))?;
                let file = File::from(fd);
                let mapped = size_and_map(address, &file, size, mode);
                if mapped.is_err() {
                    let _ = mman::shm_unlink(name.as_str());
                }
                let (base, len) = mapped?;
                Ok(Mapping {
                    base,
                    len,
                    handle: Handle::Posix(file),
                    sole_opener: true,
                })
            }
            SegmentAddress::File { path } => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)
                    .map_err(|error| io_error(address, "creating the file", error))?;
                let locked = Flock::lock(file, FlockArg::LockExclusive)
                    .map_err(|(_, errno)| errno_error(address, "flock", errno))?;
                let mapped = size_and_map(address, &locked, size, mode);
                if mapped.is_err() {
                    let _ = std::fs::remove_file(path);
                }
                let (base, len) = mapped?;
                Ok(Mapping {
                    base,
                    len,
                    handle: Handle::File(locked),
                    sole_opener: true,
                })
            }
            SegmentAddress::SysV { key } => {
                let key = resolve_key(address, key)?;
                let flags = libc::IPC_CREAT | libc::IPC_EXCL | (mode & 0o777) as libc::c_int;
                // SAFETY: shmget takes plain integers.
                let id = unsafe { libc::shmget(key, size, flags) };
                if id < 0 {
                    return Err(io_error(address, "shmget", io::Error::last_os_error()));
                }
                let mapped =
                    set_sysv_mode(address, id, mode).and_then(|()| attach_sysv(address, id, size));
                let mapping = match mapped {
                    Ok((base, len)) => Mapping {
                        base,
                        len,
                        handle: Handle::SysV(id),
                        sole_opener: true,
                    },
                    Err(error) => {
                        remove_sysv_id(id);
                        return Err(error);
                    }
                };
                // Fresh System V pages are zero but not yet allocated: touch
                // each one now, so a shortage shows here and not mid-trade.
                let page = page_size();
                for offset in (0..mapping.len).step_by(page) {
                    // SAFETY: `offset < len`, inside the mapping we own.
                    unsafe { mapping.base.as_ptr().add(offset).write_volatile(0) };
                }
                Ok(mapping)
            }
        }
    }

    /// Opens and maps an existing segment, refusing anything smaller than a
    /// header. A file segment is locked exclusively when nobody else has it
    /// open ([`Mapping::is_sole_opener`]), else shared.
    pub fn open(address: &SegmentAddress) -> Result<Mapping> {
        match address {
            SegmentAddress::Posix { name } => {
                let fd = mman::shm_open(
                    name.as_str(),
                    OFlag::O_RDWR | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|errno| errno_error(address, "shm_open", errno))?;
                let file = File::from(fd);
                let (base, len) = map_existing(address, &file)?;
                Ok(Mapping {
                    base,
                    len,
                    handle: Handle::Posix(file),
                    sole_opener: false,
                })
            }
            SegmentAddress::File { path } => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)
                    .map_err(|error| io_error(address, "opening the file", error))?;
                if !file
                    .metadata()
                    .map_err(|error| io_error(address, "fstat", error))?
                    .file_type()
                    .is_file()
                {
                    return Err(Error::NotAnExchange {
                        address: address.to_string(),
                        reason: "not a regular file".into(),
                    });
                }
                let (locked, sole_opener) = match Flock::lock(file, FlockArg::LockExclusiveNonblock)
                {
                    Ok(locked) => (locked, true),
                    Err((file, Errno::EWOULDBLOCK)) => (lock_shared(address, file)?, false),
                    Err((_, errno)) => return Err(errno_error(address, "flock", errno)),
                };
                let (base, len) = map_existing(address, &locked)?;
                Ok(Mapping {
                    base,
                    len,
                    handle: Handle::File(locked),
                    sole_opener,
                })
            }
            SegmentAddress::SysV { key } => {
                let key = resolve_key(address, key)?;
                // SAFETY: shmget takes plain integers.
                let id = unsafe { libc::shmget(key, 0, 0) };
                if id < 0 {
                    return Err(io_error(address, "shmget", io::Error::last_os_error()));
                }
                let stat = sysv_stat(address, id)?;
                let size = stat.shm_segsz as u64;
                if size < HEADER_SIZE as u64 {
                    return Err(too_small(address, size));
                }
                let (base, len) = attach_sysv(address, id, stat.shm_segsz)?;
                Ok(Mapping {
                    base,
                    len,
                    handle: Handle::SysV(id),
                    sole_opener: false,
                })
            }
        }
    }

    /// True when this process had the segment to itself when it opened it:
    /// it created it, or it is a file that no other process has open (after
    /// a reboot, say), whose lock word may name a process that is gone.
    pub fn is_sole_opener(&self) -> bool {
        self.sole_opener
    }

    /// Lets other processes open a file segment, once it is set up.
    pub fn share(&mut self, address: &SegmentAddress) -> Result<()> {
        if let Handle::File(locked) = &self.handle {
            locked
                .relock(FlockArg::LockShared)
                .map_err(|errno| errno_error(address, "flock", errno))?;
        }
        self.sole_opener = false;
        Ok(())
    }

    /// The mapped length: the real size when the segment was opened.
    pub fn mapped_len(&self) -> usize {
        self.len
    }

    /// Initializes the robust mutex in the header, which is only sound
    /// while no other process can be using it: refused unless this process
    /// is the sole opener (see [`Mapping::is_sole_opener`]).
    pub fn initialize_lock(&mut self, address: &SegmentAddress) -> Result<()> {
        if !self.sole_opener {
            return Err(Error::Lock {
                address: address.to_string(),
                reason: "re-initializing a lock that other processes may hold".into(),
            });
        }
        // SAFETY: as the sole opener, this process either created the
        // segment and has not yet published it as ready (other openers
        // refuse it before touching the lock), or holds an exclusive flock
        // on a file no other process has open. `&mut self` means no guard
        // of this process is alive.
        unsafe { self.header().lock.mutex.init() }
            .map_err(|error| Error::os(address, "pthread_mutex_init", error))
    }

    /// The header at the start of the segment.
    pub fn header(&self) -> &Header {
        // SAFETY: every constructor refuses a segment shorter than
        // HEADER_SIZE; mmap and shmat return page-aligned addresses, which
        // satisfy Header's 64-byte alignment; Header is made only of atomics
        // and an UnsafeCell, valid for any bit pattern and sound to share
        // with writers in other processes; the borrow ends before munmap.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// The account table after the header, if `capacity` slots fit in the
    /// mapping.
    pub fn accounts(&self, capacity: u32) -> Option<&[AccountSlot]> {
        let bytes = (capacity as usize).checked_mul(std::mem::size_of::<AccountSlot>())?;
        if HEADER_SIZE.checked_add(bytes)? > self.len {
            return None;
        }
        // SAFETY: the slots lie inside the mapping (checked just above);
        // HEADER_SIZE is a multiple of AccountSlot's alignment (asserted in
        // layout); AccountSlot is all atomics, valid for any bit pattern.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().add(HEADER_SIZE).cast::<AccountSlot>(),
                capacity as usize,
            )
        })
    }

    /// Asks the operating system for the segment's size, mode, owner and
    /// whether it has been removed.
    pub fn backing(&self, address: &SegmentAddress) -> Result<Backing> {
        let file = match &self.handle {
            Handle::Posix(file) => file,
            Handle::File(locked) => locked,
            Handle::SysV(id) => {
                let stat = sysv_stat(address, *id)?;
                return Ok(Backing {
                    size: stat.shm_segsz as u64,
                    mode: u32::from(stat.shm_perm.mode) & 0o777,
                    uid: stat.shm_perm.uid,
                    attached: Some(stat.shm_nattch as u64),
                    removed: u32::from(stat.shm_perm.mode) & SHM_DEST != 0,
                });
            }
        };
        let metadata = file
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
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match self.handle {
            // SAFETY: `base` came from shmat and nothing borrows the mapping
            // any more (borrows are tied to `&self`).
            Handle::SysV(_) => unsafe {
                libc::shmdt(self.base.as_ptr().cast());
            },
            // SAFETY: `base` and `len` came from mmap; no borrow outlives
            // `&self`, so nothing can touch the memory after this.
            Handle::Posix(_) | Handle::File(_) => unsafe {
                let _ = mman::munmap(self.base.cast(), self.len);
            },
        }
    }
}

/// Removes the name of a segment; attached processes keep their mapping.
pub fn remove(address: &SegmentAddress) -> Result<()> {
    match address {
        SegmentAddress::Posix { name } => mman::shm_unlink(name.as_str())
            .map_err(|errno| errno_error(address, "shm_unlink", errno)),
        SegmentAddress::File { path } => {
            std::fs::remove_file(path).map_err(|error| io_error(address, "unlink", error))
        }
        SegmentAddress::SysV { key } => {
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
    }
}

/// `shm_perm.mode` bit set once IPC_RMID has marked a segment for removal
/// (linux/shm.h; libc does not export it).
const SHM_DEST: u32 = 0o1000;

/// Takes a shared flock, waiting at most [`LOCK_TIMEOUT`] for a process
/// that holds it exclusively (one creating or repairing the file).
fn lock_shared(address: &SegmentAddress, mut file: File) -> Result<Flock<File>> {
    let deadline = std::time::Instant::now() + LOCK_TIMEOUT;
    loop {
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(locked) => return Ok(locked),
            Err((returned, Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                file = returned;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(Error::Lock {
                    address: address.to_string(),
                    reason: format!(
                        "another process has held the file exclusively for over {}s; let it finish, or stop it",
                        LOCK_TIMEOUT.as_secs()
                    ),
                })
            }
            Err((_, errno)) => return Err(errno_error(address, "flock", errno)),
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf takes a plain integer.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(1)
}

/// Sets an fd-backed segment's mode exactly (the umask applied at creation),
/// sizes it, allocates every block, and maps it.
fn size_and_map(
    address: &SegmentAddress,
    file: &File,
    size: usize,
    mode: u32,
) -> Result<(NonNull<u8>, usize)> {
    file.set_permissions(Permissions::from_mode(mode & 0o777))
        .map_err(|error| io_error(address, "fchmod", error))?;
    file.set_len(size as u64)
        .map_err(|error| io_error(address, "ftruncate", error))?;
    let len = libc::off_t::try_from(size).map_err(|_| Error::Overflow)?;
    match nix::fcntl::posix_fallocate(std::os::fd::AsRawFd::as_raw_fd(file), 0, len) {
        Ok(()) | Err(Errno::EOPNOTSUPP | Errno::EINVAL) => {}
        Err(errno) => return Err(errno_error(address, "posix_fallocate", errno)),
    }
    map_fd(address, file, size)
}

fn map_existing(address: &SegmentAddress, file: &File) -> Result<(NonNull<u8>, usize)> {
    let metadata = file
        .metadata()
        .map_err(|error| io_error(address, "fstat", error))?;
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
    map_fd(address, file, size)
}

fn map_fd(address: &SegmentAddress, file: &File, size: usize) -> Result<(NonNull<u8>, usize)> {
    let length = NonZeroUsize::new(size).ok_or_else(|| too_small(address, 0))?;
    // SAFETY: a fresh shared mapping at an address the kernel picks; it
    // aliases no Rust object, and is unmapped only in Mapping's Drop.
    let base = unsafe {
        mman::mmap(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            file,
            0,
        )
    }
    .map_err(|errno| errno_error(address, "mmap", errno))?;
    Ok((base.cast(), size))
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

fn sysv_stat(address: &SegmentAddress, id: libc::c_int) -> Result<libc::shmid_ds> {
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
fn set_sysv_mode(address: &SegmentAddress, id: libc::c_int, mode: u32) -> Result<()> {
    let mut stat = sysv_stat(address, id)?;
    stat.shm_perm.mode = (mode & 0o777) as _;
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

fn attach_sysv(
    address: &SegmentAddress,
    id: libc::c_int,
    size: usize,
) -> Result<(NonNull<u8>, usize)> {
    // SAFETY: shmat picks a fresh address for the segment; it aliases no
    // Rust object and is detached only in Mapping's Drop.
    let base = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if base as isize == -1 {
        return Err(io_error(address, "shmat", io::Error::last_os_error()));
    }
    let base = NonNull::new(base.cast::<u8>()).ok_or_else(|| too_small(address, 0))?;
    Ok((base, size))
}

fn remove_sysv_id(id: libc::c_int) {
    // SAFETY: IPC_RMID takes no buffer.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
}
