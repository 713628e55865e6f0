//! Segment addresses: which of the three shared-memory mechanisms holds the
//! market, and under what name.
//!
//! | form | mechanism |
//! |---|---|
//! | `posix:/NAME` | shm_open + mmap, seen in `/dev/shm` |
//! | `sysv:KEY`, `sysv:PATH:ID` | shmget + shmat, seen with `ipcs -m` |
//! | `file:PATH` | open + mmap of a regular file |
#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The address used when neither `--segment` nor `EXCHANGE_SEGMENT` is given.
pub const DEFAULT_SEGMENT: &str = "posix:/shm-exchange";

/// The environment variable that overrides [`DEFAULT_SEGMENT`].
pub const SEGMENT_ENV: &str = "EXCHANGE_SEGMENT";

/// Where a market lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentAddress {
    /// A POSIX shared-memory object; `name` starts with its one slash.
    Posix { name: String },
    /// A System V segment.
    SysV { key: SysVKey },
    /// A regular file mapped with mmap.
    File { path: PathBuf },
}

/// How a System V key is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysVKey {
    /// A literal key, never IPC_PRIVATE.
    Literal(libc::key_t),
    /// `ftok(path, id)`, resolved when the segment is opened.
    Ftok { path: PathBuf, id: u8 },
}

/// Why an address was refused; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError(String);

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressError {}

fn refuse(text: &str, why: &str) -> AddressError {
    AddressError(format!(
        "bad segment address {text:?}: {why}; use posix:/NAME, sysv:KEY, sysv:PATH:ID or file:PATH"
    ))
}

fn parse_key(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl FromStr for SegmentAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = text.split_once(':') else {
            return Err(refuse(text, "no mechanism prefix"));
        };
        match scheme {
            "posix" => {
                let Some(bare) = rest.strip_prefix('/') else {
                    return Err(refuse(text, "a POSIX name starts with one slash"));
                };
                if bare.is_empty() || bare.contains('/') {
                    return Err(refuse(
                        text,
                        "a POSIX name is one slash then a non-empty name with no other slash",
                    ));
                }
                if rest.len() > 255 || rest.contains('\0') || bare == "." || bare == ".." {
                    return Err(refuse(
                        text,
                        "a POSIX name has at most 255 bytes and no NUL",
                    ));
                }
                Ok(SegmentAddress::Posix {
                    name: rest.to_owned(),
                })
            }
            "sysv" => {
                if let Some(key) = parse_key(rest) {
                    if key == 0 {
                        return Err(refuse(
                            text,
                            "key 0 is IPC_PRIVATE, which no other process can find",
                        ));
                    }
                    // key_t is a C int; keys above i32::MAX are written as hex.
                    return Ok(SegmentAddress::SysV {
                        key: SysVKey::Literal(key as libc::key_t),
                    });
                }
                let Some((path, id)) = rest.rsplit_once(':') else {
                    return Err(refuse(text, "a System V key is a number or PATH:ID"));
                };
                let id = match parse_key(id) {
                    Some(id @ 1..=255) => id as u8,
                    _ => return Err(refuse(text, "the ftok ID is a number from 1 to 255")),
                };
                if path.is_empty() {
                    return Err(refuse(text, "the ftok PATH is empty"));
                }
                Ok(SegmentAddress::SysV {
                    key: SysVKey::Ftok {
                        path: PathBuf::from(path),
                        id,
                    },
                })
            }
            "file" if !rest.is_empty() => Ok(SegmentAddress::File {
                path: PathBuf::from(rest),
            }),
            "file" => Err(refuse(text, "the file path is empty")),
            _ => Err(refuse(text, "unknown mechanism")),
        }
    }
}

impl fmt::Display for SegmentAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentAddress::Posix { name } => write!(f, "posix:{name}"),
            SegmentAddress::SysV {
                key: SysVKey::Literal(key),
            } => write!(f, "sysv:{:#x}", *key as u32),
            SegmentAddress::SysV {
                key: SysVKey::Ftok { path, id },
            } => write!(f, "sysv:{}:{id}", path.display()),
            SegmentAddress::File { path } => write!(f, "file:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SegmentAddress, AddressError> {
        text.parse()
    }

    #[test]
    fn parses_each_mechanism() {
        assert_eq!(
            parse("posix:/shm-exchange"),
            Ok(SegmentAddress::Posix {
                name: "/shm-exchange".into()
            })
        );
        assert_eq!(
            parse("sysv:4660"),
            Ok(SegmentAddress::SysV {
                key: SysVKey::Literal(0x1234)
            })
        );
        assert_eq!(parse("sysv:0x1234"), parse("sysv:4660"),);
        assert_eq!(
            parse("sysv:/tmp:7"),
            Ok(SegmentAddress::SysV {
                key: SysVKey::Ftok {
                    path: "/tmp".into(),
                    id: 7
                }
            })
        );
        assert_eq!(
            parse("file:/var/tmp/market"),
            Ok(SegmentAddress::File {
                path: "/var/tmp/market".into()
            })
        );
    }

    #[test]
    fn refuses_bad_names() {
        let too_long = format!("posix:/{}", "x".repeat(255));
        for bad in [
            "",
            "shm-exchange",
            "posix:",
            "posix:/",
            "posix:noslash",
            "posix:/a/b",
            "posix://a",
            too_long.as_str(),
            "sysv:0",
            "sysv:",
            "sysv:/tmp:0",
            "sysv:/tmp:256",
            "sysv::1",
            "file:",
            "tcp:/x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse(&format!("posix:/{}", "x".repeat(254))).is_ok());
    }

    #[test]
    fn displays_round_trip() {
        for text in ["posix:/a", "sysv:0x1234", "sysv:/tmp:7", "file:/tmp/m"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }
}
