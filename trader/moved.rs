//! The lab's subcommands that `trader` used to have, now `exchange-lab`'s.
//! `trader` runs none of them; naming one is a usage error that says where
//! it went, before anything is attached or opened.
#![forbid(unsafe_code)]

/// The words of the lab: `stress` and `bench`, and the workers they start.
const LAB_WORDS: [&str; 6] = [
    "stress",
    "bench",
    "stress-worker",
    "bench-worker",
    "serve",
    "mp-client",
];

/// The usage error for a command line whose first word is the lab's, or
/// `None` for any other.
pub fn lab_usage_error(words: &[String]) -> Option<String> {
    let word = words.first()?;
    let word = LAB_WORDS.iter().find(|lab| **lab == word.as_str())?;
    Some(if matches!(*word, "stress" | "bench") {
        format!("`{word}` is not a trader command; it is exchange-lab's: run `exchange-lab {word}` (`exchange-lab --help` lists the lab)")
    } else {
        format!("`{word}` is not a trader command; it was one of the lab's own worker processes, which exchange-lab starts itself")
    })
}
