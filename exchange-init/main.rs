//! `exchange-init`: create, replace, remove or inspect an exchange. The
//! exchange itself is the library's; this binary is its command line.
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Who ran us, before anything can change the process's ids.
    shm_exchange::caller::record();
    // A segment truncated under us is one error line and exit status 2.
    shm_exchange::install_sigbus_handler();
    match cli::InitArgs::try_parse() {
        Ok(args) => cli::run(&args),
        Err(error) => cli::usage_error(error),
    }
    .into()
}
