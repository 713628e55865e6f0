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
//! the repair fails is in `store::shm::journal`: it POISONS the exchange (its
//! state word, so nobody trades on it) and still marks the mutex
//! consistent, so `exchange-init --force` and `--remove` can lock it to
//! retire it. The exchange therefore never unlocks an inconsistent mutex;
//! `NotRecoverable` means some other program did (or a panic unwound
//! through a repair).

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a locker waits for a live holder before giving up. No trade
/// holds the lock for more than microseconds; this only fires when the
/// holder is stopped (Ctrl-Z, a debugger) or the lock word is garbage.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries before sleeping; with backoff this spins for about a microsecond.
const SPIN_ROUNDS: u32 = 12;

/// The longest one sleep on the lock lasts before the waiter looks again:
/// what a lost or stolen wake-up costs (see `RobustMutex::lock_slowly`).
const LOCK_SLICE: Duration = Duration::from_millis(50);

/// Where the C library keeps a mutex's kind (its type and flags), set by
/// `pthread_mutex_init` and never changed after: glibc's `__kind`. glibc
/// dispatches on it and asserts on kinds it does not expect (priority
/// protection, bit 0x40, gives `tpp.c: Assertion failed`), so a segment's
/// mutex is locked only while this word is what init wrote.
///
/// These offsets are glibc's for x86_64 (`struct __pthread_mutex_s`):
/// `__lock` 0, `__count` 4, `__owner` 8, `__nusers` 12, `__kind` 16,
/// `__list` 24 and 32. Other targets lay the mutex out differently (x32,
/// also `gnu`, has `__kind` at 12; aarch64's mutex is 48 bytes, which the
/// lock's cache line has no room for; musl's words are elsewhere), so
/// every other target is refused at build time rather than misread.
#[cfg(not(all(
    target_os = "linux",
    target_arch = "x86_64",
    target_env = "gnu",
    target_pointer_width = "64"
)))]
compile_error!(
    "shm-exchange reads glibc's pthread_mutex_t words at offsets pinned for \
     x86_64-unknown-linux-gnu only; pin this target's offsets in shared/shm/mutex.rs first"
);
const KIND_OFFSET: usize = 16;

/// glibc's `__lock`: the futex word, which holds the owner's thread id
/// (masked by [`FUTEX_TID_MASK`]) and the waiters and owner-died bits.
const LOCK_WORD_OFFSET: usize = 0;

/// The thread-id bits of a robust futex word (`linux/futex.h`).
const FUTEX_TID_MASK: i32 = 0x3fff_ffff;

/// glibc's `__spins` and `__elision`, two `short`s that glibc reads and
/// writes only for adaptive and lock-elided mutexes, never for a robust
/// one, and that `pthread_mutex_init` zeroes: the exchange keeps the
/// caller uid of the lock's holder there, stored right after each
/// acquisition, so that a waiter that times out can name the holder. On
/// the lock's own cache line, which the holder has just written to take
/// the lock: the store costs nothing more.
const HOLDER_OFFSET: usize = 20;

/// glibc's `__owner`: 0, a thread id, or one of the two "inconsistent"
/// markers just below `i32::MAX`; never negative.
const OWNER_OFFSET: usize = 8;

/// Every `i32` word of the mutex read or written here (see `word_at`).
const WORD_OFFSETS: [usize; 4] = [LOCK_WORD_OFFSET, OWNER_OFFSET, KIND_OFFSET, HOLDER_OFFSET];

const _: () = {
    let mut index = 0;
    while index < WORD_OFFSETS.len() {
        assert!(WORD_OFFSETS[index] + 4 <= std::mem::size_of::<libc::pthread_mutex_t>());
        assert!(WORD_OFFSETS[index] % 4 == 0);
        index += 1;
    }
};

/// glibc's robust-list links (`__list.__prev`, `__list.__next`): pointers
/// into the locking thread's own memory, written by glibc when it locks
/// and followed, and written through, when it unlocks. A process that
/// overwrites them while another holds the lock would make the holder's
/// unlock write where it says; see [`RobustLinks`].
const LINK_OFFSETS: [usize; 2] = [24, 32];

const _: () = {
    let mut index = 0;
    while index < LINK_OFFSETS.len() {
        assert!(LINK_OFFSETS[index] + 8 <= std::mem::size_of::<libc::pthread_mutex_t>());
        index += 1;
    }
};

thread_local! {
    /// How many [`RobustMutex`]es this thread holds.
    static HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// glibc's links of the mutex this thread locked while it held no
    /// other (see [`RobustLinks`]); [`RobustLinks::NONE`] otherwise. Here
    /// rather than in the guard, so that a guard is two words, which the
    /// trade keeps in registers: a wider guard is copied through the stack,
    /// and the copy's 16-byte load of two 8-byte stores cannot be
    /// forwarded from them, a stall on every trade.
    static LINKS: std::cell::Cell<RobustLinks> = const { std::cell::Cell::new(RobustLinks::NONE) };
}

extern "C" {
    /// glibc 2.30 and later; the libc crate does not declare it.
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// Whether this thread holds a [`RobustMutex`] now: for the test that no
/// allocation happens under the lock.
#[cfg(test)]
pub(super) fn held_by_this_thread() -> bool {
    HELD.get() > 0
}

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

/// Why the lock could not be taken. Small and `Copy`, so that the lock's
/// result stays in registers on the trade's path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockError {
    /// A holder unlocked it without marking it consistent after an owner
    /// died (the exchange itself never does).
    NotRecoverable,
    /// Another live process held the lock for longer than [`LOCK_TIMEOUT`]:
    /// the holder's pid, from the lock word, and the caller uid it
    /// recorded on taking the lock (see `Mapping::lock`), where known.
    TimedOut { pid: Option<u32>, uid: Option<u32> },
    /// The mutex's bytes are not what `pthread_mutex_init` wrote, so it
    /// is never handed to pthreads (which could abort on them).
    Corrupted,
    /// Any other error number from pthreads.
    Os(i32),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::NotRecoverable => f.write_str(
                "the lock was left unrecoverable by a process that gave up a repair; recreate the exchange with exchange-init --force",
            ),
            LockError::TimedOut { pid, uid } => {
                let seconds = LOCK_TIMEOUT.as_secs();
                let login = uid.map(login_of);
                match (pid, &login) {
                    (Some(pid), Some(login)) => write!(
                        f,
                        "the lock is held by pid {pid} ({login}) for over {seconds}s; ask {login} to resume or end it"
                    ),
                    (Some(pid), None) => write!(
                        f,
                        "the lock is held by pid {pid} for over {seconds}s; resume or end that process"
                    ),
                    (None, _) => write!(
                        f,
                        "another process has held the lock for over {seconds}s (stopped, or the lock word is corrupted); resume or end it, or recreate the exchange"
                    ),
                }
            }
            LockError::Corrupted => f.write_str(
                "the lock's bytes were overwritten (they are not what pthread_mutex_init wrote); recreate the exchange with exchange-init --force",
            ),
            LockError::Os(errno) => write!(f, "{}", io::Error::from_raw_os_error(*errno)),
        }
    }
}

/// The login of `uid`, or `uid N` when it has none.
fn login_of(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
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
    ///
    /// Inlined whole into the trade, with everything but a clean, first
    /// try acquire kept out of line: a guard handed back through memory
    /// costs more than the rest of the lock (see BENCHMARKS.md).
    #[inline(always)]
    pub(super) fn lock(&self) -> Result<MutexGuard<'_>, LockError> {
        if !self.is_intact() {
            return Err(LockError::Corrupted);
        }
        // SAFETY: the mutex was initialized by `init` (this method's
        // contract, kept by its two callers).
        let acquired = match unsafe { libc::pthread_mutex_trylock(self.inner.get()) } {
            0 => Acquired::Clean,
            code => self.lock_contended(code)?,
        };
        Ok(self.guard(acquired))
    }

    /// Takes the lock only if no one holds it: `Ok(None)` when it is busy,
    /// at once. For what may be done later (opening an account on a read)
    /// and must never wait.
    pub(super) fn try_lock(&self) -> Result<Option<MutexGuard<'_>>, LockError> {
        if !self.is_intact() {
            return Err(LockError::Corrupted);
        }
        // SAFETY: as in `lock`.
        let acquired = match unsafe { libc::pthread_mutex_trylock(self.inner.get()) } {
            0 => Acquired::Clean,
            libc::EBUSY => return Ok(None),
            code => self.lock_contended(code)?,
        };
        Ok(Some(self.guard(acquired)))
    }

    /// Every outcome of a first `trylock` but a clean acquire: wait for a
    /// busy lock, or report what the C library said.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self, code: libc::c_int) -> Result<Acquired, LockError> {
        let code = match code {
            libc::EBUSY => self.spin_then_sleep(),
            code => code,
        };
        match code {
            0 => Ok(Acquired::Clean),
            libc::EOWNERDEAD => Ok(Acquired::OwnerDied),
            libc::ENOTRECOVERABLE => Err(LockError::NotRecoverable),
            libc::ETIMEDOUT => Err(LockError::TimedOut {
                pid: self.holder_pid(),
                uid: None,
            }),
            errno => Err(LockError::Os(errno)),
        }
    }

    /// True when the words the C library trusts without checking still
    /// hold what `pthread_mutex_init` wrote: the kind is the one a fresh
    /// robust, process-shared mutex gets in this process, and (glibc) the
    /// owner is not negative. A cheap guard against corruption, not against
    /// a hostile writer, who can change the bytes right after the check:
    /// class mode is the answer to those (see DESIGN.md).
    #[inline(always)]
    pub(super) fn is_intact(&self) -> bool {
        self.word(OWNER_OFFSET) >= 0 && Some(self.word(KIND_OFFSET)) == fresh_kind()
    }

    /// The caller uid the latest holder recorded (see [`HOLDER_OFFSET`]).
    pub(super) fn recorded_holder(&self) -> u32 {
        self.word(HOLDER_OFFSET) as u32
    }

    /// The process holding the lock, as the robust futex word names it (the
    /// locking thread's id, which is its process id in the exchange's
    /// single-threaded binaries); `None` when it is free.
    fn holder_pid(&self) -> Option<u32> {
        match self.word(LOCK_WORD_OFFSET) & FUTEX_TID_MASK {
            0 => None,
            tid => u32::try_from(tid).ok(),
        }
    }

    /// The aligned `i32` at `offset` inside the mutex, read atomically
    /// (another process may be writing it).
    #[inline(always)]
    fn word(&self, offset: usize) -> i32 {
        self.word_at(offset).load(Ordering::Relaxed)
    }

    /// The aligned `i32` at `offset` inside the mutex, as an atomic.
    #[inline(always)]
    fn word_at(&self, offset: usize) -> &AtomicI32 {
        // SAFETY: `offset + 4` is within the mutex (asserted for every
        // word offset), so the pointer stays inside `inner`.
        let at = unsafe { self.inner.get().cast::<u8>().add(offset) };
        // SAFETY: `at` is 4-aligned (the mutex is 8-aligned and every
        // word offset is a multiple of 4), valid while `self` lives (so for the
        // returned borrow), and only ever accessed atomically or by
        // pthreads' own atomics.
        unsafe { AtomicI32::from_ptr(at.cast::<i32>()) }
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

    /// Sleeps until the lock is free or [`LOCK_TIMEOUT`] has passed, on
    /// the monotonic clock (glibc's `pthread_mutex_clocklock`), so setting
    /// the wall clock neither shortens nor stretches the wait.
    ///
    /// The wait is cut into [`LOCK_SLICE`]s, each a fresh `clocklock`: a
    /// waiter whose wake-up was lost, or moved to another futex (anyone who
    /// can map the segment, even read-only, can `FUTEX_CMP_REQUEUE` the
    /// lock's waiters onto a futex nobody wakes), loses one slice and then
    /// tries the lock word again, instead of sleeping out the whole timeout.
    fn lock_slowly(&self) -> libc::c_int {
        const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
        let deadline = add(monotonic_now(), LOCK_TIMEOUT);
        loop {
            let slice_end = earlier(add(monotonic_now(), LOCK_SLICE), deadline);
            // SAFETY: as in `lock`; `slice_end` is a valid timespec on CLOCK.
            let code = unsafe { pthread_mutex_clocklock(self.inner.get(), CLOCK, &slice_end) };
            if code != libc::ETIMEDOUT
                || (slice_end.tv_sec, slice_end.tv_nsec) == (deadline.tv_sec, deadline.tv_nsec)
            {
                return code;
            }
        }
    }

    /// The guard of a lock just taken. glibc's links are kept (in
    /// [`LINKS`]) only if this thread holds no other robust mutex, whose
    /// locking would change them.
    #[inline(always)]
    fn guard(&self, acquired: Acquired) -> MutexGuard<'_> {
        let held_before = HELD.get();
        HELD.set(held_before + 1);
        if held_before == 0 {
            LINKS.set(RobustLinks::read(self));
        }
        MutexGuard {
            mutex: self,
            acquired,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Unlocks: first writes back the words glibc's unlock trusts (see
    /// [`RobustLinks`] and the kind).
    ///
    /// # Safety
    ///
    /// This thread holds the mutex, by a [`MutexGuard`] that will not
    /// release it again.
    #[inline(always)]
    unsafe fn release(&self) {
        let held = HELD.get();
        HELD.set(held.saturating_sub(1));
        if held == 1 {
            let links = LINKS.replace(RobustLinks::NONE);
            if links != RobustLinks::NONE {
                links.restore(self);
            }
        }
        // glibc dispatches its unlock on the kind word, and asserts on
        // kinds it did not expect: write back the kind the lock was checked
        // to have, so a scribble made while this thread held the lock
        // cannot abort it (the window left is the few instructions before
        // glibc reads it; see `RobustLinks`).
        if let Some(kind) = fresh_kind() {
            self.word_at(KIND_OFFSET).store(kind, Ordering::Relaxed);
        }
        // SAFETY: this thread holds the mutex (this function's contract).
        unsafe { libc::pthread_mutex_unlock(self.inner.get()) };
    }

    /// The pointer-sized word at `offset` inside the mutex, atomically.
    #[inline(always)]
    fn link(&self, offset: usize) -> &std::sync::atomic::AtomicUsize {
        // SAFETY: `offset + 8` is within the mutex (asserted for every
        // link offset), so the pointer stays inside `inner`.
        let at = unsafe { self.inner.get().cast::<u8>().add(offset) };
        // SAFETY: `at` is 8-aligned (the mutex is 8-aligned, the offsets
        // are multiples of 8), valid while `self` lives (so for the
        // returned borrow), and only accessed atomically or by this
        // thread's own pthread calls while it holds the lock.
        unsafe { std::sync::atomic::AtomicUsize::from_ptr(at.cast::<usize>()) }
    }
}

/// The values of glibc's robust-list links just after this thread locked,
/// written back just before it unlocks: whatever another process stored
/// there meanwhile, glibc's unlock then follows only the pointers it wrote
/// itself. Only for a thread holding this one robust mutex for the guard's
/// whole life (locking another changes these links); that is every lock
/// the exchange takes. This closes the write-what-where that a writer of
/// the segment had, except within the few instructions between glibc's
/// stores and the snapshot, and between the restore and glibc's loads; a
/// writer who wins those races is still a writer of the segment, which
/// only class mode keeps out.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RobustLinks([usize; LINK_OFFSETS.len()]);

impl RobustLinks {
    /// No links to restore: glibc's are never null while the lock is held.
    /// Plain words rather than an `Option`, so the guard stays in
    /// registers.
    const NONE: RobustLinks = RobustLinks([0; LINK_OFFSETS.len()]);

    #[inline(always)]
    fn read(mutex: &RobustMutex) -> RobustLinks {
        RobustLinks(LINK_OFFSETS.map(|offset| mutex.link(offset).load(Ordering::Relaxed)))
    }

    #[inline(always)]
    fn restore(&self, mutex: &RobustMutex) {
        for (offset, value) in LINK_OFFSETS.iter().zip(self.0) {
            mutex.link(*offset).store(value, Ordering::Relaxed);
        }
    }
}

/// How the lock was taken. Word-sized on purpose: where the compiler
/// moves a guard through memory, a one-byte flag stored there and then
/// copied as part of a wider word stalls the copy (store-to-load
/// forwarding fails), which once cost a third of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Acquired {
    Clean,
    /// The previous owner died holding it; the data may be half-changed.
    OwnerDied,
}

/// Proof that this thread holds the lock. Unlocks when dropped.
#[must_use = "if unused the mutex will immediately unlock"]
pub(crate) struct MutexGuard<'a> {
    mutex: &'a RobustMutex,
    acquired: Acquired,
    // The thread that locked must be the one that unlocks.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl MutexGuard<'_> {
    /// True when the previous owner died holding the lock and the data it
    /// guarded may be half-changed.
    #[inline(always)]
    pub(crate) fn owner_died(&self) -> bool {
        self.acquired == Acquired::OwnerDied
    }

    /// The permission to write the segment, for as long as the lock is
    /// held: the guard is the way to it.
    #[inline(always)]
    pub(crate) fn write(&self) -> super::layout::Write<'_> {
        super::layout::Write::new()
    }

    /// Records `uid` as the holder's caller (see [`HOLDER_OFFSET`]): one
    /// relaxed store, on the line the lock was just taken on.
    #[inline(always)]
    pub(crate) fn record_holder(&self, uid: u32) {
        self.mutex
            .word_at(HOLDER_OFFSET)
            .store(uid as i32, Ordering::Relaxed);
    }

    /// Declares the guarded data repaired. Call only after the repair.
    #[inline(always)]
    pub(crate) fn mark_consistent(&mut self) -> io::Result<()> {
        if self.owner_died() {
            // SAFETY: this thread holds the mutex, which reported EOWNERDEAD.
            check(unsafe { libc::pthread_mutex_consistent(self.mutex.inner.get()) })?;
            self.acquired = Acquired::Clean;
        }
        Ok(())
    }
}

impl Drop for MutexGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: this guard was made by `lock`, so this thread holds the
        // mutex, and a guard is dropped once.
        unsafe { self.mutex.release() };
    }
}

/// The kind word of a mutex freshly initialized the way [`RobustMutex::init`]
/// does it, computed once in this process: what every segment's mutex must
/// hold. `None` if pthreads refused to initialize one at all.
fn fresh_kind() -> Option<i32> {
    static KIND: OnceLock<Option<i32>> = OnceLock::new();
    *KIND.get_or_init(|| {
        let template = RobustMutex {
            inner: UnsafeCell::new(zeroed_mutex()),
        };
        // SAFETY: the template was just made on this stack and nothing
        // else can reach it.
        unsafe { template.init() }.ok()?;
        let kind = template.word(KIND_OFFSET);
        // SAFETY: initialized just above and never locked.
        unsafe { libc::pthread_mutex_destroy(template.inner.get()) };
        Some(kind)
    })
}

fn zeroed_mutex() -> libc::pthread_mutex_t {
    // SAFETY: pthread_mutex_t is a plain C struct of integers, for which
    // all-zero bytes are a valid value.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

/// The monotonic clock now.
fn monotonic_now() -> libc::timespec {
    let mut now = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: `now` is valid writable storage for a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, now.as_mut_ptr()) };
    // SAFETY: clock_gettime with a clock every Linux has cannot fail, and
    // filled it.
    unsafe { now.assume_init() }
}

/// `time` plus `duration`, normalized.
fn add(time: libc::timespec, duration: Duration) -> libc::timespec {
    let nanos = time.tv_nsec as u64 + u64::from(duration.subsec_nanos());
    libc::timespec {
        tv_sec: time.tv_sec
            + duration.as_secs() as libc::time_t
            + (nanos / 1_000_000_000) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    }
}

/// The earlier of two normalized times.
fn earlier(a: libc::timespec, b: libc::timespec) -> libc::timespec {
    if (a.tv_sec, a.tv_nsec) <= (b.tv_sec, b.tv_nsec) {
        a
    } else {
        b
    }
}
