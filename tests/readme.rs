//! The README is a newcomer's path: every `trader`, `exchange-init` and
//! `exchange-lab` command line in its shell code blocks must parse, and every link it
//! makes must point inside the repository.
//!
//! Each command is run with `--help` appended: clap reads the words left
//! to right, so a misspelled option, a bad value or an unknown instrument
//! fails (exit 2) before it reaches `--help`, and a good line only prints
//! help, touching no exchange.

mod common;

use std::path::Path;
use std::process::Command;

use common::Run;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The lines of the README's ```sh blocks.
fn shell_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_shell = false;
    for line in text.lines() {
        let fence = line.trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            in_shell = !in_shell && matches!(info.trim(), "sh" | "bash" | "shell" | "console");
            continue;
        }
        if in_shell {
            lines.push(line.trim().trim_start_matches("$ ").to_owned());
        }
    }
    lines
}

/// A shell line's words, as `sh` splits them: quotes kept together,
/// a `#` word starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Every `trader`, `exchange-init` or `exchange-lab` invocation in `lines`: each command
/// of a pipeline or `&&` list, without redirections.
fn invocations(lines: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in lines {
        let mut command: Vec<String> = Vec::new();
        let mut finish = |command: &mut Vec<String>| {
            if matches!(
                command.first().map(String::as_str),
                Some("trader" | "exchange-init" | "exchange-lab")
            ) {
                found.push(std::mem::take(command));
            }
            command.clear();
        };
        let mut skip_target = false;
        for word in words(line) {
            if skip_target {
                skip_target = false;
                continue;
            }
            match word.as_str() {
                "|" | "&&" | "||" | ";" => finish(&mut command),
                "<" | ">" | ">>" | "2>" => skip_target = true,
                _ => command.push(word),
            }
        }
        finish(&mut command);
    }
    found
}

#[test]
fn every_command_in_the_readme_parses() {
    let commands = invocations(&shell_lines(&readme()));
    // The README shows the quick start, three ways to drive a trader, the
    // instruments, completions, the config and the class walkthrough:
    // finding fewer means the extraction broke, not that all is well.
    assert!(
        commands.len() >= 25,
        "only {} commands found: {commands:?}",
        commands.len()
    );
    for words in &commands {
        let binary = match words[0].as_str() {
            "trader" => common::TRADER,
            "exchange-lab" => common::LAB,
            _ => common::INIT,
        };
        let mut command = Command::new(binary);
        command
            .args(&words[1..])
            .arg("--help")
            .env_remove("EXCHANGE_SEGMENT");
        let run = Run::new(command, b"");
        assert_eq!(
            run.code(),
            Some(0),
            "README command does not parse: {}\n{}",
            words.join(" "),
            run.stderr()
        );
        assert!(
            run.stdout().contains("Usage:"),
            "{words:?}: {}",
            run.stdout()
        );
    }
}

#[test]
fn the_extraction_sees_pipelines_quotes_and_comments() {
    let lines = shell_lines(
        "text\n```sh\nprintf 'a b\\n' | trader --name bob   # a comment\nexchange-init && trader rates > out\ncargo build\n```\n```text\ntrader --not-shell\n```\n",
    );
    assert_eq!(
        invocations(&lines),
        [
            vec!["trader", "--name", "bob"],
            vec!["exchange-init"],
            vec!["trader", "rates"]
        ]
    );
    // A bad option is caught, so the test above can fail.
    let mut command = Command::new(common::TRADER);
    command.args(["--nmae", "bob", "--help"]);
    Run::new(command, b"").status(2);
}

#[test]
fn the_readme_links_only_inside_the_repository() {
    let text = readme();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        !text.contains("../"),
        "the README points outside the repository"
    );
    let mut rest = text.as_str();
    let mut links = 0;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let end = after.find(')').expect("an unclosed link");
        let target = &after[..end];
        rest = &after[end..];
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        let path = target.split('#').next().unwrap();
        assert!(
            root.join(path).exists(),
            "the README links to a missing {target}"
        );
        links += 1;
    }
    assert!(links > 0, "no links found: the scan is broken");
}

/// The README's transcript shows the tape as `trader tape` prints it: the
/// same two trades give the same table, header included.
#[test]
fn the_readmes_tape_is_what_the_program_prints() {
    let text = readme();
    let start =
        text.find("alice> tape\n").expect("the transcript's `tape`") + "alice> tape\n".len();
    let shown: Vec<&str> = text[start..]
        .lines()
        .take_while(|line| !line.starts_with("alice>"))
        .collect();
    let segment = common::Segment::create(common::Backend::Posix);
    segment
        .script("alice", &[], "buy dollar 10\nsell DOLLAR 4\n")
        .success();
    let printed = segment.trader("alice", &["tape"]).stdout();
    let printed: Vec<&str> = printed.lines().map(str::trim_end).collect();
    assert_eq!(shown, printed, "README's tape differs from the program's");
}
