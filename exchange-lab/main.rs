//! `exchange-lab`: the laboratory around an exchange, kept out of the
//! program students run. `stress` (and its race demonstration) and `bench`
//! start many processes, skip the lock on purpose or link SQLite, plotters
//! and a socket server; none of that belongs in a `trader` that may be
//! installed with a class's privilege, so it lives here, never installed
//! with any. The workers these instruments start are this binary again.
#![forbid(unsafe_code)]

mod bench;
mod cli;
mod serve;
mod stress;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Who ran us, before anything can change the process's ids.
    shm_exchange::caller::record();
    // A segment truncated under a stress worker or the bench is one error
    // line and exit status 2; a SIGBUS from SQLite's own mapping is not.
    shm_exchange::install_sigbus_handler();
    match cli::LabArgs::try_parse() {
        Ok(args) => cli::run(args),
        Err(error) => cli::usage_error(error),
    }
    .into()
}
