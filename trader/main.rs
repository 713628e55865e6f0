//! `trader`: attach to an exchange and buy and sell, interactively, from a
//! script, or one command at a time; and the classroom instruments. The
//! market, the command language and its rendering are the library's; the
//! modules here are what needs a terminal, a command line or child
//! processes.
#![forbid(unsafe_code)]

mod bench;
mod cli;
mod follow;
mod history;
mod repl;
mod serve;
mod stop;
mod stress;
mod ticker;
mod watch;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Who ran us, recorded before anything can change the process's ids,
    // and a class trader's privileges set aside before anything else runs
    // (see `shm_exchange::privilege`).
    if let Err(error) = shm_exchange::privilege::suspend() {
        eprintln!("trader: {error}");
        return shm_exchange::ExitStatus::Unusable.into();
    }
    match cli::TraderArgs::try_parse() {
        Ok(args) => cli::run(args),
        Err(error) => cli::usage_error(error),
    }
    .into()
}
