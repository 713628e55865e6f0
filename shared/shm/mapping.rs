//! A segment mapped into this process, whichever mechanism holds it, and the
//! type states that decide when its lock may be touched.
//!
//! Every OS call that can fail becomes an [`Error`] naming the address;
//! nothing past the real size of the segment is ever touched. Another
//! process can change a mapped segment at any moment, and a process of the
//! same user can even shrink the object under us. The first is why the
//! shared structs are all atomics (see [`super::layout`]). The second
//! cannot be prevented, only detected: [`Mapping::backing`] re-reads the
//! real size, and the trader checks it before every command.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::layout::{
    state, AccountSlot, Header, Write, ABI_FINGERPRINT, HEADER_SIZE, LAYOUT_VERSION, MAGIC,
};
use super::mutex::{LockError, MutexGuard};
use super::segment::{io_error, too_small, Access, Backing, Mapped, Segment};
use super::{file, posix, sysv};
use crate::address::SegmentAddress;
use crate::error::{Error, Result};
use crate::fault::{crash_point, Step};

/// One segment mapped read-write into this process, in the type state `S`.
/// Unmapped on drop.
///
/// # Invariants
///
/// The robust mutex in the header is initialized by one process while no
/// thread of any process uses it, and locked only once initialized. Three
/// states keep that true for any sequence of safe calls:
///
/// - [`Exclusive`]: this handle is the only one on the segment, because it
///   created it with `O_EXCL`/`IPC_EXCL` and has not published it, or it
///   holds the file's OFD lock exclusively (every other handle of a POSIX or
///   file segment, in any process, holds it shared). It cannot lock;
///   [`Mapping::publish`] initializes the lock, then gives a [`Ready`].
/// - [`Unverified`]: opened, nothing checked. It cannot lock;
///   [`Mapping::verify`] checks the header and that the state is `READY`.
/// - [`Ready`]: the header was `READY`. Only [`state::READY`] says the lock
///   was initialized, and only `publish` writes it (the state word has no
///   other way to become `READY`, see [`super::layout::StateWord`]). Only a
///   `Ready` handle can [`Mapping::lock`].
///
/// So the sequence of the issue that found the hole, "create, open the
/// same segment again, lock through the second handle, re-initialize the
/// lock through the first, lock again", cannot be written: the second
/// handle cannot be verified while the first is unpublished (the state is
/// not `READY`), and once published the first is a `Ready`, which has no
/// way to initialize the lock. A file opened while another handle exists
/// is never `Exclusive`: the lock of that handle forbids it. (A process
/// that writes the segment's bytes directly is outside any such argument:
/// whoever can write the segment is trusted, as DESIGN.md says.)
pub(crate) struct Mapping<S> {
    base: NonNull<u8>,
    len: usize,
    /// The mapping's range, registered for the SIGBUS handler; before
    /// `segment`, so it is taken out before the unmap.
    registered: super::sigbus::Registered,
    /// Owns the mapping: unmaps it when dropped, after every borrow of
    /// `base` (all tied to `&self`) has ended.
    segment: Box<dyn Segment>,
    state: S,
}

/// See [`Mapping`]: the only handle on the segment.
pub(crate) struct Exclusive {
    /// Created by this handle, rather than opened alone.
    fresh: bool,
}

/// See [`Mapping`]: opened, not yet checked.
pub(crate) struct Unverified(PhantomData<()>);

/// See [`Mapping`]: checked, with an initialized lock.
pub(crate) struct Ready(PhantomData<()>);

/// Mapped without write permission (`PROT_READ`, `SHM_RDONLY`) by a user
/// who may only read the segment, and checked like [`Ready`]. It has no
/// lock, since locking writes the mutex, and holds no flock, so it never
/// keeps a file's sole opener from repairing it. Nothing can be stored
/// through its header or accounts (a store would fault): it gives out no
/// [`super::layout::Write`]. The market reads it only through its
/// lock-free snapshots.
pub(crate) struct ReadOnly(PhantomData<()>);

/// What [`Mapping::open`] found.
pub(crate) enum Opened {
    /// Other processes may have it open: verify it before use.
    Shared(Mapping<Unverified>),
    /// A file that no other process has open (after a reboot, say), whose
    /// lock word may name a process that is gone: repair it, then publish.
    Sole(Mapping<Exclusive>),
}

// SAFETY: the mapping is plain shared memory, reachable from any thread;
// all access to it goes through atomics or the process-shared mutex.
unsafe impl<S: Send> Send for Mapping<S> {}
// SAFETY: as above; `&Mapping` only hands out `&Header` and
// `&[AccountSlot]`, which are made of atomics, and the mutex's guard.
unsafe impl<S: Sync> Sync for Mapping<S> {}

impl Mapping<Exclusive> {
    /// Creates a new segment of `size` bytes with exactly `access`, every page
    /// allocated and zeroed, and maps it. Fails if anything already exists
    /// at the address. Seed the header, then [`Mapping::publish`] it.
    pub(crate) fn create(
        address: &SegmentAddress,
        size: usize,
        access: Access,
    ) -> Result<Mapping<Exclusive>> {
        // `header()` relies on every mapping holding at least a header.
        if size < HEADER_SIZE {
            return Err(too_small(address, size as u64));
        }
        let mapped = match address {
            SegmentAddress::Posix { name } => posix::create(address, name, size, access)?,
            SegmentAddress::File { path } => file::create(address, path, size, access)?,
            SegmentAddress::SysV { key } => sysv::create(address, key, size, access)?,
        };
        Ok(Mapping::new(mapped, Exclusive { fresh: true }))
    }

    /// The permission to write the segment: nobody else has it (the type's
    /// invariants), so a creator seeds it, and a sole opener repairs it,
    /// without the lock.
    pub(crate) fn write(&self) -> Write<'_> {
        Write::new()
    }

    /// Initializes the lock, publishes a fresh segment as `READY`, lets
    /// other processes open it, and checks the header like
    /// [`Mapping::verify`]. A segment opened alone keeps its state: it was
    /// checked before its repair and must be `READY` already.
    pub(crate) fn publish(mut self, address: &SegmentAddress) -> Result<Mapping<Ready>> {
        // Refuse an unseeded header before publishing anything.
        self.check_identity(address, !self.state.fresh)?;
        // SAFETY: this handle is `Exclusive` (see the type's invariants):
        // no other handle, in this process or another, can be using the
        // mutex; `self` is consumed, so no guard of this one exists either.
        unsafe { self.header().lock.mutex.init() }
            .map_err(|error| Error::os(address, "pthread_mutex_init", error))?;
        crash_point(Step::BeforePublish);
        if self.state.fresh {
            // Everything stored so far happens-before any attacher's
            // `Acquire` load that sees READY.
            self.header().state.publish_ready(Write::new());
        }
        self.segment.share(address)?;
        Ok(self.into_state(Ready(PhantomData)))
    }
}

impl Mapping<Exclusive> {
    /// Allocates every block of a segment opened alone, so that a hole
    /// written later on a full disk is not a SIGBUS. Only for a segment
    /// already proven to be an exchange: nothing is allocated for a file
    /// that is not one.
    pub(crate) fn allocate(&self, address: &SegmentAddress) -> Result<()> {
        self.segment.allocate(address)
    }
}

impl Mapping<Unverified> {
    /// Opens and maps an existing segment, refusing anything smaller than a
    /// header. A file segment that no other process has open comes back
    /// [`Opened::Sole`].
    pub(crate) fn open(address: &SegmentAddress) -> Result<Opened> {
        Ok(match address {
            SegmentAddress::Posix { name } => Opened::Shared(Mapping::new(
                posix::open(address, name)?,
                Unverified(PhantomData),
            )),
            SegmentAddress::SysV { key } => Opened::Shared(Mapping::new(
                sysv::open(address, key)?,
                Unverified(PhantomData),
            )),
            SegmentAddress::File { path } => match file::open(address, path)? {
                (mapped, true) => Opened::Sole(Mapping::new(mapped, Exclusive { fresh: false })),
                (mapped, false) => Opened::Shared(Mapping::new(mapped, Unverified(PhantomData))),
            },
        })
    }

    /// Checks identity, version, ABI, that the state is `READY`, that the
    /// declared size is the real one, and that the lock's bytes are sane.
    pub(crate) fn verify(self, address: &SegmentAddress) -> Result<Mapping<Ready>> {
        self.check_identity(address, true)?;
        if !self.header().lock.mutex.is_intact() {
            return Err(Error::Corrupted {
                address: address.to_string(),
                reason: "its lock's bytes are not what pthread_mutex_init wrote".into(),
            });
        }
        Ok(self.into_state(Ready(PhantomData)))
    }
}

impl Mapping<ReadOnly> {
    /// Opens and maps an existing segment for reading only, and checks it
    /// like [`Mapping::verify`]: for a user whose read-write open was
    /// refused.
    pub(crate) fn open_read_only(address: &SegmentAddress) -> Result<Mapping<ReadOnly>> {
        let mapped = match address {
            SegmentAddress::Posix { name } => posix::open_read_only(address, name)?,
            SegmentAddress::SysV { key } => sysv::open_read_only(address, key)?,
            SegmentAddress::File { path } => file::open_read_only(address, path)?,
        };
        let mapping = Mapping::new(mapped, ReadOnly(PhantomData));
        mapping.check_identity(address, true)?;
        Ok(mapping)
    }
}

impl Mapping<Ready> {
    /// The permission to write without the lock, for the three writers
    /// that cannot wait for it or must not take it, and no others:
    ///
    /// - retiring the exchange (`Exchange::retire`), which must happen
    ///   even while a stopped process holds the lock;
    /// - the watcher counters (`store::shm::watchers`), hints that a board
    ///   moves as it goes to sleep and wakes;
    /// - the classroom race demonstration (`store::shm::race`), whose point is
    ///   the unlocked trade.
    ///
    /// Everything else writes through the lock's guard.
    pub(crate) fn write_unlocked(&self) -> Write<'_> {
        Write::new()
    }

    /// Takes the segment's robust mutex, waiting at most
    /// [`super::LOCK_TIMEOUT`], and records `caller` (a uid) as its holder; a
    /// timeout names the holder's pid and the login it recorded.
    #[inline(always)]
    pub(crate) fn lock(&self, caller: u32) -> Result<MutexGuard<'_>, LockError> {
        let header = self.header();
        // A `Ready` handle's mutex is initialized (the type's invariants).
        let mutex = &header.lock.mutex;
        let guard = mutex
            .lock()
            .map_err(|error| naming_the_holder(mutex, error))?;
        guard.record_holder(caller);
        Ok(guard)
    }

    /// Takes the lock if it is free; `Ok(None)` at once if it is held.
    pub(crate) fn try_lock(&self) -> Result<Option<MutexGuard<'_>>, LockError> {
        // As in `lock`.
        self.header().lock.mutex.try_lock()
    }
}

/// `error`, with the uid the holder recorded when it is a timeout.
#[cold]
#[inline(never)]
fn naming_the_holder(mutex: &super::mutex::RobustMutex, error: LockError) -> LockError {
    match error {
        LockError::TimedOut { pid, .. } => LockError::TimedOut {
            pid,
            uid: pid.map(|_| mutex.recorded_holder()),
        },
        error => error,
    }
}

impl<S> Mapping<S> {
    fn new(mapped: Mapped, state: S) -> Mapping<S> {
        Mapping {
            base: mapped.base,
            len: mapped.len,
            // From now on a page of this mapping can vanish under us.
            registered: super::sigbus::Registered::new(mapped.base, mapped.len),
            segment: mapped.segment,
            state,
        }
    }

    fn into_state<T>(self, state: T) -> Mapping<T> {
        Mapping {
            base: self.base,
            len: self.len,
            registered: self.registered,
            segment: self.segment,
            state,
        }
    }

    /// The header at the start of the segment.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: every constructor refuses a segment shorter than
        // HEADER_SIZE; mmap and shmat return page-aligned addresses, which
        // satisfy Header's 64-byte alignment; Header is made only of atomics
        // and an UnsafeCell, valid for any bit pattern and sound to share
        // with writers in other processes; the borrow ends before munmap.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// The account table after the header, if `capacity` slots fit in the
    /// mapping.
    #[inline]
    pub(crate) fn accounts(&self, capacity: u32) -> Option<&[AccountSlot]> {
        let bytes = (capacity as usize).checked_mul(std::mem::size_of::<AccountSlot>())?;
        if HEADER_SIZE.checked_add(bytes)? > self.len {
            return None;
        }
        // SAFETY: HEADER_SIZE < len, so the offset stays inside the mapping.
        let first = unsafe { self.base.as_ptr().add(HEADER_SIZE) };
        // SAFETY: the slots lie inside the mapping (checked just above);
        // HEADER_SIZE is a multiple of AccountSlot's alignment (asserted in
        // layout); AccountSlot is all atomics, valid for any bit pattern.
        Some(unsafe { std::slice::from_raw_parts(first.cast::<AccountSlot>(), capacity as usize) })
    }

    /// The mapped length: the real size when the segment was opened.
    pub(crate) fn mapped_len(&self) -> usize {
        self.len
    }

    /// Asks the operating system for the segment's size, mode, owner and
    /// whether it has been removed.
    pub(crate) fn backing(&self, address: &SegmentAddress) -> Result<Backing> {
        self.segment.backing(address)
    }

    /// Checks the magic, layout version, ABI, state (when `want_ready`) and
    /// that the declared size is the real one, in that order.
    pub(crate) fn check_identity(&self, address: &SegmentAddress, want_ready: bool) -> Result<()> {
        let header = self.header();
        let text = || address.to_string();
        let magic = header.magic.load(std::sync::atomic::Ordering::Relaxed);
        // Zeroes, or a header seeded but never published: a creation that
        // is under way or was abandoned.
        if want_ready
            && (magic == 0 || magic == MAGIC)
            && header.state.load() == state::INITIALIZING
        {
            return Err(self.unfinished(address));
        }
        if magic != MAGIC {
            return Err(Error::NotAnExchange {
                address: text(),
                reason: "no exchange magic number at its start".into(),
            });
        }
        let version = header
            .layout_version
            .load(std::sync::atomic::Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(Error::Incompatible {
                address: text(),
                reason: format!("layout version {version}, this build reads {LAYOUT_VERSION}"),
            });
        }
        if header.abi.load(std::sync::atomic::Ordering::Relaxed) != ABI_FINGERPRINT {
            return Err(Error::Incompatible {
                address: text(),
                reason: "another C library, mutex size or alignment, pointer width, byte order or field layout".into(),
            });
        }
        let corrupted = |reason: String| Error::Corrupted {
            address: text(),
            reason,
        };
        if want_ready {
            match header.state.load() {
                state::READY => {}
                state::RETIRED => return Err(Error::Retired { address: text() }),
                state::POISONED => return Err(Error::poisoned(address)),
                other => return Err(corrupted(format!("unknown state {other:#x}"))),
            }
        }
        let declared = header.total_size.load(std::sync::atomic::Ordering::Relaxed);
        let real = self.len as u64;
        if declared != real {
            return Err(corrupted(format!(
                "its header says {declared} bytes but it has {real}"
            )));
        }
        crate::trace!(
            "header checked: magic SHMEXCH, layout version {version}, ABI fingerprint {ABI_FINGERPRINT:#x}, {}declared size {declared} = real size",
            if want_ready { "state READY (Acquire), " } else { "" }
        );
        Ok(())
    }
}

impl<S> Mapping<S> {
    /// What an attacher says about a segment whose creation has not
    /// finished: still going on, or abandoned by a killed creator.
    fn unfinished(&self, address: &SegmentAddress) -> Error {
        let address = address.to_string();
        if self.segment.creation_abandoned() {
            Error::HalfCreated { address }
        } else {
            Error::BeingCreated { address }
        }
    }
}

/// Removes the name of a segment, whatever it holds; attached processes
/// keep their mapping.
pub(crate) fn remove(address: &SegmentAddress) -> Result<()> {
    match address {
        SegmentAddress::Posix { name } => posix::remove(address, name),
        SegmentAddress::File { path } => file::remove(address, path),
        SegmentAddress::SysV { key } => sysv::remove(address, key),
    }
}

/// The uid that owns the object at `address`, asked without opening it for
/// writing, so that a segment nobody can attach still has an owner.
pub(crate) fn object_owner(address: &SegmentAddress) -> Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let path = match address {
        SegmentAddress::SysV { key } => return sysv::owner(address, key),
        SegmentAddress::Posix { name } => posix::path_of(name),
        SegmentAddress::File { path } => path.clone(),
    };
    std::fs::symlink_metadata(path)
        .map(|metadata| metadata.uid())
        .map_err(|error| io_error(address, "stat", error))
}

/// What the operating system says of the object at `address`, asked
/// without opening it or following a link: whether it is a segment or a
/// regular file (not a link, folder, device or FIFO), and its size where
/// it says (not for System V).
pub(crate) fn object_kind(address: &SegmentAddress) -> (bool, Option<u64>) {
    let path = match address {
        SegmentAddress::SysV { .. } => return (true, None),
        SegmentAddress::Posix { name } => posix::path_of(name),
        SegmentAddress::File { path } => path.clone(),
    };
    match std::fs::symlink_metadata(path) {
        Ok(metadata) => (metadata.file_type().is_file(), Some(metadata.len())),
        Err(_) => (false, None),
    }
}
