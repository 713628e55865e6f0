//! The one JSON envelope. Every JSON object the binaries print (replies,
//! errors, `exchange-init --status`, `stress --json`, `bench --json`) is one
//! of these two types, so `"ok"`, `"command"` and `"code"` are always
//! spelled and placed the same way and scripts can rely on them.
#![forbid(unsafe_code)]

use serde::Serialize;

/// A reply: `{"ok": true, "command": ..., <the body's fields>}`, or for a
/// command that ran but failed (an inconsistent audit)
/// `{"ok": false, "command": ..., "code": ..., "error": ..., <fields>}`.
///
/// The body must serialize as a map (a struct or a map type); its fields
/// sit beside `ok` and `command`.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<'a, T> {
    ok: bool,
    command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(flatten)]
    body: T,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    /// The reply of `command`, which succeeded.
    pub fn success(command: &'a str, body: T) -> Envelope<'a, T> {
        Envelope {
            ok: true,
            command,
            code: None,
            error: None,
            body,
        }
    }

    /// The reply of `command`, which ran but failed: the `error` message
    /// and stable `code` say why, the body's fields give the details.
    pub fn failure(command: &'a str, code: &'a str, error: &'a str, body: T) -> Envelope<'a, T> {
        Envelope {
            ok: false,
            command,
            code: Some(code),
            error: Some(error),
            body,
        }
    }

    /// One line of JSON. A body that cannot be written as fields (a
    /// programming error) gives an [`ErrorEnvelope`] saying so, never a
    /// panic.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| {
            ErrorEnvelope::new(
                self.command,
                "internal",
                &format!("cannot write the {} reply as JSON: {error}", self.command),
            )
            .to_json()
        })
    }
}

/// A failure: `{"ok": false, "command": ..., "code": ..., "error": ...}`.
///
/// `command` is what was attempted (`buy`, `remove`, `trader` for the
/// command line itself), `code` a stable name for the error (e.g.
/// `insufficient_balance`, see `Error::code`), `error` a one-line message
/// that names the cause and the way out.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorEnvelope<'a> {
    ok: bool,
    command: &'a str,
    code: &'a str,
    error: &'a str,
}

impl<'a> ErrorEnvelope<'a> {
    /// The failure of `command`.
    pub fn new(command: &'a str, code: &'a str, error: &'a str) -> ErrorEnvelope<'a> {
        ErrorEnvelope {
            ok: false,
            command,
            code,
            error,
        }
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        // A bool and strings always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A body without fields, for commands that only say they succeeded.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NoFields {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Body {
        amount: &'static str,
    }

    #[test]
    fn success_puts_ok_and_command_first_then_the_fields() {
        assert_eq!(
            Envelope::success("buy", Body { amount: "1.00" }).to_json(),
            r#"{"ok":true,"command":"buy","amount":"1.00"}"#
        );
        assert_eq!(
            Envelope::success("quit", NoFields {}).to_json(),
            r#"{"ok":true,"command":"quit"}"#
        );
    }

    #[test]
    fn a_failure_with_details_keeps_its_fields() {
        assert_eq!(
            Envelope::failure(
                "audit",
                "inconsistent",
                "audit: INCONSISTENT",
                Body { amount: "1" }
            )
            .to_json(),
            r#"{"ok":false,"command":"audit","code":"inconsistent","error":"audit: INCONSISTENT","amount":"1"}"#
        );
    }

    #[test]
    fn a_body_that_is_not_a_map_is_an_error_object_not_a_panic() {
        let json = Envelope::success("rates", vec![1, 2]).to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["command"], "rates");
        assert!(value["error"].as_str().unwrap().contains("rates"), "{json}");
    }

    #[test]
    fn errors_are_one_line_with_command_and_code() {
        assert_eq!(
            ErrorEnvelope::new(
                "rates",
                "no_exchange",
                "no exchange at posix:/x; run exchange-init first"
            )
            .to_json(),
            r#"{"ok":false,"command":"rates","code":"no_exchange","error":"no exchange at posix:/x; run exchange-init first"}"#
        );
    }
}
