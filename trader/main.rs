//! `trader`: attach to an exchange and buy and sell, interactively, from a
//! script, or one command at a time; and the instruments a class watches
//! (the board, `follow`, the ticker). It is the program a class may install
//! with privilege, so it holds only what a student needs: the lab (stress,
//! the race, bench) is `exchange-lab`. The market, the command language and
//! its rendering are the library's; the modules here are what needs a
//! terminal or a command line.
#![forbid(unsafe_code)]

mod cli;
mod completions;
mod follow;
mod history;
mod man;
mod moved;
mod paste;
mod repl;
mod round;
mod stop;
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
    // A segment truncated under us is one error line and exit status 2.
    shm_exchange::install_sigbus_handler();
    match cli::TraderArgs::try_parse() {
        Ok(args) => cli::run(args),
        Err(error) => cli::usage_error(error),
    }
    .into()
}
