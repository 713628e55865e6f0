//! `trader`: attach to an exchange and buy and sell, interactively, from a
//! script, or one command at a time; and the classroom instruments. The
//! market, the command language and its rendering are the library's; the
//! modules here are what needs a terminal, a command line or child
//! processes.
#![forbid(unsafe_code)]

mod bench;
mod cli;
mod follow;
mod repl;
mod serve;
mod stop;
mod stress;
mod ticker;
mod watch;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Who ran us, before anything can change the process's ids.
    shm_exchange::caller::record();
    // A segment truncated under us is one error line and exit status 2.
    shm_exchange::install_sigbus_handler();
    match cli::TraderArgs::try_parse() {
        Ok(args) => cli::run(args),
        Err(error) => cli::usage_error(error),
    }
    .into()
}
