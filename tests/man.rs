//! The manual pages as `man` shows them: rendered by groff and by
//! `man -l` with every warning on, and with no warning at all; no line
//! wider than the 80 columns asked for; every command of the language
//! listed; and no other page named, so none can be missing.

mod common;

use std::process::{Command, Stdio};

use common::{Run, INIT, TRADER};

fn page(program: &str, args: &[&str]) -> String {
    let mut command = Command::new(program);
    command.args(args);
    let run = Run::new(command, b"");
    run.success();
    run.stdout()
}

/// Runs `program args` with `page` on stdin; returns stdout, and fails on
/// any output to stderr or a failed status.
#[track_caller]
fn render(program: &str, args: &[&str], page: &str) -> String {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "")
        .env_remove("MANPAGER")
        .env("PAGER", "cat")
        .stdin(Stdio::piped());
    let run = Run::new(command, page.as_bytes());
    assert!(
        run.code() == Some(0) && run.stderr().is_empty(),
        "{program} {args:?} warned: {}",
        run.stderr()
    );
    run.stdout()
}

/// The rendered page, without overstrikes (bold is `c\bc`).
fn plain(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_pages_render_without_warnings_within_80_columns() {
    for (program, args) in [(TRADER, &["man"][..]), (INIT, &["--man"][..])] {
        let roff = page(program, args);
        render("groff", &["-ww", "-man", "-z"], &roff);
        let shown = plain(&render("man", &["--warnings", "-l", "-"], &roff));
        assert!(shown.lines().count() > 20, "{program}: {shown}");
        for line in shown.lines() {
            assert!(
                line.chars().count() <= 80,
                "{program}: a line wider than 80 columns: {line:?}"
            );
        }
    }
}

#[test]
fn the_trader_page_lists_every_command_and_names_no_missing_page() {
    let shown = plain(&render("man", &["-l", "-"], &page(TRADER, &["man"])));
    let commands = shown
        .split("\nCOMMANDS\n")
        .nth(1)
        .expect("no COMMANDS section")
        .split("\nINSTRUMENTS\n")
        .next()
        .unwrap();
    for usage in [
        "buy CUR AMOUNT",
        "sell CUR AMOUNT",
        "rates",
        "portfolio",
        "quote buy|sell CUR AMOUNT",
        "traders",
        "history [N]",
        "tape [N]",
        "audit",
        "price CUR SELL BUY",
        "halt",
        "resume",
        "reset",
        "close NAME",
        "help [CMD]",
        "quit",
    ] {
        assert!(
            commands
                .lines()
                .any(|line| line.trim_start().starts_with(usage)),
            "{usage} not in COMMANDS:\n{commands}"
        );
    }
    // A reference to another page looks like `name(1)`: only the page's
    // own header and footer may have one.
    for line in shown.lines().filter(|line| line.contains('(')) {
        let words = line.split_whitespace().filter(|word| {
            word.strip_suffix(')')
                .and_then(|word| word.rsplit_once('('))
                .is_some_and(|(name, section)| {
                    !name.is_empty() && section.len() == 1 && section != "N"
                })
        });
        for word in words {
            assert_eq!(word, "trader(1)", "a reference to another page: {line:?}");
        }
    }
}
