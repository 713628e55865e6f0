//! What Tab offers and what the hint after the cursor shows, as pure
//! functions of the line typed so far. They are derived from each
//! command's usage, so a new command completes without new code, and they
//! are tested here without a terminal; the REPL's line editor only adapts
//! them.
#![forbid(unsafe_code)]

use crate::command::{command_spec, CommandSpec, ALIASES, COMMANDS, MAX_LINE};

/// Every word that starts a command: the names, then the aliases.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .map(|spec| spec.name)
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
}

/// The placeholders a command takes after its name, from its usage:
/// `buy CUR AMOUNT` gives `["CUR", "AMOUNT"]`.
pub fn placeholders(spec: &CommandSpec) -> Vec<&'static str> {
    spec.usage.split_whitespace().skip(1).collect()
}

/// What tab offers in place of a usage placeholder: currency names for
/// `CUR`, command names for `[CMD]`, the choices of `buy|sell`; nothing
/// for a number or an account name.
fn placeholder_options(placeholder: &str, currencies: &[String]) -> Vec<String> {
    match placeholder {
        "CUR" => currencies.to_vec(),
        "[CMD]" => command_names().map(str::to_owned).collect(),
        choices if choices.contains('|') => choices
            .trim_matches(|c| c == '[' || c == ']')
            .split('|')
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Where the word that ends `text` starts (a byte index).
fn word_start(text: &str) -> usize {
    text.char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(index, c)| index + c.len_utf8())
}

/// What tab offers for the text before the cursor: where the word being
/// completed starts, and the candidates. The first word completes to a
/// command; later words to what the command's usage says goes there
/// (`quote b` to `buy`, `quote buy E` to `EURO`, `help s` to `sell`).
pub fn complete(before_cursor: &str, currencies: &[String]) -> (usize, Vec<String>) {
    let start = word_start(before_cursor);
    let partial = before_cursor[start..].to_ascii_lowercase();
    let previous: Vec<&str> = before_cursor[..start].split_whitespace().collect();
    let options: Vec<String> = match previous.split_first() {
        None => command_names().map(str::to_owned).collect(),
        Some((command, arguments)) => command_spec(command)
            .and_then(|spec| placeholders(spec).get(arguments.len()).copied())
            .map(|placeholder| placeholder_options(placeholder, currencies))
            .unwrap_or_default(),
    };
    let mut matches: Vec<String> = Vec::new();
    for option in options {
        if option.to_ascii_lowercase().starts_with(&partial) && !matches.contains(&option) {
            matches.push(option);
        }
    }
    (start, matches)
}

/// The one candidate `partial` stands for: an exact match (ignoring case)
/// or the only one.
fn only_match<'a>(partial: &str, matches: &'a [String]) -> Option<&'a str> {
    matches
        .iter()
        .find(|option| option.eq_ignore_ascii_case(partial))
        .or(match matches {
            [only] => Some(only),
            _ => None,
        })
        .map(String::as_str)
}

/// A hint shown after the cursor as the user types: the rest of the word
/// when only one candidate fits, then the usage of the arguments still to
/// come. Accepting it (right arrow) inserts only the rest of the word,
/// never the placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageHint {
    /// What is shown, dimmed, after the cursor.
    pub display: String,
    /// What accepting the hint inserts.
    pub completion: Option<String>,
}

/// The hint for `line` with the cursor at its end: after `buy ` it is
/// `CUR AMOUNT`; after `quote b` it is `uy CUR AMOUNT`, and accepting it
/// inserts `uy`. A line longer than any command ([`MAX_LINE`]) gets none,
/// so typing a long line costs no more than its length.
pub fn hint(line: &str, currencies: &[String]) -> Option<UsageHint> {
    if line.len() > MAX_LINE {
        return None;
    }
    let (start, matches) = complete(line, currencies);
    let partial = &line[start..];
    let previous: Vec<&str> = line[..start].split_whitespace().collect();
    let Some((command, arguments)) = previous.split_first() else {
        // Typing the command's name: finish it, then show its usage.
        let name = only_match(partial, &matches).filter(|_| !partial.is_empty())?;
        let rest = name.get(partial.len()..)?;
        return hint_from(rest, &placeholders(command_spec(name)?), true);
    };
    let all = placeholders(command_spec(command)?);
    let remaining = all.get(arguments.len()..).filter(|rest| !rest.is_empty())?;
    if partial.is_empty() {
        return hint_from("", remaining, false);
    }
    // Typing an argument: finish it if only one thing fits, then show the
    // arguments after it.
    let rest = only_match(partial, &matches)
        .and_then(|word| word.get(partial.len()..))
        .unwrap_or("");
    hint_from(rest, &remaining[1..], true)
}

/// The hint `rest` followed by the placeholders, space-separated; a space
/// also comes before the first placeholder when `after_word` (the cursor
/// is still on a word).
fn hint_from(rest: &str, to_come: &[&str], after_word: bool) -> Option<UsageHint> {
    let mut display = rest.to_owned();
    for (index, placeholder) in to_come.iter().enumerate() {
        if after_word || index > 0 {
            display.push(' ');
        }
        display.push_str(placeholder);
    }
    (!display.is_empty()).then(|| UsageHint {
        display,
        completion: (!rest.is_empty()).then(|| rest.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currencies() -> Vec<String> {
        ["DOLLAR", "EURO", "STERLIN", "POUND"]
            .map(str::to_owned)
            .to_vec()
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn completes_commands_then_what_their_usage_names() {
        let currencies = currencies();
        assert_eq!(complete("po", &currencies), (0, words(&["portfolio"])));
        assert_eq!(complete("PO", &currencies), (0, words(&["portfolio"])));
        assert_eq!(
            complete("h", &currencies),
            (0, words(&["history", "halt", "hello", "help"]))
        );
        assert_eq!(complete("e", &currencies), (0, words(&["exit"])));
        assert_eq!(complete("buy d", &currencies), (4, words(&["DOLLAR"])));
        assert_eq!(complete("sell ", &currencies).1, currencies);
        assert_eq!(complete("quote b", &currencies), (6, words(&["buy"])));
        assert_eq!(complete("quote ", &currencies).1, words(&["buy", "sell"]));
        assert_eq!(complete("quote buy ", &currencies).1, currencies);
        assert_eq!(
            complete("Quote  Sell e", &currencies),
            (12, words(&["EURO"]))
        );
        assert_eq!(complete("help b", &currencies), (5, words(&["buy"])));
        assert!(complete("buy DOLLAR 1", &currencies).1.is_empty());
        assert!(complete("quote buy DOLLAR ", &currencies).1.is_empty());
        assert!(complete("history ", &currencies).1.is_empty());
        assert!(complete("rates ", &currencies).1.is_empty());
        assert!(complete("nonsense ", &currencies).1.is_empty());
        assert!(complete("# note ", &currencies).1.is_empty());
        // A non-ASCII space is a word boundary, not a panic.
        assert_eq!(complete("buy\u{a0}e", &currencies), (5, words(&["EURO"])));
    }

    #[test]
    fn every_usage_placeholder_is_understood() {
        let known = [
            "CUR", "AMOUNT", "SELL", "BUY", "NAME", "buy|sell", "[N]", "[MS]", "[CMD]",
        ];
        for spec in COMMANDS {
            for placeholder in placeholders(spec) {
                assert!(
                    known.contains(&placeholder),
                    "{}: teach `complete` and `hint` about {placeholder}",
                    spec.name
                );
            }
        }
    }

    fn shown(line: &str) -> Option<(String, Option<String>)> {
        hint(line, &currencies()).map(|hint| (hint.display, hint.completion))
    }

    fn display(text: &str) -> Option<(String, Option<String>)> {
        Some((text.to_owned(), None))
    }

    fn finishing(display: &str, completion: &str) -> Option<(String, Option<String>)> {
        Some((display.to_owned(), Some(completion.to_owned())))
    }

    #[test]
    fn hints_show_the_rest_of_the_usage() {
        assert_eq!(shown("buy "), display("CUR AMOUNT"));
        assert_eq!(shown("buy"), display(" CUR AMOUNT"));
        assert_eq!(shown("bu"), finishing("y CUR AMOUNT", "y"));
        assert_eq!(shown("buy d"), finishing("OLLAR AMOUNT", "OLLAR"));
        assert_eq!(shown("buy DOLLAR"), display(" AMOUNT"));
        assert_eq!(shown("buy DOLLAR "), display("AMOUNT"));
        assert_eq!(shown("buy DOLLAR 1"), None);
        assert_eq!(shown("buy DOLLAR 1 "), None);
        assert_eq!(shown("buy YEN"), display(" AMOUNT"));
        assert_eq!(shown("quote "), display("buy|sell CUR AMOUNT"));
        assert_eq!(shown("quote s"), finishing("ell CUR AMOUNT", "ell"));
        assert_eq!(shown("quote buy "), display("CUR AMOUNT"));
        assert_eq!(shown("history "), display("[N]"));
        assert_eq!(shown("help "), display("[CMD]"));
        assert_eq!(shown("help tr"), finishing("aders", "aders"));
        assert_eq!(shown("po"), finishing("rtfolio", "rtfolio"));
        assert_eq!(shown("ex"), finishing("it", "it"));
        assert_eq!(shown("rates"), None);
        assert_eq!(shown("rates "), None);
        assert_eq!(shown("h"), None);
        assert_eq!(shown("zzz"), None);
        assert_eq!(shown("zzz "), None);
        assert_eq!(shown(""), None);
        assert_eq!(shown("   "), None);
        assert_eq!(shown("# buy "), None);
        // Too long to be a command: no hint, and no work for one.
        let long = format!("buy{} ", " ".repeat(MAX_LINE));
        assert_eq!(shown(&long), None);
    }
}
