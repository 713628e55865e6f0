//! The REPL's history file, opened once, with the caller's own rights,
//! before the class trader gives up the caller's ids (see
//! `shm_exchange::privilege`): afterwards the caller's home is out of the
//! process's reach, so the history is read and appended through the kept
//! descriptor, never by path.
//!
//! The format is rustyline's (`#V2`, then one entry a line, a backslash
//! written `\\`), so a file written before this module reads the same.
#![forbid(unsafe_code)]

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

/// Lines of history kept.
pub const HISTORY_LEN: usize = 1000;

const HEADER: &str = "#V2";

/// The history file, open for reading and appending.
pub struct History {
    file: File,
    path: PathBuf,
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

impl History {
    /// Opens (creating it, mode 0600, and its folder, 0700) the history
    /// file; `None`, after one line on stderr, when it cannot be, and the
    /// history is kept for this session only.
    pub fn open() -> Option<History> {
        let path = history_path()?;
        if let Some(dir) = path.parent() {
            let _ = DirBuilder::new().recursive(true).mode(0o700).create(dir);
        }
        match OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(file) => Some(History { file, path }),
            Err(error) => {
                eprintln!(
                    "trader: cannot open the history file {}: {error}; history is kept for this session only (set XDG_STATE_HOME to a writable directory)",
                    path.display()
                );
                None
            }
        }
    }

    /// The last [`HISTORY_LEN`] entries, oldest first. A file grown past
    /// twice that is rewritten with just those.
    pub fn load(&mut self) -> io::Result<Vec<String>> {
        self.file.rewind()?;
        let mut entries = Vec::new();
        for line in BufReader::new(&self.file).lines() {
            let line = line?;
            if line != HEADER {
                entries.push(unescape(&line));
            }
        }
        let total = entries.len();
        let kept = entries.split_off(total.saturating_sub(HISTORY_LEN));
        if total > 2 * HISTORY_LEN {
            // Appends go to the end whatever the offset: empty it first.
            self.file.set_len(0)?;
            let mut text = format!("{HEADER}\n");
            for entry in &kept {
                text.push_str(&escape(entry));
                text.push('\n');
            }
            self.file.write_all(text.as_bytes())?;
        }
        Ok(kept)
    }

    /// Appends one entry, at once, so a killed REPL loses nothing.
    pub fn append(&mut self, entry: &str) -> io::Result<()> {
        let header = if self.file.metadata()?.len() == 0 {
            format!("{HEADER}\n")
        } else {
            String::new()
        };
        self.file
            .write_all(format!("{header}{}\n", escape(entry)).as_bytes())
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

fn escape(entry: &str) -> String {
    entry.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(line: &str) -> String {
    let mut entry = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            entry.push(c);
            continue;
        }
        entry.push(match chars.next() {
            Some('n') => '\n',
            Some(other) => other,
            None => '\\',
        });
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_the_escaping() {
        for entry in ["buy DOLLAR 1", r"a\b", "two\nlines", r"\n"] {
            assert_eq!(unescape(&escape(entry)), entry);
        }
    }
}
