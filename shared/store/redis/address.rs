//! `redis://[[USER]:PASSWORD@]HOST[:PORT]/NAME`: which Redis server holds
//! the market, and the market's name there.
//!
//! The path is the market's name, not a database number: Redis Cluster has
//! only database 0, and every key of the market carries `{NAME}` as its
//! hash tag. The password is kept for connecting and never shown: the
//! address displays as `redis://:***@HOST:PORT/NAME`.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

/// The port Redis listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 6379;
/// Longest market name: it is repeated in every key.
pub const MAX_NAME_BYTES: usize = 64;

/// A parsed `redis://` address.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisAddress {
    pub host: String,
    pub port: u16,
    /// The ACL user, if one is given before the password.
    pub username: Option<String>,
    password: Option<String>,
    /// The market's name, which becomes the hash tag `{NAME}`.
    pub name: String,
}

impl RedisAddress {
    /// The password to log in with; never print it.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// `HOST:PORT`, as an error about the server names it.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Shows the address with the password masked.
impl fmt::Display for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.username, &self.password) {
            (Some(user), Some(_)) => write!(f, "{user}:***@")?,
            (Some(user), None) => write!(f, "{user}@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.server(), self.name)
    }
}

/// Debug goes through Display, so the password cannot leak into a log.
impl fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisAddress({self})")
    }
}

/// Why an address was refused; the message shows a valid one and never
/// the password. (At the merge this becomes a case of `AddressError`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAddressError(String);

impl fmt::Display for RedisAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisAddressError {}

fn refuse(shown: &str, why: &str) -> RedisAddressError {
    RedisAddressError(format!(
        "bad redis address {shown:?}: {why}; use redis://HOST:PORT/NAME or redis://:PASSWORD@HOST:PORT/NAME"
    ))
}

/// `%XX` escapes, so a password may hold `@`, `/` or `:`.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-')
}

impl FromStr for RedisAddress {
    type Err = RedisAddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(rest) = text.strip_prefix("redis://") else {
            return Err(refuse(text, "it does not start with redis://"));
        };
        // From here on the text may hold a password: errors show only the
        // part after the '@'.
        let (userinfo, location) = match rest.rsplit_once('@') {
            Some((userinfo, location)) => (Some(userinfo), location),
            None => (None, rest),
        };
        let shown = match userinfo {
            Some(_) => format!("redis://***@{location}"),
            None => text.to_owned(),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str| {
                    percent_decode(part)
                        .ok_or_else(|| refuse(&shown, "a bad %-escape before the '@'"))
                };
                let user = decode(user)?;
                let password = decode(password)?;
                (
                    (!user.is_empty()).then_some(user),
                    (!password.is_empty()).then_some(password),
                )
            }
        };
        let Some((server, name)) = location.split_once('/') else {
            return Err(refuse(&shown, "no /NAME after the server"));
        };
        if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.bytes().all(is_name_byte) {
            return Err(refuse(
                &shown,
                "the market NAME is 1 to 64 letters, digits, '_', '.' or '-'",
            ));
        }
        let (host, port) = match server.strip_prefix('[') {
            Some(bracketed) => {
                let Some((host, after)) = bracketed.split_once(']') else {
                    return Err(refuse(&shown, "an IPv6 host has no closing ']'"));
                };
                (host, after.strip_prefix(':'))
            }
            None => match server.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (server, None),
            },
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse(&shown, "the host is empty or has odd characters"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(refuse(&shown, "the port is a number from 1 to 65535")),
            },
        };
        Ok(RedisAddress {
            host: host.to_owned(),
            port,
            username,
            password,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RedisAddress, RedisAddressError> {
        text.parse()
    }

    #[test]
    fn parses_host_port_name_and_password() {
        let plain = parse("redis://127.0.0.1:6390/class").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 6390));
        assert_eq!((plain.name.as_str(), plain.password()), ("class", None));
        let secret = parse("redis://:s3cr%40t@db.example:7000/m-1").unwrap();
        assert_eq!(secret.password(), Some("s3cr@t"));
        assert_eq!(secret.username, None);
        let user = parse("redis://ana:pw@[::1]/m").unwrap();
        assert_eq!(user.username.as_deref(), Some("ana"));
        assert_eq!((user.host.as_str(), user.port), ("::1", DEFAULT_PORT));
    }

    #[test]
    fn display_hides_the_password() {
        for (text, shown) in [
            ("redis://127.0.0.1:6390/m", "redis://127.0.0.1:6390/m"),
            ("redis://:hunter2@h:1/m", "redis://:***@h:1/m"),
            ("redis://ana:hunter2@h:1/m", "redis://ana:***@h:1/m"),
            ("redis://[::1]:6379/m", "redis://[::1]:6379/m"),
        ] {
            let address = parse(text).unwrap();
            assert_eq!(address.to_string(), shown);
            assert!(!format!("{address:?}").contains("hunter2"));
        }
    }

    #[test]
    fn refuses_bad_addresses_without_echoing_the_password() {
        for bad in [
            "redis:/h/m",
            "redis://h",
            "redis://h:1/",
            "redis://h:0/m",
            "redis://h:99999/m",
            "redis://h:x/m",
            "redis://:1/m",
            "redis://h:1/a{b}",
            "redis://h:1/a/b",
            "redis://:hunter2@h:1/",
            "redis://:hunter%zz@h:1/m",
            "redis://:hunter2@[::1/m",
        ] {
            let error = parse(bad).expect_err(bad).to_string();
            assert!(!error.contains("hunter"), "{error}");
            assert!(error.contains("redis://HOST:PORT/NAME"), "{error}");
        }
    }
}
