//! shm-exchange: a currency exchange whose whole market lives in one
//! shared-memory segment, guarded by one robust process-shared mutex.
//!
//! The modules, from the bytes up:
//!
//! - `shm` (private): the one folder allowed raw memory access: the
//!   `#[repr(C)]` layout of a segment, mapping it (POSIX, System V or file)
//!   with type states that guard its robust pthread mutex, and the futex.
//!   Every other module forbids it;
//! - [`money`]: exact fixed-point money, never floats;
//! - [`market`]: the exchange over a segment: its life cycle, the journal
//!   that makes every change all-or-nothing, the rules as pure functions
//!   ([`market::rules`]), accounts, read views and watchers;
//! - [`fault`]: the crash points of the write path, for tests;
//! - [`command`], [`render`], [`driver`]: the trader's command language,
//!   its output, and the REPL, script and one-shot drivers;
//! - [`stress`], [`watch`], [`bench`]: the classroom instruments: many
//!   processes at once, the live board, and the benchmarks;
//! - [`cli`]: both command lines, so the binaries are one call each.

pub mod address;
pub mod bench;
pub mod cli;
pub mod command;
pub mod config;
pub mod driver;
pub mod error;
pub mod fault;
pub mod market;
pub mod money;
pub mod names;
pub mod render;
pub(crate) mod shm;
pub mod stress;
pub mod suggest;
#[doc(hidden)]
pub mod testing;
pub mod watch;

pub use address::SegmentAddress;
pub use command::{parse, Command, Reply, Session};
pub use config::MarketConfig;
pub use error::{Error, Result};
pub use market::{Exchange, Side};
pub use money::{Money, Price};
