//! The interactive REPL: rustyline's line editor over the library's
//! [`Session`]. Completion and hints are the library's pure functions
//! ([`shm_exchange::complete`]); this module adapts them to rustyline and
//! owns the prompt, colour and history.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::DefaultHistory;
use rustyline::{
    Behavior, Cmd, CompletionType, ConditionalEventHandler, Config, Context, Editor, Event,
    EventContext, EventHandler, Helper, KeyEvent, RepeatCount, Validator,
};

use crate::paste::Paste;

use shm_exchange::command::command_word;
use shm_exchange::complete::{complete, hint, UsageHint};
use shm_exchange::render::{self, Style};
use shm_exchange::table::{paint, Paint};
use shm_exchange::{Error, ExitStatus, Reply, Session};

use crate::history::{History, HISTORY_LEN};

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

fn readline_error(error: ReadlineError) -> Error {
    Error::Os {
        address: "the terminal".into(),
        what: "reading a line",
        source: io::Error::other(error.to_string()),
    }
}

/// Ctrl-C: cancel the line like a shell does, leaving `^C` after the
/// cancelled text (and wiping the usage hint), then a fresh prompt.
struct ShowInterrupt {
    /// Where the line editor draws: stdout, or the terminal itself when
    /// stdout is a pipe.
    terminal: Mutex<Box<dyn Write + Send>>,
}

impl ConditionalEventHandler for ShowInterrupt {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if let Ok(mut terminal) = self.terminal.lock() {
            // From the cursor to the end of the text, then the mark; `K`
            // erases the rest of the row (the hint). The editor then moves
            // "to the end", which is at most a harmless step right.
            let after_cursor = ctx.line()[ctx.pos()..].chars().count();
            let forward = if after_cursor > 0 {
                format!("\x1b[{after_cursor}C")
            } else {
                String::new()
            };
            let _ = write!(terminal, "{forward}^C\x1b[K");
            let _ = terminal.flush();
        }
        Some(Cmd::Interrupt)
    }
}

/// A line editor that completes like bash (longest common prefix, then a
/// list), hints, keeps [`HISTORY_LEN`] lines without repeats, and shows
/// `^C` on Ctrl-C. When stdout is not a terminal (`trader | tee log`) it
/// draws on the terminal itself, so no escape sequence reaches the pipe.
fn line_editor(
    currencies: Vec<String>,
    colour: bool,
    paste: &Paste,
) -> rustyline::Result<Editor<TraderHelper, DefaultHistory>> {
    let stdout_is_terminal = io::stdout().is_terminal();
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(HISTORY_LEN)?
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .auto_add_history(false)
        .behavior(if stdout_is_terminal {
            Behavior::Stdio
        } else {
            Behavior::PreferTerm
        })
        .build();
    let mut editor = Editor::with_config(config)?;
    editor.set_helper(Some(TraderHelper { currencies, colour }));
    let terminal: Box<dyn Write + Send> = if stdout_is_terminal {
        Box::new(io::stdout())
    } else {
        match std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            Ok(tty) => Box::new(tty),
            Err(_) => Box::new(io::sink()),
        }
    };
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(ShowInterrupt {
            terminal: Mutex::new(terminal),
        })),
    );
    editor.bind_sequence(Event::Any, EventHandler::Conditional(paste.handler()));
    Ok(editor)
}

/// Pasted lines show at most this many characters after the prompt.
const PASTED_SHOWN: usize = 200;

/// Redraws the prompt's row (which the editor left empty, or with what was
/// typed before the paste) with the pasted command, as if typed.
fn show_pasted(prompt: &str, line: &str, colour: bool) {
    if !io::stdout().is_terminal() {
        return;
    }
    let prompt = if colour {
        paint(prompt, Paint::Header, true)
    } else {
        prompt.to_owned()
    };
    let mut shown: String = line.chars().take(PASTED_SHOWN).collect();
    if shown.len() < line.len() {
        shown.push('…');
    }
    let mut stdout = io::stdout().lock();
    let _ = write!(stdout, "\x1b[1A\r{prompt}{shown}\x1b[K\n");
    let _ = stdout.flush();
}

/// The interactive REPL: a prompt that names the account, tab completion,
/// usage hints, and history kept in the [`History`] file (written after every
/// line, so a killed REPL loses nothing). Ctrl-C cancels the line; Ctrl-D
/// on an empty line or `quit` leaves. Lines typed ahead are kept for the
/// next prompt, and a pasted block of lines runs as that many commands.
///
/// Replies are one JSON object each with `json`, else tables, coloured
/// when the stream they go to is a terminal and `NO_COLOR` is not set.
///
/// A refused command is shown and the REPL goes on; leaving with `quit`
/// or Ctrl-D exits 0 whatever was refused on the way (the refusals were
/// seen as they happened). Only an exchange that can no longer be used
/// ends it early, with that error's status.
pub fn run_repl(
    session: &mut Session,
    json: bool,
    mut history: Option<History>,
) -> Result<ExitStatus, Error> {
    let (style, error_style) = if json {
        (Style::Json, Style::Json)
    } else {
        (
            Style::table_for(&io::stdout()),
            Style::table_for(&io::stderr()),
        )
    };
    let currencies = session
        .exchange()
        .currencies()
        .iter()
        .map(|currency| currency.name.clone())
        .collect();
    let colour = Style::table_for(&io::stdout()).is_coloured();
    let paste = Paste::default();
    let mut editor = line_editor(currencies, colour, &paste).map_err(readline_error)?;
    if let Some(file) = &mut history {
        for entry in file.load().unwrap_or_default() {
            let _ = editor.add_history_entry(entry);
        }
    }
    let prompt = format!("{}> ", session.account_name());
    let width = crossterm::terminal::size()
        .ok()
        .filter(|_| io::stdout().is_terminal())
        .map(|(columns, _)| usize::from(columns))
        .filter(|&columns| columns > 0);
    println!(
        "{}",
        render::banner(
            session.account_name(),
            &session.exchange().address().to_string(),
            width
        )
    );
    loop {
        let block = match editor.readline(&prompt) {
            Ok(block) => block,
            // Ctrl-C: drop the line, keep going.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(readline_error(error)),
        };
        // A line of a bracketed paste: the editor has what was typed before
        // the paste, the paste handler the rest; show it where it was typed.
        let block = match paste.take_line() {
            Some(pasted) => {
                let line = block + &pasted;
                show_pasted(&prompt, &line, colour);
                line
            }
            None => block,
        };
        // A bracketed paste of several lines comes back as one block.
        for line in block.lines() {
            if !line.trim().is_empty() {
                let _ = editor.add_history_entry(line);
                if let Some(file) = &mut history {
                    if let Err(error) = file.append(line) {
                        eprintln!(
                            "trader: cannot save history to {}: {error}; it is kept for this session only (set XDG_STATE_HOME to a writable directory)",
                            file.path().display()
                        );
                        history = None;
                    }
                }
            }
            match session.run_line(line) {
                Ok(Some(Reply::Quit)) => return Ok(ExitStatus::Success),
                Ok(Some(reply)) => println!("{}", render::reply(&reply, style)),
                Ok(None) => {}
                Err(error) => {
                    let text = render::error(&error, &command_word(line), error_style);
                    if json {
                        println!("{text}");
                    } else {
                        eprintln!("{text}");
                    }
                    if !error.session_goes_on() {
                        return Ok(error.exit_code());
                    }
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
