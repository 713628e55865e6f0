//! `exchange-init`: create, replace, remove or inspect an exchange. Everything
//! lives in the library.

fn main() -> std::process::ExitCode {
    shm_exchange::cli::init_main()
}
