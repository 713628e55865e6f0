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
//! - [`domain`]: the market's vocabulary, its rules as pure functions
//!   ([`domain::rules`]) and the audit's laws, knowing no store;
//! - [`store`]: the market's two stores and the choice between them:
//!   [`store::shm`], the exchange over a segment (its life cycle, the
//!   journal that makes every change all-or-nothing, accounts, read views
//!   and watchers), and [`store::redis`], the same market on a Redis
//!   server, for a class that outgrows one host;
//! - [`fault`]: the crash points of the write path, for tests;
//! - [`command`], [`render`], [`driver`]: the trader's command language,
//!   its output (one [`table`] renderer, one JSON [`envelope`]), and the
//!   script and one-shot drivers; [`complete`]: what the REPL's Tab and
//!   hints offer;
//! - [`board`], [`follow`] and [`stress`]: the classroom instruments'
//!   library half: the watch board's text fitted to a terminal, the new
//!   tape entries `follow` prints, and the stress workers' trading;
//!   [`ticker`]: the seeded random walk of live prices;
//! - [`exit`]: the exit statuses every program answers with;
//! - [`privilege`]: class mode's installed trader setting its privileges
//!   aside, using the class group for one open, and dropping them for
//!   good; [`caller`]: who the process acts for, whatever its ids;
//! - [`trace`]: `--trace`, the system calls and protocol steps behind
//!   each command, free when off.
//!
//! There is no terminal or command-line code here: the `trader` and
//! `exchange-init` binaries own the command lines, the line editor, the
//! full-screen board and progress bars, and call this library for the rest.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod address;
pub mod board;
pub mod caller;
pub mod command;
pub mod complete;
pub mod config;
pub mod domain;
pub mod driver;
pub mod envelope;
pub mod error;
pub mod exit;
pub mod fault;
pub mod follow;
pub mod money;
pub mod names;
pub mod privilege;
pub mod protocol;
pub mod render;
pub mod round;
pub(crate) mod shm;
pub mod store;
pub mod stress;
pub mod suggest;
pub mod table;
#[doc(hidden)]
pub mod testing;
pub mod ticker;
pub mod trace;

pub use address::SegmentAddress;
pub use command::{parse, Command, Reply, Session};
pub use config::MarketConfig;
pub use domain::Side;
pub use envelope::{Envelope, ErrorEnvelope};
pub use error::{Error, Result};
pub use exit::ExitStatus;
pub use money::{Money, Price};
/// For whoever puts the terminal in raw mode: save its mode first, so that
/// a SIGBUS from a shrunk segment can restore it before exiting.
pub use shm::{forget_terminal, install_sigbus_handler, remember_terminal};
pub use store::shm::Exchange;
pub use store::{Market, MarketAddress, Store};
