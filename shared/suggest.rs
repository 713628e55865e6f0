//! "Did you mean ...?": the nearest known word to a typo.
//!
//! A leaf module, so the command language and the market can both use it
//! without importing each other. The distance is `strsim`'s optimal string
//! alignment (a swap of two neighbours is one edit, so `byu` is one typo
//! from `buy`), and the work is bounded: a word longer than any candidate
//! could be a typo of is never compared, so a 100 MB line costs nothing.
#![forbid(unsafe_code)]

/// Words longer than this are never typos of a command or currency name.
const MAX_WORD: usize = 64;

/// The candidate nearest to `word` by edit distance, ignoring case, if it
/// is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > MAX_WORD {
        return None;
    }
    let word = word.to_ascii_lowercase();
    candidates
        .filter(|candidate| candidate.len() <= MAX_WORD)
        .map(|candidate| {
            let distance = strsim::osa_distance(&word, &candidate.to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|&(distance, candidate)| distance <= (candidate.len() / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_names_only() {
        let names = ["DOLLAR", "EURO", "STERLIN", "POUND"];
        assert_eq!(closest("dolar", names.into_iter()), Some("DOLLAR"));
        assert_eq!(closest("eur", names.into_iter()), Some("EURO"));
        assert_eq!(closest("yen", names.into_iter()), None);
        assert_eq!(closest("byu", ["buy", "sell"].into_iter()), Some("buy"));
        assert_eq!(closest(&"b".repeat(10_000), ["buy"].into_iter()), None);
    }
}
