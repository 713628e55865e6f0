//! What `--segment` parses into: `redis://...` goes to Redis, every other
//! form to a [`SegmentAddress`], which stays unaware of Redis.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use crate::address::{AddressError, SegmentAddress};
use crate::error::{Error, Result};
use crate::store::redis::{RedisAddress, RedisAddressError};

/// Where a market lives: a shared-memory segment or a Redis server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketAddress {
    Segment(SegmentAddress),
    Redis(RedisAddress),
}

/// Why `--segment` was refused; the message shows the valid forms and
/// never a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketAddressError {
    Segment(AddressError),
    Redis(RedisAddressError),
}

impl fmt::Display for MarketAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarketAddressError::Segment(error) => write!(f, "{error}, or redis://HOST:PORT/NAME"),
            MarketAddressError::Redis(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for MarketAddressError {}

impl FromStr for MarketAddress {
    type Err = MarketAddressError;

    /// `redis:` and anything after it is a Redis address (so `redis:/x`
    /// is told how a Redis address looks); the rest are segments.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("redis:") {
            text.parse()
                .map(MarketAddress::Redis)
                .map_err(MarketAddressError::Redis)
        } else {
            text.parse()
                .map(MarketAddress::Segment)
                .map_err(MarketAddressError::Segment)
        }
    }
}

/// Shows the address as it was given, a password masked.
impl fmt::Display for MarketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarketAddress::Segment(address) => address.fmt(f),
            MarketAddress::Redis(address) => address.fmt(f),
        }
    }
}

impl From<SegmentAddress> for MarketAddress {
    fn from(address: SegmentAddress) -> Self {
        MarketAddress::Segment(address)
    }
}

impl MarketAddress {
    /// The segment address, for what only shared memory does; `what`
    /// names it in the refusal.
    pub fn segment(&self, what: &str) -> Result<&SegmentAddress> {
        match self {
            MarketAddress::Segment(address) => Ok(address),
            MarketAddress::Redis(address) => Err(Error::Unsupported {
                what: what.to_owned(),
                address: address.to_string(),
                way_out: "it works on a shared-memory segment (posix:/NAME, sysv:KEY or file:PATH)",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_addresses_go_to_redis_and_the_rest_to_segments() {
        let parse = |text: &str| text.parse::<MarketAddress>();
        assert!(matches!(
            parse("redis://127.0.0.1:6390/class"),
            Ok(MarketAddress::Redis(_))
        ));
        assert!(matches!(
            parse("posix:/class"),
            Ok(MarketAddress::Segment(_))
        ));
        let shown = parse("redis://:hunter2@h:1/m").unwrap().to_string();
        assert_eq!(shown, "redis://:***@h:1/m");
        let error = parse("redis:/h/m").unwrap_err().to_string();
        assert!(error.contains("redis://HOST:PORT/NAME"), "{error}");
        let error = parse("shm:/x").unwrap_err().to_string();
        assert!(
            error.contains("posix:/NAME") && error.contains("redis://"),
            "{error}"
        );
    }

    #[test]
    fn shared_memory_only_actions_are_refused_on_redis() {
        let address: MarketAddress = "redis://127.0.0.1:6390/m".parse().unwrap();
        let error = address.segment("exchange-lab serve").unwrap_err();
        assert!(!error.is_refusal());
        assert!(
            error.to_string().contains("shared-memory segment"),
            "{error}"
        );
    }
}
