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
//! | `Err(LockError::NotRecoverable)` | an earlier repair was abandoned | recreate the segment |
//! | `Err(LockError::TimedOut)` | held for [`LOCK_TIMEOUT`] by a live process | report it; never hang |
//!
//! Like LMDB's `mdb_mutex_failed`, consistency is only restored after the
//! repair: a guard dropped without `mark_consistent` leaves the mutex
//! unrecoverable, which is the safe outcome of a failed repair.

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
/// `#[repr(C)]` so its bytes sit where [`crate::layout`] says.
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
pub enum LockError {
    /// A previous owner died and its repair was not completed.
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
                "the lock is unrecoverable after a failed repair; recreate the exchange with exchange-init --force",
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
    pub unsafe fn init(&self) -> io::Result<()> {
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is valid writable storage for an attribute object.
        check(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
        let attr_ptr = attr.as_mut_ptr();
        // SAFETY: `attr_ptr` was initialized just above and is destroyed
        // below; `self.inner` is valid for writes and, by this function's
        // contract, used by nobody else.
        let result = unsafe {
            check(libc::pthread_mutexattr_setpshared(
                attr_ptr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    attr_ptr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init(self.inner.get(), attr_ptr)))
        };
        // SAFETY: `attr_ptr` is initialized and not used after this.
        unsafe { libc::pthread_mutexattr_destroy(attr_ptr) };
        result
    }

    /// A robust mutex on this process's heap: the benchmarks' baseline for
    /// what the lock alone costs.
    pub fn new_boxed() -> io::Result<Box<RobustMutex>> {
        let mutex = Box::new(RobustMutex {
            // SAFETY: pthread_mutex_t is a plain C struct for which all-zero
            // bytes are a valid value; it is initialized properly below.
            inner: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
        });
        // SAFETY: the mutex was just made and nothing else can reach it.
        unsafe { mutex.init()? };
        Ok(mutex)
    }

    /// Takes the lock, waiting at most [`LOCK_TIMEOUT`].
    pub fn lock(&self) -> Result<MutexGuard<'_>, LockError> {
        // SAFETY: the mutex was initialized by `init` before the segment was
        // published as ready (the caller checked the ready state).
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
pub struct MutexGuard<'a> {
    mutex: &'a RobustMutex,
    owner_died: bool,
    // The thread that locked must be the one that unlocks.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl MutexGuard<'_> {
    /// True when the previous owner died holding the lock and the data it
    /// guarded may be half-changed.
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Declares the guarded data repaired. Call only after the repair.
    pub fn mark_consistent(&mut self) -> io::Result<()> {
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

/// Sleeps while `word` still holds `expected`, at most `timeout`. Spurious
/// wake-ups are fine: callers re-read the word. The futex is shared (not
/// `FUTEX_PRIVATE`), so a wake from another process reaches it.
pub fn futex_wait(word: &std::sync::atomic::AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word`, which stays
    // mapped for the call, and the timespec we pass; it writes nothing.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
        );
    }
}

/// Wakes every process sleeping in [`futex_wait`] on `word`; returns how
/// many were woken.
pub fn futex_wake_all(word: &std::sync::atomic::AtomicU32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key.
    let woken =
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
    usize::try_from(woken).unwrap_or(0)
}
