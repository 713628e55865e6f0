//! `cargo bench`: every benchmark of BENCHMARKS.md, side by side in one
//! run, printed as one table with its ratios. `cargo bench -- --quick` is a
//! seconds-long smoke run.

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let size = if quick {
        shm_exchange::bench::BenchSize::QUICK
    } else {
        shm_exchange::bench::BenchSize::FULL
    };
    let trader = std::path::Path::new(env!("CARGO_BIN_EXE_trader"));
    match shm_exchange::bench::run(trader, size, |step| eprintln!("running {step}...")) {
        Ok(rows) => println!("{}", shm_exchange::bench::table(&rows)),
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::exit(2);
        }
    }
}
