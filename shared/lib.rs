//! shm-exchange: a currency exchange whose whole market lives in one
//! shared-memory segment, guarded by one robust process-shared mutex.
//!
//! The modules, from the bytes up:
//!
//! - [`layout`]: the `#[repr(C)]` segment, all atomics, with compile-time
//!   offset checks;
//! - [`segment`] and [`lock`]: the only `unsafe` code, mapping a segment
//!   (POSIX, System V or file) and the robust pthread mutex;
//! - [`money`]: exact fixed-point money, never floats;
//! - [`market`]: the market rules, the redo record, audit and recovery;
//! - [`command`], [`render`], [`driver`]: the trader's command language,
//!   its output, and the REPL, script and one-shot drivers;
//! - [`stress`], [`watch`], [`bench`]: the classroom instruments: many
//!   processes at once, the live board, and the benchmarks;
//! - [`cli`]: both command lines, so the binaries are one call each.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod address;
pub mod bench;
pub mod cli;
pub mod command;
pub mod config;
pub mod driver;
pub mod error;
pub mod fault;
pub mod layout;
pub mod lock;
pub mod market;
pub mod money;
pub mod names;
pub mod redis;
pub mod render;
pub mod segment;
pub mod stress;
pub mod suggest;
pub mod watch;

pub use address::SegmentAddress;
pub use command::{parse, Command, Reply, Session};
pub use config::MarketConfig;
pub use error::{Error, Result};
pub use market::{Exchange, Side};
pub use money::{Money, Price};
