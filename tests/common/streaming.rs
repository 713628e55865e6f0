//! A long-running instrument (`follow`, `ticker`) whose output lines are
//! read one at a time with bounded waits, signalled like a user would, and
//! killed in `Drop` if still running, so a failing test leaves nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::TIMEOUT;

pub struct Streaming {
    child: Child,
    pub stdout: Receiver<String>,
    pub stderr: Receiver<String>,
}

fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Streaming {
    /// Starts `command` with stdout and stderr piped and stdin empty.
    pub fn start(mut command: Command) -> Streaming {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        Streaming {
            stdout: lines_of(child.stdout.take().unwrap()),
            stderr: lines_of(child.stderr.take().unwrap()),
            child,
        }
    }

    /// The next stdout line, waiting at most [`TIMEOUT`].
    #[track_caller]
    pub fn line(&self) -> String {
        self.stdout
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|error| panic!("no line on stdout: {error}"))
    }

    /// The next stderr line, waiting at most [`TIMEOUT`].
    #[track_caller]
    pub fn error_line(&self) -> String {
        self.stderr
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|error| panic!("no line on stderr: {error}"))
    }

    /// The next stdout line parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("bad JSON {line:?}: {error}"))
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits at most [`TIMEOUT`] for the exit; returns the status code and
    /// the rest of stderr.
    #[track_caller]
    pub fn exit(&mut self) -> (Option<i32>, String) {
        let status = super::wait_until(&mut self.child, TIMEOUT).expect("still running");
        let stderr: Vec<String> = self.stderr.iter().collect();
        (status.code(), stderr.join("\n"))
    }

    /// Whether the process is stopped (state T in /proc).
    pub fn is_stopped(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('T'))
            })
            .unwrap_or(false)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
