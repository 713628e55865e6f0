//! The three ways to drive a [`Session`]: the interactive REPL, the script
//! runner (stdin that is not a terminal, or `--script`) and one-shot mode.
//! Each is a loop over [`Session::run_line`] and [`crate::render`].

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Context, Editor, Helper, Validator};

use crate::command::{command_spec, CommandSpec, Reply, Session, ALIASES, COMMANDS};
use crate::error::Error;
use crate::render::{self, Paint, Style};

/// Exit status: every command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit status: at least one command was refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: a usage error, or the exchange could not be used.
pub const EXIT_FATAL: u8 = 2;

/// Runs one command a line until the input ends or `quit`, writing one
/// result line a command (errors included) to `output`.
///
/// Output is buffered for speed but flushed whenever the input has nothing
/// more buffered, so a program that writes a command and waits for its
/// answer is never left waiting.
pub fn run_script<R: Read, W: Write>(
    session: &mut Session,
    input: &mut BufReader<R>,
    output: &mut W,
    style: Style,
) -> io::Result<u8> {
    let mut status = EXIT_OK;
    let mut line = Vec::new();
    loop {
        if input.buffer().is_empty() {
            output.flush()?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        match session.run_line(&text) {
            Ok(None) => {}
            Ok(Some(Reply::Quit)) => {
                if style == Style::Json {
                    writeln!(output, "{}", render::reply(&Reply::Quit, style))?;
                }
                break;
            }
            Ok(Some(reply)) => writeln!(output, "{}", render::reply(&reply, style))?,
            Err(error) => {
                writeln!(output, "{}", render::error(&error, style))?;
                if !error.is_refusal() {
                    status = EXIT_FATAL;
                    break;
                }
                status = EXIT_REFUSED;
            }
        }
    }
    output.flush()?;
    Ok(status)
}

/// Runs the words of a command line as one command. The reply goes to
/// `output`, as a table (coloured when `output` is a terminal and
/// `NO_COLOR` is not set) or as JSON; a text error goes to `errors`, a
/// JSON one to `output`.
pub fn run_one_shot(
    session: &mut Session,
    words: &[String],
    json: bool,
    output: &mut (impl Write + IsTerminal),
    errors: &mut impl Write,
) -> io::Result<u8> {
    let style = if json {
        Style::Json
    } else {
        Style::table_for(output)
    };
    match session.run_line(&words.join(" ")) {
        Ok(Some(reply)) => {
            let text = render::reply(&reply, style);
            if !text.is_empty() {
                writeln!(output, "{text}")?;
            }
            Ok(EXIT_OK)
        }
        Ok(None) => Ok(EXIT_OK),
        Err(error) => {
            if json {
                writeln!(output, "{}", render::error(&error, style))?;
            } else {
                writeln!(errors, "trader: {}", render::explain(&error))?;
            }
            Ok(error.exit_code())
        }
    }
}

/// Every word that starts a command: the names, then the aliases.
fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .map(|spec| spec.name)
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
}

/// The placeholders a command takes after its name, from its usage:
/// `buy CUR AMOUNT` gives `["CUR", "AMOUNT"]`.
fn placeholders(spec: &CommandSpec) -> Vec<&'static str> {
    spec.usage.split_whitespace().skip(1).collect()
}

/// What tab offers in place of a usage placeholder: currency names for
/// `CUR`, command names for `[CMD]`, the choices of `buy|sell`; nothing
/// for a number.
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

impl Hint for UsageHint {
    fn display(&self) -> &str {
        &self.display
    }

    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

/// The hint for `line` with the cursor at its end: after `buy ` it is
/// `CUR AMOUNT`; after `quote b` it is `uy CUR AMOUNT`, and accepting it
/// inserts `uy`.
pub fn hint(line: &str, currencies: &[String]) -> Option<UsageHint> {
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

/// The line editor's helper: tab completion, usage hints, a bold prompt
/// and dim hints.
#[derive(Helper, Validator)]
struct TraderHelper {
    currencies: Vec<String>,
    colour: bool,
}

impl Completer for TraderHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = complete(&line[..pos], &self.currencies);
        let pairs = words
            .into_iter()
            .map(|word| Pair {
                display: word.clone(),
                replacement: format!("{word} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for TraderHelper {
    type Hint = UsageHint;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<UsageHint> {
        // Only at the end of the line, where there is room for it.
        if pos < line.len() {
            return None;
        }
        hint(line, &self.currencies)
    }
}

impl Highlighter for TraderHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if self.colour && default {
            Cow::Owned(render::paint(prompt, Paint::Header, true))
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // Dim even without colour: an undimmed hint reads as typed text.
        // (Dim is a text attribute, not a colour; NO_COLOR is about colour.)
        Cow::Owned(render::paint(hint, Paint::Dim, true))
    }
}

/// Where the REPL keeps its history: `$XDG_STATE_HOME/shm-exchange/history`,
/// else `~/.local/state/shm-exchange/history`.
pub fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("shm-exchange").join("history"))
}

/// Lines of history kept.
const HISTORY_LEN: usize = 1000;

fn readline_error(error: ReadlineError) -> Error {
    Error::Os {
        address: "the terminal".into(),
        what: "reading a line",
        source: io::Error::other(error.to_string()),
    }
}

/// A line editor that completes like bash (longest common prefix, then a
/// list), hints, and keeps [`HISTORY_LEN`] lines without repeats.
fn line_editor(
    currencies: Vec<String>,
    colour: bool,
) -> rustyline::Result<Editor<TraderHelper, DefaultHistory>> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(HISTORY_LEN)?
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .auto_add_history(false)
        .build();
    let mut editor = Editor::with_config(config)?;
    editor.set_helper(Some(TraderHelper { currencies, colour }));
    Ok(editor)
}

/// The interactive REPL: a prompt that names the account, tab completion,
/// usage hints, and history kept in [`history_path`] (written after every
/// line, so a killed REPL loses nothing). Ctrl-C cancels the line; Ctrl-D
/// on an empty line or `quit` leaves.
///
/// `style` is `Json` or a table style; tables get colour when the stream
/// they go to is a terminal and `NO_COLOR` is not set.
pub fn run_repl(session: &mut Session, style: Style) -> Result<u8, Error> {
    let (style, error_style) = if style.is_table() {
        (
            Style::table_for(&io::stdout()),
            Style::table_for(&io::stderr()),
        )
    } else {
        (style, style)
    };
    let currencies = session
        .exchange()
        .currencies()
        .iter()
        .map(|currency| currency.name.clone())
        .collect();
    let mut editor = line_editor(currencies, style.is_coloured()).map_err(readline_error)?;
    let mut history = history_path();
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        // No file yet is the normal first run.
        let _ = editor.load_history(path);
    }
    let prompt = format!("{}> ", session.account_name());
    println!(
        "trading as {} on {}; `help` lists the commands, Tab completes, Ctrl-D leaves",
        session.account_name(),
        session.exchange().address()
    );
    let status = loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(path) = &history {
                        if let Err(error) = editor.append_history(path) {
                            eprintln!(
                                "trader: cannot save history to {}: {error}; it is kept for this session only (set XDG_STATE_HOME to a writable directory)",
                                path.display()
                            );
                            history = None;
                        }
                    }
                }
                match session.run_line(&line) {
                    Ok(Some(Reply::Quit)) => break EXIT_OK,
                    Ok(Some(reply)) => println!("{}", render::reply(&reply, style)),
                    Ok(None) => {}
                    Err(error) if error.is_refusal() => {
                        eprintln!("{}", render::error(&error, error_style))
                    }
                    Err(error) => {
                        eprintln!("{}", render::error(&error, error_style));
                        break EXIT_FATAL;
                    }
                }
            }
            // Ctrl-C: drop the line, keep going.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break EXIT_OK,
            Err(error) => return Err(readline_error(error)),
        }
    };
    Ok(status)
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
        assert_eq!(complete("h", &currencies), (0, words(&["history", "help"])));
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
        let known = ["CUR", "AMOUNT", "buy|sell", "[N]", "[CMD]"];
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
    }
}
