//! `trader`: attach to an exchange and buy and sell, interactively, from a
//! script, or one command at a time. Everything lives in the library.

fn main() -> std::process::ExitCode {
    shm_exchange::cli::trader_main()
}
