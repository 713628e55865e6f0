//! Bracketed paste in the REPL: a pasted block of lines runs at once, as
//! that many commands, and a pasted line of any length costs time in
//! proportion to its length.
//!
//! rustyline inserts a bracketed paste into the line being edited and
//! waits for an extra Enter; and keys typed one by one cost a redraw of
//! the whole line each once the line is wider than the terminal, so a
//! long pasted line took time in the square of its length. Instead, a
//! key handler collects the pasted text itself, redrawing nothing: each
//! newline in the paste hands the line collected so far to the REPL (see
//! [`Paste::take_line`]) and accepts the editor's line, so the command runs
//! at once. A paste without a newline (a word into the middle of a
//! command) is inserted into the line being edited, as before.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rustyline::{
    Cmd, ConditionalEventHandler, Event, EventContext, KeyCode, KeyEvent, Modifiers, RepeatCount,
};

/// What the handler collected: the paste under way, and the lines it
/// finished that the REPL has not taken yet.
#[derive(Debug, Default)]
struct Collected {
    /// Between the paste's start and end markers.
    active: bool,
    /// The paste under way had a newline.
    multiline: bool,
    current: String,
    lines: VecDeque<String>,
}

/// The pasted lines, shared by the key handler and the REPL.
#[derive(Debug, Clone, Default)]
pub struct Paste(Arc<Mutex<Collected>>);

impl Paste {
    /// The key handler to bind to every key ([`Event::Any`]): it acts only
    /// between a paste's markers, and leaves every other key alone.
    pub fn handler(&self) -> Box<dyn ConditionalEventHandler> {
        Box::new(self.clone())
    }

    /// The pasted text of the line the editor just accepted, if a paste
    /// accepted it: the REPL puts it after what the editor returned (what
    /// was typed before the paste).
    pub fn take_line(&self) -> Option<String> {
        self.0.lock().ok()?.lines.pop_front()
    }
}

impl ConditionalEventHandler for Paste {
    fn handle(&self, event: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        let Event::KeySeq(keys) = event else {
            return None;
        };
        let [KeyEvent(code, modifiers)] = keys.as_slice() else {
            return None;
        };
        let mut collected = self.0.lock().ok()?;
        if *code == KeyCode::BracketedPasteStart {
            collected.active = true;
            collected.multiline = false;
            collected.current.clear();
            return Some(Cmd::Noop);
        }
        if !collected.active {
            return None;
        }
        let control = modifiers.contains(Modifiers::CTRL);
        Some(match code {
            KeyCode::BracketedPasteEnd => {
                collected.active = false;
                let rest = std::mem::take(&mut collected.current);
                if !collected.multiline {
                    Cmd::Insert(1, rest)
                } else if rest.is_empty() {
                    Cmd::Noop
                } else {
                    // The block's last line runs too: the block is whole.
                    collected.lines.push_back(rest);
                    Cmd::AcceptLine
                }
            }
            KeyCode::Enter => accept(&mut collected),
            KeyCode::Char('J' | 'M') if control => accept(&mut collected),
            KeyCode::Char(c) if !control && !modifiers.contains(Modifiers::ALT) => {
                collected.current.push(*c);
                Cmd::Noop
            }
            KeyCode::Tab => {
                collected.current.push('\t');
                Cmd::Noop
            }
            // Anything else inside a paste (an escape sequence) is dropped.
            _ => Cmd::Noop,
        })
    }
}

/// A newline in a paste: the line so far goes to the REPL, and the
/// editor's line is accepted.
fn accept(collected: &mut Collected) -> Cmd {
    collected.multiline = true;
    let line = std::mem::take(&mut collected.current);
    collected.lines.push_back(line);
    Cmd::AcceptLine
}
