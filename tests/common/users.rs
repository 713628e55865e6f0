//! Real second users for the tests that need another uid: CI runs as root,
//! so a test creates a user with `useradd`, runs the binaries as it with
//! `Command::uid`, and deletes it in `Drop`, even when the test panics.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A user made for one test, removed (with its group) when dropped.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    /// A fresh user with a unique name (at most 31 bytes, a valid login and
    /// account name), or `None` with a note when not running as root.
    pub fn create(role: &str) -> Option<TestUser> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: creating a second user needs root");
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        TestUser::named(&format!("sx{}{}{}", role, std::process::id() % 100_000, n))
    }

    /// A user called exactly `name`, which must be unique to the test (a
    /// fresh user's name with a suffix, say); `None` when not root.
    pub fn named(name: &str) -> Option<TestUser> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: creating a second user needs root");
            return None;
        }
        let name = name.to_owned();
        let status = Command::new("useradd")
            .args(["--no-create-home", "--user-group", "--shell", "/bin/false"])
            .arg(&name)
            .status()
            .expect("useradd runs");
        assert!(status.success(), "useradd {name} failed: {status}");
        let user = nix::unistd::User::from_name(&name)
            .expect("getpwnam")
            .expect("the new user exists");
        Some(TestUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// Makes `command` run as this user, with only its own group.
    pub fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command.uid(self.uid).gid(self.gid).env("USER", &self.name)
    }
}

impl TestUser {
    /// A fresh user who can run the binaries here (the build folder may
    /// be out of its reach), or `None` with a note.
    pub fn able(role: &str) -> Option<TestUser> {
        let user = TestUser::create(role)?;
        let mut probe = Command::new(super::TRADER);
        user.apply(&mut probe).arg("--version");
        match probe.output() {
            Ok(output) if output.status.success() => Some(user),
            _ => {
                eprintln!("skipped: user {} cannot run {}", user.name, super::TRADER);
                None
            }
        }
    }

    /// Runs `binary --segment ADDRESS ARGS` as this user.
    pub fn run(&self, binary: &str, segment: &super::Segment, args: &[&str]) -> super::Run {
        let mut command = segment.command(binary, args);
        self.apply(&mut command);
        super::Run::new(command, b"")
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // --force: a process still running as the user (a class trader
        // runs as the exchange user until it has exited) does not keep it.
        let _ = Command::new("userdel")
            .arg("--force")
            .arg(&self.name)
            .status();
    }
}
