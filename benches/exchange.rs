//! `cargo bench`: every benchmark of BENCHMARKS.md, side by side in one
//! run, printed as one table with its ratios. `cargo bench -- --quick` is a
//! seconds-long smoke run; `-- --plot FILE.svg` also draws the picture.
//!
//! The measurements start processes, so they live in the `exchange-lab`
//! binary (`exchange-lab bench`); this runs the built binary and passes its
//! table and exit status through.
#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut bench = Command::new(env!("CARGO_BIN_EXE_exchange-lab"));
    bench.arg("bench");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--quick") {
        bench.arg("--quick");
    }
    // `cargo bench -- --plot docs/bench.svg` draws the picture too.
    if let Some(path) = args.iter().skip_while(|arg| *arg != "--plot").nth(1) {
        bench.args(["--plot", path]);
    }
    match bench.status() {
        Ok(status) => ExitCode::from(status.code().map_or(2, |code| code as u8)),
        Err(error) => {
            eprintln!("bench: cannot run {:?}: {error}", bench.get_program());
            ExitCode::from(2)
        }
    }
}
