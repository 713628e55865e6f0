//! Everything that touches raw shared memory, and the only `unsafe` in the
//! crate: the segment's byte layout, mapping it with each of the three
//! mechanisms, the robust process-shared mutex inside it, and the futex
//! that wakes watchers.
//!
//! - [`layout`]: the `#[repr(C)]` structs, all atomics, with compile-time
//!   offset checks;
//! - `mapping`: [`Mapping`], which hands out the header and the account
//!   table, and reaches the lock only once the segment is verified
//!   (see its `# Invariants`), or maps it read-only, without a lock, for
//!   a user who may only read it;
//! - `posix`, `sysv`, `file`: one private file per mechanism; `fd` holds
//!   what the two fd-backed ones share (mmap, the OFD lock); `segment`,
//!   below them and `mapping`, what a mechanism hands back (`Mapped`) and
//!   the errors they share;
//! - `mutex`: the robust pthread mutex and its guard;
//! - [`futex`]: wait and wake on a word of the segment;
//! - `sigbus`: the handler, installed by the binaries, that turns a SIGBUS
//!   in a mapping of ours (a shrunk segment) into an error line and exit
//!   status 2, terminal restored, and leaves any other SIGBUS fatal;
//! - `baseline`: the benchmarks' "C loop", the same mutex and a trade's
//!   bare stores in a segment of its own;
//! - `c_trade`: the door to the same-work C trade, the bench's anchor.
//!
//! The rest of the crate is `#![forbid(unsafe_code)]` and sees only safe,
//! `pub(crate)` functions. None of them can break the invariants written
//! on the types here, whatever order it calls them in.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

mod baseline;
pub(crate) mod c_trade;
mod fd;
mod file;
pub(crate) mod futex;
pub(crate) mod layout;
mod mapping;
mod mutex;
mod posix;
mod segment;
mod sigbus;
mod sysv;

pub use baseline::{BaselineSegment, BASELINE_ACCOUNTS, BASELINE_CURRENCIES};
pub(crate) use mapping::{
    object_kind, object_owner, remove, Exclusive, Mapping, Opened, ReadOnly, Ready,
};
pub use mutex::LOCK_TIMEOUT;
pub(crate) use mutex::{LockError, MutexGuard};
pub(crate) use segment::{Access, Backing};
pub use sigbus::{forget_terminal, install_sigbus_handler, remember_terminal};

#[cfg(test)]
mod alloc_test;
#[cfg(test)]
mod states_test;
