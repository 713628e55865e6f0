//! The drivers of a [`Session`] that need no terminal: the script runner
//! (stdin that is not a terminal, or `--script`) and one-shot mode. Each
//! is a loop over [`Session::run_line`] and [`crate::render`] on plain
//! `BufRead`/`Write` streams, so tests drive them with byte buffers. The
//! interactive REPL is the `trader` binary's line editor over the same
//! calls.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::command::{Reply, Session};
use crate::exit::ExitStatus;
use crate::render::{self, Style};

/// Runs one command a line until the input ends or `quit`, writing one
/// result line a command (errors included) to `output`.
///
/// Output is buffered for speed but flushed whenever the input has nothing
/// more buffered, so a program that writes a command and waits for its
/// answer is never left waiting.
pub fn run_script<R: Read, W: Write>(
    session: &mut Session,
    input: &mut BufReader<R>,
    output: &mut W,
    style: Style,
) -> io::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    let mut line = Vec::new();
    loop {
        if input.buffer().is_empty() {
            output.flush()?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        match session.run_line(&text) {
            Ok(None) => {}
            Ok(Some(Reply::Quit)) => {
                if style == Style::Json {
                    writeln!(output, "{}", render::reply(&Reply::Quit, style))?;
                }
                break;
            }
            Ok(Some(reply)) => writeln!(output, "{}", render::reply(&reply, style))?,
            Err(error) => {
                writeln!(output, "{}", render::error(&error, style))?;
                status = error.exit_code();
                if !error.is_refusal() {
                    break;
                }
            }
        }
    }
    output.flush()?;
    Ok(status)
}

/// Runs the words of a command line as one command. The reply goes to
/// `output` in `style`; an error goes to `output` as JSON in the JSON
/// style, else to `errors` as one line for a person.
pub fn run_one_shot(
    session: &mut Session,
    words: &[String],
    style: Style,
    output: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<ExitStatus> {
    match session.run_line(&words.join(" ")) {
        Ok(Some(reply)) => {
            let text = render::reply(&reply, style);
            if !text.is_empty() {
                writeln!(output, "{text}")?;
            }
            Ok(ExitStatus::Success)
        }
        Ok(None) => Ok(ExitStatus::Success),
        Err(error) => {
            if style == Style::Json {
                writeln!(output, "{}", render::error(&error, style))?;
            } else {
                writeln!(errors, "trader: {}", render::explain(&error))?;
            }
            Ok(error.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exchange, MarketConfig, SegmentAddress};

    /// An exchange of this test's own, removed however the test ends.
    struct Market(SegmentAddress);

    impl Market {
        fn create(tag: &str) -> Market {
            let address: SegmentAddress =
                format!("posix:/shmx-driver-{}-{tag}", std::process::id())
                    .parse()
                    .unwrap();
            Exchange::create(&address, &MarketConfig::default(), 0o600).unwrap();
            Market(address)
        }
    }

    impl Drop for Market {
        fn drop(&mut self) {
            let _ = Exchange::remove(&self.0);
        }
    }

    #[test]
    fn a_script_runs_from_bytes_to_bytes_with_one_line_a_command() {
        let market = Market::create("script");
        let mut session = Session::open(&market.0.clone().into(), "ann").unwrap();
        let script = b"# comment\n\nbuy DOLLAR 1\nsell DOLLAR 100\nbogus\nquit\nbuy DOLLAR 1\n";
        let mut output = Vec::new();
        let status = run_script(
            &mut session,
            &mut BufReader::new(&script[..]),
            &mut output,
            Style::Line,
        )
        .unwrap();
        assert_eq!(status, ExitStatus::Refused);
        let output = String::from_utf8(output).unwrap();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 3, "{output}");
        assert_eq!(
            lines[0],
            "bought 1.00 DOLLAR at 13.72 for 13.72; balance 986.28"
        );
        assert!(
            lines[1].starts_with("error: you hold only 1.00 DOLLAR"),
            "{output}"
        );
        assert!(lines[2].starts_with("error: unknown command"), "{output}");
    }

    #[test]
    fn one_shot_errors_go_to_stderr_in_text_and_stdout_in_json() {
        let market = Market::create("one-shot");
        let mut session = Session::open(&market.0.clone().into(), "bob").unwrap();
        let words = |line: &str| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let status = run_one_shot(
            &mut session,
            &words("sell EURO 1"),
            Style::Table,
            &mut output,
            &mut errors,
        )
        .unwrap();
        assert_eq!(status, ExitStatus::Refused);
        assert!(output.is_empty());
        assert!(String::from_utf8(errors)
            .unwrap()
            .starts_with("trader: you hold only"));

        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let status = run_one_shot(
            &mut session,
            &words("buy EURO 1"),
            Style::Json,
            &mut output,
            &mut errors,
        )
        .unwrap();
        assert_eq!(status, ExitStatus::Success);
        assert!(errors.is_empty());
        let reply: serde_json::Value = serde_json::from_slice(&output).unwrap();
        assert_eq!(reply["ok"], true);
        assert_eq!(reply["command"], "buy");
        assert_eq!(reply["total"], "19.50");
    }
}
