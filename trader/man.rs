//! `trader man`: the manual page, in roff. One page for the whole program,
//! because most of `trader` is its command language, which clap knows
//! nothing about: the options come from clap, the COMMANDS section from the
//! library's command table (every command, the owner's too, with its usage
//! and an example), and the instruments from their clap definitions. It
//! names no other page, so nothing it points to can be missing, and its
//! examples are one command a line with the explanation below, so nothing
//! wraps at 80 columns.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use clap::{Arg, Command, CommandFactory};

use shm_exchange::command::COMMANDS;

use crate::cli::TraderArgs;

/// `text` made safe for roff: backslashes and hyphens escaped, a leading
/// `.` or `'` kept from being read as a request.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// A paragraph of clap help text, with its lines joined and each blank
/// line a new paragraph.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| escape(&paragraph))
        .collect::<Vec<_>>()
        .join("\n.PP\n")
}

/// One option as a tagged paragraph: `--name NAME`, then its help.
fn option(page: &mut String, arg: &Arg) {
    let Some(long) = arg.get_long() else {
        return;
    };
    let value = if arg.get_action().takes_values() {
        arg.get_value_names()
            .and_then(|names| names.first())
            .map(|name| format!(" \\fI{}\\fR", escape(name)))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|help| paragraphs(&help.to_string()))
        .unwrap_or_default();
    let _ = writeln!(page, ".TP\n\\fB\\-\\-{}\\fR{value}\n{help}", escape(long));
}

/// Help text after the options: paragraphs of prose are filled; a
/// paragraph of indented lines (examples, keys) is printed as it is.
fn after_help(page: &mut String, text: &str) {
    for paragraph in text.split("\n\n") {
        let mut lines = paragraph.lines().peekable();
        page.push_str(".PP\n");
        if lines.peek().is_some_and(|line| line.ends_with(':')) {
            let _ = writeln!(page, "{}", escape(lines.next().unwrap_or_default()));
        }
        let rest: Vec<&str> = lines.collect();
        if rest.iter().all(|line| line.starts_with("  ")) {
            page.push_str(".RS 4\n.nf\n");
            for line in rest {
                let line = line.trim_end();
                let _ = writeln!(page, "{}", escape(line.strip_prefix("  ").unwrap_or(line)));
            }
            page.push_str(".fi\n.RE\n");
        } else {
            page.push_str(&paragraphs(&rest.join("\n")));
            page.push('\n');
        }
    }
}

/// The instruments `--help` lists (no internal ones).
fn instruments(command: &Command) -> impl Iterator<Item = &Command> {
    command.get_subcommands().filter(|sub| !sub.is_hide_set())
}

/// Examples: a command on one line, what it does on the next.
const EXAMPLES: &[(&str, &str)] = &[
    ("trader", "interactive, as $USER, on the default exchange"),
    (
        "trader --name alice buy DOLLAR 10",
        "one command, then exit",
    ),
    (
        "trader rates --json",
        "one JSON object (options go anywhere)",
    ),
    (
        "trader --trace buy DOLLAR 1",
        "the same, and the system calls behind it, on stderr",
    ),
    (
        "printf 'buy EURO 1\\nportfolio\\n' | trader --name bob",
        "scripted: one result line a command",
    ),
    (
        "trader --segment posix:/class --script orders.txt",
        "a script from a file (--script - reads stdin)",
    ),
    (
        "trader --segment redis://10.0.0.5:6379/class",
        "the same market, on a Redis server",
    ),
    ("trader watch", "the live board; q leaves"),
    (
        "trader ticker --every 2 --step 1",
        "live prices (owner only)",
    ),
];

/// The whole page.
pub fn page() -> String {
    let trader = TraderArgs::command();
    let version = trader.get_version().unwrap_or_default();
    let mut page = String::new();
    let _ = writeln!(
        page,
        ".TH trader 1 \"\" \"trader {version}\" \"User Commands\"\n.SH NAME\ntrader \\- buy and sell currency on a shared\\-memory exchange"
    );
    page.push_str(
        ".SH SYNOPSIS\n\
         .B trader\n[\\fIOPTIONS\\fR] [\\fICOMMAND\\fR ...]\n.br\n\
         .B trader\n[\\fIOPTIONS\\fR] \\fIINSTRUMENT\\fR [\\fIINSTRUMENT OPTIONS\\fR]\n",
    );
    page.push_str(".SH DESCRIPTION\n");
    if let Some(about) = trader.get_long_about().or_else(|| trader.get_about()) {
        page.push_str(&paragraphs(&about.to_string()));
        page.push('\n');
    }
    page.push_str(
        ".PP\nWith no command and a terminal on stdin, \\fBtrader\\fR is an \
         interactive REPL with history and Tab completion. With stdin not a \
         terminal, or \\fB\\-\\-script\\fR, it runs one command a line. \
         Words after the options are one command, run once.\n",
    );
    page.push_str(".SH OPTIONS\n");
    for arg in trader.get_arguments().filter(|arg| !arg.is_hide_set()) {
        option(&mut page, arg);
    }
    page.push_str(
        ".SH COMMANDS\nThe language of the REPL, of scripts and of one\\-shot \
         command lines. Currency names ignore case. Commands marked \
         \\(lqowner\\(rq are for the exchange's owner and root; anyone else \
         is refused and nothing changes.\n",
    );
    for spec in COMMANDS {
        let _ = writeln!(
            page,
            ".TP\n.B {}\n{}.\n.br\nExample: \\fB{}\\fR",
            escape(spec.usage),
            escape(spec.summary),
            escape(spec.example)
        );
    }
    page.push_str(".PP\n\\fBexit\\fR is another name for \\fBquit\\fR.\n");
    page.push_str(".SH INSTRUMENTS\nPrograms of their own that take the options above too.\n");
    for instrument in instruments(&trader) {
        let _ = writeln!(page, ".SS \"trader {}\"", escape(instrument.get_name()));
        if let Some(about) = instrument
            .get_long_about()
            .or_else(|| instrument.get_about())
        {
            page.push_str(&paragraphs(&about.to_string()));
            page.push('\n');
        }
        for arg in instrument.get_arguments().filter(|arg| !arg.is_hide_set()) {
            option(&mut page, arg);
        }
        if let Some(after) = instrument.get_after_help() {
            after_help(&mut page, &after.to_string());
        }
    }
    page.push_str(".SH EXAMPLES\n");
    for (command, what) in EXAMPLES {
        let _ = writeln!(
            page,
            ".PP\n.B {}\n.RS 4\n{}\n.RE",
            escape(command),
            escape(what)
        );
    }
    page.push_str(
        ".SH EXIT STATUS\n\
         .TP\n.B 0\nEvery command succeeded; or an interactive REPL was left \
         with \\fBquit\\fR or Ctrl\\-D, whatever it refused on the way.\n\
         .TP\n.B 1\nA command was refused: a market rule, an owner's command \
         run by someone else, an inconsistent audit, a halted market.\n\
         .TP\n.B 2\nA usage error (a bad option, or a one\\-shot command that \
         is unknown or misses its arguments), or the exchange cannot be used.\n\
         .SH ENVIRONMENT\n\
         .TP\n.B EXCHANGE_SEGMENT\nThe exchange when \\fB\\-\\-segment\\fR is \
         not given; else posix:/shm\\-exchange.\n\
         .TP\n.B USER\nThe account name when \\fB\\-\\-name\\fR is not given.\n\
         .TP\n.B NO_COLOR\nSet: no colour, even on a terminal.\n\
         .TP\n.B XDG_STATE_HOME\nWhere the REPL keeps its history, in \
         shm\\-exchange/history (else ~/.local/state/shm\\-exchange/history).\n\
         .SH SEE ALSO\n\
         The exchange is created, inspected and removed with \
         \\fBexchange\\-init\\fR; its manual is \\fBexchange\\-init \\-\\-man | man \\-l \\-\\fR.\n",
    );
    page
}
