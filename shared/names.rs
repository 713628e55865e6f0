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

/// Account names: `[A-Za-z0-9_.-]{1,31}`.
pub fn is_account_name(name: &str) -> bool {
    (1..ACCOUNT_NAME_BYTES).contains(&name.len()) && name.bytes().all(is_account_name_byte)
}

/// A byte an account name may hold.
pub fn is_account_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-')
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
