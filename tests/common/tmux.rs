//! A real terminal for the tests: a tmux server of the test's own (its own
//! socket, killed in `Drop`), one session of a given size running one
//! command, whose screen the test reads with `capture-pane`.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A tmux server with one session, `main`.
pub struct Tmux {
    socket: String,
}

/// `word` quoted for `sh`.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A command line for `sh` that runs `command` with its environment
/// changes.
pub fn shell_line(command: &Command) -> String {
    let mut words = vec!["env".to_owned()];
    let mut settings = Vec::new();
    for (key, value) in command.get_envs() {
        let key = key.to_string_lossy();
        match value {
            Some(value) => settings.push(quote(&format!("{key}={}", value.to_string_lossy()))),
            // `env`'s options come before its assignments.
            None => words.push(format!("-u {}", quote(&key))),
        }
    }
    words.extend(settings);
    words.push(quote(&command.get_program().to_string_lossy()));
    words.extend(command.get_args().map(|arg| quote(&arg.to_string_lossy())));
    words.join(" ")
}

impl Tmux {
    /// Starts a `width`x`height` session running `line` under `sh`.
    pub fn start(width: u16, height: u16, line: &str) -> Tmux {
        let socket = format!(
            "shm-exchange-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let tmux = Tmux { socket };
        let status = tmux
            .command(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                line,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .expect("cannot run tmux: install it");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    /// `tmux -L SOCKET ARGS...`, with no user configuration, in UTF-8
    /// (the board's arrows and sparklines).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command
            .args(["-u", "-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("LANG", "C.UTF-8");
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("cannot run tmux");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What the pane shows now.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    /// Waits at most `timeout` for `text` on the screen, and returns the
    /// screen that showed it.
    #[track_caller]
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} not on the screen after {timeout:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id of the pane's command.
    pub fn pane_pid(&self) -> u32 {
        self.run(&["list-panes", "-t", "main", "-F", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("tmux gave no pane pid")
    }

    /// Types `keys` (tmux key names, or literal text).
    pub fn send_keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Kills the session, as closing the terminal's window does.
    pub fn kill_session(&self) {
        self.run(&["kill-session", "-t", "main"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]).output();
    }
}

/// Whether process `pid` has exited (a zombie has).
pub fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}
