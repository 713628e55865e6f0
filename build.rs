//! Compiles `exchange-lab/bench/c/trade.c`, the same-work C trade that
//! `exchange-lab bench` runs beside the product's (rows (a) and (b)), into
//! a static library. Only `exchange-lab` calls it (through
//! `shm::c_trade`), so only its binary pulls the object in: `trader` links
//! none of it (tests/bench.rs checks).

fn main() {
    println!("cargo:rerun-if-changed=exchange-lab/bench/c");
    cc::Build::new()
        .file("exchange-lab/bench/c/trade.c")
        .include("exchange-lab/bench/c")
        .flag_if_supported("-std=gnu11")
        .warnings_into_errors(true)
        .compile("shmx_c_trade");
}
