//! The three ways to drive a [`Session`]: the interactive REPL, the script
//! runner (stdin that is not a terminal, or `--script`) and one-shot mode.
//! Each is a loop over [`Session::run_line`] and [`crate::render`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, Helper, Highlighter, Hinter, Validator};

use crate::command::{Reply, Session, COMMANDS};
use crate::error::Error;
use crate::render::{self, Style};

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
/// `output`; a text error goes to `errors`, a JSON one to `output`.
pub fn run_one_shot(
    session: &mut Session,
    words: &[String],
    json: bool,
    output: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<u8> {
    let style = if json { Style::Json } else { Style::Table };
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
                writeln!(errors, "trader: {error}")?;
            }
            Ok(error.exit_code())
        }
    }
}

/// Completes command names, then currency names or help topics.
#[derive(Helper, Hinter, Highlighter, Validator)]
struct TraderHelper {
    currencies: Vec<String>,
}

/// What tab offers for the text before the cursor: where the word being
/// completed starts, and the candidates.
pub fn complete(before_cursor: &str, currencies: &[String]) -> (usize, Vec<String>) {
    let start = before_cursor
        .rfind(char::is_whitespace)
        .map_or(0, |index| index + 1);
    let partial = &before_cursor[start..];
    let previous: Vec<&str> = before_cursor[..start].split_whitespace().collect();
    let commands = || {
        COMMANDS
            .iter()
            .map(|spec| spec.name.to_owned())
            .chain(["exit".to_owned()])
    };
    let options: Vec<String> = match previous.as_slice() {
        [] => commands().collect(),
        [command] if matches!(command.to_ascii_lowercase().as_str(), "buy" | "sell") => {
            currencies.to_vec()
        }
        [command] if command.eq_ignore_ascii_case("help") => commands().collect(),
        _ => Vec::new(),
    };
    let matches = options
        .into_iter()
        .filter(|option| {
            option
                .to_ascii_lowercase()
                .starts_with(&partial.to_ascii_lowercase())
        })
        .collect();
    (start, matches)
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

/// The interactive REPL: a prompt that names the account, history, tab
/// completion. Ctrl-C cancels the line; Ctrl-D or `quit` leaves.
pub fn run_repl(session: &mut Session, style: Style) -> Result<u8, Error> {
    let readline_error = |error: ReadlineError| Error::Os {
        address: "the terminal".into(),
        what: "reading a line",
        source: io::Error::other(error.to_string()),
    };
    let mut editor: Editor<TraderHelper, DefaultHistory> = Editor::new().map_err(readline_error)?;
    editor.set_helper(Some(TraderHelper {
        currencies: session
            .exchange()
            .currencies()
            .iter()
            .map(|currency| currency.name.clone())
            .collect(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let prompt = format!("{}> ", session.account_name());
    println!(
        "trading as {} on {}; type `help` for commands, `quit` to leave",
        session.account_name(),
        session.exchange().address()
    );
    let status = loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match session.run_line(&line) {
                    Ok(Some(Reply::Quit)) => break EXIT_OK,
                    Ok(Some(reply)) => println!("{}", render::reply(&reply, style)),
                    Ok(None) => {}
                    Err(error) if error.is_refusal() => {
                        eprintln!("{}", render::error(&error, style))
                    }
                    Err(error) => {
                        eprintln!("{}", render::error(&error, style));
                        break EXIT_FATAL;
                    }
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break EXIT_OK,
            Err(error) => return Err(readline_error(error)),
        }
    };
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(path);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::complete;

    #[test]
    fn completes_commands_then_currencies() {
        let currencies = vec!["DOLLAR".to_owned(), "EURO".to_owned()];
        assert_eq!(
            complete("po", &currencies),
            (0, vec!["portfolio".to_owned()])
        );
        assert_eq!(
            complete("buy d", &currencies),
            (4, vec!["DOLLAR".to_owned()])
        );
        assert_eq!(complete("sell ", &currencies).1, currencies);
        assert_eq!(complete("help b", &currencies), (5, vec!["buy".to_owned()]));
        assert!(complete("buy DOLLAR 1", &currencies).1.is_empty());
    }
}
