//! The one JSON envelope. Every JSON object the binaries print (replies,
//! errors, `exchange-init --status`, `stress --json`, `bench --json`) is one
//! of these two types, so `"ok"` and `"command"` are always spelled and
//! placed the same way and scripts can rely on them.
#![forbid(unsafe_code)]

use serde::Serialize;

/// A success: `{"ok": true, "command": ..., <the body's fields>}`.
///
/// The body must serialize as a map (a struct or a map type); its fields
/// sit beside `ok` and `command`.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<'a, T> {
    ok: bool,
    command: &'a str,
    #[serde(flatten)]
    body: T,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    /// The reply of `command`, which succeeded.
    pub fn success(command: &'a str, body: T) -> Envelope<'a, T> {
        Envelope {
            ok: true,
            command,
            body,
        }
    }

    /// One line of JSON. A body that cannot be written as fields (a
    /// programming error) gives an [`ErrorEnvelope`] saying so, never a
    /// panic.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| {
            ErrorEnvelope::new(&format!(
                "cannot write the {} reply as JSON: {error}",
                self.command
            ))
            .to_json()
        })
    }
}

/// A failure: `{"ok": false, "error": "<one-line message>"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorEnvelope<'a> {
    ok: bool,
    error: &'a str,
}

impl<'a> ErrorEnvelope<'a> {
    /// The failure `error`, a one-line message that names the cause and
    /// the way out.
    pub fn new(error: &'a str) -> ErrorEnvelope<'a> {
        ErrorEnvelope { ok: false, error }
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        // A bool and a string always serialize.
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
    fn a_body_that_is_not_a_map_is_an_error_object_not_a_panic() {
        let json = Envelope::success("rates", vec![1, 2]).to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["ok"], false);
        assert!(value["error"].as_str().unwrap().contains("rates"), "{json}");
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(
            ErrorEnvelope::new("no exchange at posix:/x; run exchange-init first").to_json(),
            r#"{"ok":false,"error":"no exchange at posix:/x; run exchange-init first"}"#
        );
    }
}
