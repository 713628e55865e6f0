//! The one place that says what a valid account or currency name is.
//!
//! The rules are checked on input (the command line, a config, a script)
//! and again when a name is read back from the segment, which another
//! process may have scribbled on; both go through these functions.
#![forbid(unsafe_code)]

/// Bytes of a currency name in the segment, NUL-padded; names are 1 to 15
/// bytes.
pub const CURRENCY_NAME_BYTES: usize = 16;
/// Bytes of an account name in the segment, NUL-padded; names are 1 to 31
/// bytes.
pub const ACCOUNT_NAME_BYTES: usize = 32;

/// Account names: `BASE` or `BASE:LABEL`, each part `[A-Za-z0-9_.-]+`, at
/// most 31 bytes in all. The colon cannot appear in a login name, which is
/// what lets class mode give each login its own names (see
/// [`belongs_to_login`]).
pub fn is_account_name(name: &str) -> bool {
    let part = |text: &str| !text.is_empty() && text.bytes().all(is_name_part_byte);
    (1..ACCOUNT_NAME_BYTES).contains(&name.len())
        && match name.split_once(':') {
            Some((base, label)) => part(base) && part(label),
            None => part(name),
        }
}

/// A byte an account name may hold anywhere: a part's, or the colon.
pub fn is_account_name_byte(byte: u8) -> bool {
    is_name_part_byte(byte) || byte == b':'
}

/// A byte of a name's base or label.
fn is_name_part_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-')
}

/// True when the account `name` is the login's own: the login itself, or
/// the login, a colon and a label (`ana`, `ana:bot`). `ana.x` is not
/// `ana`'s, since `.` and `-` may be part of someone else's login.
pub fn belongs_to_login(name: &str, login: &str) -> bool {
    is_account_name(name)
        && name
            .strip_prefix(login)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

/// A currency name: a letter, then letters, digits or `_`, at most 15 bytes.
pub fn is_currency_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() < CURRENCY_NAME_BYTES
        && bytes[0].is_ascii_alphabetic()
        && bytes.iter().all(|&b| is_currency_name_byte(b))
}

/// A byte a currency name may hold.
pub fn is_currency_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        assert!(is_account_name("ana-2.x_Y"));
        assert!(is_account_name(&"a".repeat(31)));
        assert!(!is_account_name(&"a".repeat(32)));
        assert!(!is_account_name(""));
        assert!(!is_account_name("ana bob"));
        assert!(!is_account_name("ána"));
        assert!(is_account_name("ana:bot-2"));
        assert!(!is_account_name("ana:"));
        assert!(!is_account_name(":bot"));
        assert!(!is_account_name("ana:b:c"));
        assert!(!is_account_name(&format!("ana:{}", "b".repeat(28))));
    }

    #[test]
    fn names_of_a_login() {
        assert!(belongs_to_login("ana", "ana"));
        assert!(belongs_to_login("ana:bot", "ana"));
        assert!(!belongs_to_login("ana.x", "ana"));
        assert!(!belongs_to_login("ana-2", "ana"));
        assert!(!belongs_to_login("anab", "ana"));
        assert!(!belongs_to_login("ana:", "ana"));
        assert!(!belongs_to_login("ben:bot", "ana"));
        assert!(belongs_to_login("ana.x:bot", "ana.x"));
    }

    #[test]
    fn currency_names() {
        assert!(is_currency_name("DOLLAR"));
        assert!(is_currency_name("X_2"));
        assert!(!is_currency_name("2X"));
        assert!(!is_currency_name(&"A".repeat(16)));
        assert!(!is_currency_name("EU-RO"));
    }
}
