//! The interactive REPL: rustyline's line editor over the library's
//! [`Session`]. Completion and hints are the library's pure functions
//! ([`shm_exchange::complete`]); this module adapts them to rustyline and
//! owns the prompt, colour and history.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Context, Editor, Helper, Validator};

use shm_exchange::complete::{complete, hint, UsageHint};
use shm_exchange::render::{self, Style};
use shm_exchange::table::{paint, Paint};
use shm_exchange::{Error, ExitStatus, Reply, Session};

/// The library's [`UsageHint`] as rustyline shows it.
struct ReplHint(UsageHint);

impl Hint for ReplHint {
    fn display(&self) -> &str {
        &self.0.display
    }

    fn completion(&self) -> Option<&str> {
        self.0.completion.as_deref()
    }
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
    type Hint = ReplHint;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<ReplHint> {
        // Only at the end of the line, where there is room for it.
        if pos < line.len() {
            return None;
        }
        hint(line, &self.currencies).map(ReplHint)
    }
}

impl Highlighter for TraderHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if self.colour && default {
            Cow::Owned(paint(prompt, Paint::Header, true))
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // Dim even without colour: an undimmed hint reads as typed text.
        // (Dim is a text attribute, not a colour; NO_COLOR is about colour.)
        Cow::Owned(paint(hint, Paint::Dim, true))
    }
}

/// Where the REPL keeps its history: `$XDG_STATE_HOME/shm-exchange/history`,
/// else `~/.local/state/shm-exchange/history`.
fn history_path() -> Option<PathBuf> {
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
pub fn run_repl(session: &mut Session, style: Style) -> Result<ExitStatus, Error> {
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
                    Ok(Some(Reply::Quit)) => break ExitStatus::Success,
                    Ok(Some(reply)) => println!("{}", render::reply(&reply, style)),
                    Ok(None) => {}
                    Err(error) if error.is_refusal() => {
                        eprintln!("{}", render::error(&error, error_style))
                    }
                    Err(error) => {
                        eprintln!("{}", render::error(&error, error_style));
                        break error.exit_code();
                    }
                }
            }
            // Ctrl-C: drop the line, keep going.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break ExitStatus::Success,
            Err(error) => return Err(readline_error(error)),
        }
    };
    Ok(status)
}
