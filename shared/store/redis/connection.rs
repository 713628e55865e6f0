//! Connecting to the server, and turning Redis failures into the library's
//! errors: one line, the address with its password masked, and the way out.
//!
//! A server that cannot be reached is [`Error::RedisUnreachable`], a
//! refused login [`Error::RedisAuth`], a connection that breaks later
//! [`Error::ConnectionLost`] (all exit status 2), and a key of the wrong
//! type [`Error::NotAnExchange`].
#![forbid(unsafe_code)]

use std::io;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo, RedisError};

use super::RedisAddress;
use crate::error::Error;

/// How long to wait for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command may take before the server counts as gone.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`failure`] is told while a connection is being made.
pub const CONNECTING: &str = "connecting to redis";

/// Opens a connection with bounded connect, read and write times.
pub fn connect(address: &RedisAddress) -> Result<redis::Connection, Error> {
    let info = ConnectionInfo {
        addr: ConnectionAddr::Tcp(address.host.clone(), address.port),
        redis: RedisConnectionInfo {
            db: 0,
            username: address.username.clone(),
            password: address.password().map(str::to_owned),
            ..RedisConnectionInfo::default()
        },
    };
    let connecting = |error| failure(address, CONNECTING, error);
    let client = redis::Client::open(info).map_err(connecting)?;
    crate::trace!(
        "redis: connect(TCP {}){}",
        address.server(),
        if address.password().is_some() {
            ", then AUTH with the password"
        } else {
            ""
        }
    );
    let connection = client
        .get_connection_with_timeout(CONNECT_TIMEOUT)
        .map_err(connecting)?;
    connection
        .set_read_timeout(Some(COMMAND_TIMEOUT))
        .and_then(|()| connection.set_write_timeout(Some(COMMAND_TIMEOUT)))
        .map_err(connecting)?;
    Ok(connection)
}

/// Maps a failed command. `what` says what was being done: while
/// [`CONNECTING`], a server that cannot be reached is
/// [`Error::RedisUnreachable`]; afterwards a broken or silent connection
/// is [`Error::ConnectionLost`]. Neither shows the password.
pub fn failure(address: &RedisAddress, what: &'static str, error: RedisError) -> Error {
    if error.code() == Some("WRONGTYPE") {
        return Error::NotAnExchange {
            address: address.to_string(),
            reason: one_line(error.detail().unwrap_or("a key of another type")),
        };
    }
    let code = error.code().unwrap_or("");
    if error.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "NOAUTH" | "WRONGPASS" | "NOPERM")
    {
        return Error::RedisAuth {
            address: address.to_string(),
        };
    }
    if error.is_io_error() {
        let server = address.server();
        let reason = if error.is_connection_refusal() {
            "connection refused".to_owned()
        } else if error.is_timeout() {
            let limit = if what == CONNECTING {
                CONNECT_TIMEOUT
            } else {
                COMMAND_TIMEOUT
            };
            format!("no answer within {} s", limit.as_secs())
        } else if error.is_connection_dropped() {
            "the server closed the connection".to_owned()
        } else {
            one_line(&error.to_string())
        };
        return if what == CONNECTING {
            Error::RedisUnreachable { server, reason }
        } else {
            Error::ConnectionLost { server, reason }
        };
    }
    Error::Os {
        address: address.to_string(),
        what,
        source: io::Error::other(format!(
            "the server answered: {}",
            one_line(&error.to_string())
        )),
    }
}

/// Redis messages may span lines; an error here is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
