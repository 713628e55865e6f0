//! The robust, process-shared pthread mutex that lives inside the segment.
//!
//! Why not parking_lot or a lock_api `RawMutex`: parking_lot parks waiters
//! in a per-process table on private futexes, so a waiter in another process
//! is never woken, and neither can say "the owner died". A pthread mutex
//! with `PTHREAD_PROCESS_SHARED` and `PTHREAD_MUTEX_ROBUST` can: the kernel
//! walks a dying thread's robust list and marks each mutex it held, and the
//! next locker gets `EOWNERDEAD`.
//!
//! # Lock states, as a locker sees them
//!
//! | `lock()` returns | meaning | what the caller must do |
//! |---|---|---|
//! | `Ok(guard)`, `owner_died() == false` | clean acquire | use the data |
//! | `Ok(guard)`, `owner_died() == true` | the previous owner died holding it | repair the data, then [`MutexGuard::mark_consistent`] |
//! | `Err(LockError::NotRecoverable)` | a holder unlocked it while inconsistent | recreate the segment |
//! | `Err(LockError::TimedOut)` | held for [`LOCK_TIMEOUT`] by a live process | report it; never hang |
//!
//! Like LMDB's `mdb_mutex_failed`, the repair comes first and
//! `mark_consistent` after it, never blindly. What the exchange does when
//! the repair fails is in `market::journal`: it POISONS the exchange (its
//! state word, so nobody trades on it) and still marks the mutex
//! consistent, so `exchange-init --force` and `--remove` can lock it to
//! retire it. The exchange therefore never unlocks an inconsistent mutex;
//! `NotRecoverable` means some other program did (or a panic unwound
//! through a repair).

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

/// How long a locker waits for a live holder before giving up. No trade
/// holds the lock for more than microseconds; this only fires when the
/// holder is stopped (Ctrl-Z, a debugger) or the lock word is garbage.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries before sleeping; with backoff this spins for about a microsecond.
const SPIN_ROUNDS: u32 = 12;

/// A `pthread_mutex_t` set up for use by many processes.
///
/// `#[repr(C)]` so its bytes sit where [`super::layout`] says.
///
/// # Invariants
///
/// [`RobustMutex::lock`] may only be called on a mutex that
/// [`RobustMutex::init`] initialized, and `init` only while nobody uses
/// it. Nothing outside `shm` can reach a `RobustMutex` (the field that
/// holds it is private to `shm`); inside, the only callers are
/// [`super::Mapping`], whose type states keep both rules, and
/// `BaselineSegment`, which keeps them the same way (see `baseline`).
#[repr(C)]
pub struct RobustMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: a process-shared pthread mutex is made to be locked from many
// threads and processes at once; all access goes through pthread calls.
unsafe impl Sync for RobustMutex {}
// SAFETY: the mutex is plain bytes with no thread affinity until locked,
// and a guard (which is !Send) is what holds it.
unsafe impl Send for RobustMutex {}

/// Why the lock could not be taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// A holder unlocked it without marking it consistent after an owner
    /// died (the exchange itself never does).
    NotRecoverable,
    /// Another live process held the lock for longer than [`LOCK_TIMEOUT`].
    TimedOut,
    /// Any other error number from pthreads.
    Os(io::Error),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::NotRecoverable => f.write_str(
                "the lock was left unrecoverable by a process that gave up a repair; recreate the exchange with exchange-init --force",
            ),
            LockError::TimedOut => write!(
                f,
                "another process has held the lock for over {}s (stopped, or the lock word is corrupted); resume or kill it, or recreate the exchange",
                LOCK_TIMEOUT.as_secs()
            ),
            LockError::Os(error) => write!(f, "{error}"),
        }
    }
}

fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

impl RobustMutex {
    /// Initializes the mutex in place as process-shared and robust.
    ///
    /// # Safety
    ///
    /// No thread in any process may be using the mutex: the caller has just
    /// created the segment, or is the only process attached to it.
    pub(super) unsafe fn init(&self) -> io::Result<()> {
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is valid writable storage for an attribute object.
        check(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
        let attr_ptr = attr.as_mut_ptr();
        let result = check(
            // SAFETY: `attr_ptr` was initialized just above and is only
            // destroyed below.
            unsafe { libc::pthread_mutexattr_setpshared(attr_ptr, libc::PTHREAD_PROCESS_SHARED) },
        )
        .and_then(|()| {
            // SAFETY: as above.
            check(unsafe {
                libc::pthread_mutexattr_setrobust(attr_ptr, libc::PTHREAD_MUTEX_ROBUST)
            })
        })
        .and_then(|()| {
            // SAFETY: `attr_ptr` as above; `self.inner` is valid for writes
            // and, by this function's contract, used by nobody else.
            check(unsafe { libc::pthread_mutex_init(self.inner.get(), attr_ptr) })
        });
        // SAFETY: `attr_ptr` is initialized and not used after this.
        unsafe { libc::pthread_mutexattr_destroy(attr_ptr) };
        result
    }

    /// Takes the lock, waiting at most [`LOCK_TIMEOUT`].
    ///
    /// Only on an initialized mutex: see the type's `# Invariants`.
    pub(super) fn lock(&self) -> Result<MutexGuard<'_>, LockError> {
        // SAFETY: the mutex was initialized by `init` (this method's
        // contract, kept by its two callers).
        let code = match unsafe { libc::pthread_mutex_trylock(self.inner.get()) } {
            libc::EBUSY => self.spin_then_sleep(),
            code => code,
        };
        match code {
            0 => Ok(self.guard(false)),
            libc::EOWNERDEAD => Ok(self.guard(true)),
            libc::ENOTRECOVERABLE => Err(LockError::NotRecoverable),
            libc::ETIMEDOUT => Err(LockError::TimedOut),
            errno => Err(LockError::Os(io::Error::from_raw_os_error(errno))),
        }
    }

    /// The holder of this lock keeps it for tens of nanoseconds, so a short
    /// spin with backoff usually wins it without the two system calls of a
    /// futex sleep and wake-up. Robust mutexes cannot be made adaptive by
    /// glibc, so the spin is here. After it, sleep in the kernel.
    fn spin_then_sleep(&self) -> libc::c_int {
        for round in 0..SPIN_ROUNDS {
            for _ in 0..(1 << round.min(6)) {
                std::hint::spin_loop();
            }
            // SAFETY: as in `lock`.
            match unsafe { libc::pthread_mutex_trylock(self.inner.get()) } {
                libc::EBUSY => {}
                code => return code,
            }
        }
        self.lock_slowly()
    }

    fn lock_slowly(&self) -> libc::c_int {
        let mut now = MaybeUninit::<libc::timespec>::uninit();
        // SAFETY: `now` is valid writable storage for a timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, now.as_mut_ptr()) };
        // SAFETY: clock_gettime with CLOCK_REALTIME cannot fail and filled it.
        let mut deadline = unsafe { now.assume_init() };
        deadline.tv_sec += LOCK_TIMEOUT.as_secs() as libc::time_t;
        // SAFETY: as in `lock`; `deadline` is a valid timespec.
        unsafe { libc::pthread_mutex_timedlock(self.inner.get(), &deadline) }
    }

    fn guard(&self, owner_died: bool) -> MutexGuard<'_> {
        MutexGuard {
            mutex: self,
            owner_died,
            _not_send: std::marker::PhantomData,
        }
    }
}

/// Proof that this thread holds the lock. Unlocks when dropped.
#[must_use = "if unused the mutex will immediately unlock"]
pub(crate) struct MutexGuard<'a> {
    mutex: &'a RobustMutex,
    owner_died: bool,
    // The thread that locked must be the one that unlocks.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl MutexGuard<'_> {
    /// True when the previous owner died holding the lock and the data it
    /// guarded may be half-changed.
    pub(crate) fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Declares the guarded data repaired. Call only after the repair.
    pub(crate) fn mark_consistent(&mut self) -> io::Result<()> {
        if self.owner_died {
            // SAFETY: this thread holds the mutex, which reported EOWNERDEAD.
            check(unsafe { libc::pthread_mutex_consistent(self.mutex.inner.get()) })?;
            self.owner_died = false;
        }
        Ok(())
    }
}

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread locked the mutex when the guard was made.
        unsafe { libc::pthread_mutex_unlock(self.mutex.inner.get()) };
    }
}
