//! The drivers of a [`Session`] that need no terminal: the script runner
//! (stdin that is not a terminal, or `--script`) and one-shot mode. Each
//! is a loop over [`Session::run_line`] and [`crate::render`] on plain
//! `BufRead`/`Write` streams, so tests drive them with byte buffers. The
//! interactive REPL is the `trader` binary's line editor over the same
//! calls.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::command::{command_word, Reply, Session, MAX_LINE};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::{self, Style};

/// Runs one command a line until the input ends or `quit`: one result
/// line a command to `output`. An error goes to `output` as a JSON object
/// in the JSON style, else to `errors` as one `error: ...` line, so a
/// pipeline's data and its complaints stay apart.
///
/// Output is buffered for speed but flushed whenever the input has nothing
/// more buffered, and before every error, so a program that writes a
/// command and waits for its answer is never left waiting and a person
/// sees answers and errors in order.
///
/// A line that was already waiting in the input runs through
/// [`Session::run_queued_line`], which checks the segment's backing only
/// every few hundred commands; one read after a wait is checked first.
pub fn run_script<R: Read, W: Write, E: Write>(
    session: &mut Session,
    input: &mut BufReader<R>,
    output: &mut W,
    errors: &mut E,
    style: Style,
) -> io::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    let mut line = Vec::new();
    // Each reply is rendered here, then written: one buffer for the run.
    let mut text = String::new();
    loop {
        let queued = !input.buffer().is_empty();
        if !queued {
            output.flush()?;
        }
        let outcome = match read_bounded_line(input, &mut line)? {
            Line::End => break,
            Line::TooLong => Err(Error::LineTooLong { limit: MAX_LINE }),
            Line::Read if queued => session.run_queued_line(&String::from_utf8_lossy(&line)),
            Line::Read => session.run_line(&String::from_utf8_lossy(&line)),
        };
        // Named only on an error: the line is still in the buffer.
        let word = || command_word(&String::from_utf8_lossy(&line));
        match outcome {
            Ok(None) => {}
            Ok(Some(Reply::Quit)) => {
                if style == Style::Json {
                    write_line(output, &mut text, &Reply::Quit, style)?;
                }
                break;
            }
            Ok(Some(reply)) => {
                write_line(output, &mut text, &reply, style)?;
                status = status.max(reply.exit_status());
            }
            Err(error) => {
                let text = render::error(&error, &word(), style);
                if style == Style::Json {
                    writeln!(output, "{text}")?;
                } else {
                    // In order with the answers before it, on a terminal.
                    output.flush()?;
                    writeln!(errors, "{text}")?;
                    errors.flush()?;
                }
                status = status.max(error.exit_code());
                if !error.session_goes_on() {
                    break;
                }
            }
        }
    }
    output.flush()?;
    Ok(status)
}

/// Writes a reply and a newline, rendered in `text`, which is reused so
/// that a script's replies allocate nothing once it has grown.
fn write_line(
    output: &mut impl Write,
    text: &mut String,
    reply: &Reply,
    style: Style,
) -> io::Result<()> {
    text.clear();
    render::write_reply(text, reply, style);
    text.push('\n');
    output.write_all(text.as_bytes())
}

/// What [`read_bounded_line`] found.
enum Line {
    /// The input has ended.
    End,
    /// A line of at most [`MAX_LINE`] bytes is in the buffer.
    Read,
    /// A longer line, read to its end and thrown away.
    TooLong,
}

/// Reads one line into `line` (cleared first), keeping at most
/// [`MAX_LINE`] bytes and a line ending: the rest of a longer line is read
/// and dropped a buffer at a time, so memory stays bounded however long
/// the line (even 100 MB without a newline).
fn read_bounded_line<R: BufRead>(input: &mut R, line: &mut Vec<u8>) -> io::Result<Line> {
    const KEEP: usize = MAX_LINE + 2; // the line and "\r\n"
    line.clear();
    let mut seen: usize = 0;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        let (chunk, ends) = match buffer.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (&buffer[..=newline], true),
            None => (buffer, false),
        };
        let room = KEEP.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        seen = seen.saturating_add(used);
        input.consume(used);
        if ends {
            break;
        }
    }
    if seen == 0 {
        return Ok(Line::End);
    }
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if seen > line.len() || text.len() > MAX_LINE {
        line.clear();
        return Ok(Line::TooLong);
    }
    Ok(Line::Read)
}

/// Runs the words of a command line as one command. The reply goes to
/// `output` in `style`; an error goes to `output` as JSON in the JSON
/// style, else to `errors` as one line for a person. A malformed command
/// (unknown, or with missing or bad arguments) is a usage error, exit 2.
pub fn run_one_shot(
    session: &mut Session,
    words: &[String],
    style: Style,
    output: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<ExitStatus> {
    let line = words.join(" ");
    match session.run_line(&line) {
        Ok(Some(reply)) => {
            let text = render::reply(&reply, style);
            if !text.is_empty() {
                writeln!(output, "{text}")?;
            }
            Ok(reply.exit_status())
        }
        Ok(None) => Ok(ExitStatus::Success),
        Err(error) => {
            if style == Style::Json {
                writeln!(
                    output,
                    "{}",
                    render::error(&error, &command_word(&line), style)
                )?;
            } else {
                writeln!(errors, "trader: {}", render::explain(&error))?;
            }
            Ok(if error.is_usage() {
                ExitStatus::Unusable
            } else {
                error.exit_code()
            })
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
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let status = run_script(
            &mut session,
            &mut BufReader::new(&script[..]),
            &mut output,
            &mut errors,
            Style::Line,
        )
        .unwrap();
        assert_eq!(status, ExitStatus::Refused);
        let output = String::from_utf8(output).unwrap();
        assert_eq!(
            output,
            "bought 1.00 DOLLAR at 13.72 for 13.72; balance 986.28\n"
        );
        let errors = String::from_utf8(errors).unwrap();
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines.len(), 2, "{errors}");
        assert!(
            lines[0].starts_with("error: you hold only 1.00 DOLLAR"),
            "{errors}"
        );
        assert!(lines[1].starts_with("error: unknown command"), "{errors}");
    }

    #[test]
    fn json_script_errors_carry_the_command_and_a_stable_code() {
        let market = Market::create("json-script");
        let mut session = Session::open(&market.0.clone().into(), "cy").unwrap();
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let status = run_script(
            &mut session,
            &mut BufReader::new(&b"buy POUND 100\nEXIT\n"[..]),
            &mut output,
            &mut errors,
            Style::Json,
        )
        .unwrap();
        assert_eq!(status, ExitStatus::Refused);
        assert!(errors.is_empty());
        let lines: Vec<serde_json::Value> = String::from_utf8(output)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[0]["ok"], false);
        assert_eq!(lines[0]["command"], "buy");
        assert_eq!(lines[0]["code"], "insufficient_balance");
        assert_eq!(lines[1]["command"], "quit");
    }

    #[test]
    fn a_line_over_the_limit_is_refused_and_skipped_whole() {
        let market = Market::create("long");
        let mut session = Session::open(&market.0.clone().into(), "cy").unwrap();
        let mut script = vec![b'x'; 10 * MAX_LINE];
        script.extend_from_slice(b"\nrates\n");
        script.extend_from_slice(&vec![b' '; MAX_LINE]);
        script.extend_from_slice(b"\r\nquit\n");
        let mut output = Vec::new();
        let mut output_errors = Vec::new();
        let status = run_script(
            &mut session,
            &mut BufReader::with_capacity(64, &script[..]),
            &mut output,
            &mut output_errors,
            Style::Line,
        )
        .unwrap();
        assert_eq!(status, ExitStatus::Refused);
        let output = String::from_utf8(output).unwrap();
        let errors = String::from_utf8(output_errors).unwrap();
        assert!(errors.contains("longer than 4096 bytes"), "{errors}");
        assert!(
            output.lines().next().unwrap().contains("DOLLAR"),
            "{output}"
        );
        // A blank line of exactly the limit is no error.
        assert_eq!(errors.lines().count(), 1, "{errors}");
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
