//! Connecting to the server, and turning Redis failures into the library's
//! errors: one line, the address with its password masked, and the way out.
//!
//! `crate::Error` has no Redis variants yet, so an unreachable server or a
//! lost connection is an [`Error::Os`] (exit 2) whose message carries the
//! advice, and a key of the wrong type is [`Error::NotAnExchange`].
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
    let connecting = |error| failure(address, "connecting to redis", error);
    let client = redis::Client::open(info).map_err(connecting)?;
    let connection = client
        .get_connection_with_timeout(CONNECT_TIMEOUT)
        .map_err(connecting)?;
    connection
        .set_read_timeout(Some(COMMAND_TIMEOUT))
        .and_then(|()| connection.set_write_timeout(Some(COMMAND_TIMEOUT)))
        .map_err(connecting)?;
    Ok(connection)
}

/// Maps a failed command. `what` says what was being done, as in
/// "connecting to redis failed for redis://127.0.0.1:6390/m: connection
/// refused; start redis-server or check the address".
pub fn failure(address: &RedisAddress, what: &'static str, error: RedisError) -> Error {
    let os = |kind: io::ErrorKind, message: String| Error::Os {
        address: address.to_string(),
        what,
        source: io::Error::new(kind, message),
    };
    if error.code() == Some("WRONGTYPE") {
        return Error::NotAnExchange {
            address: address.to_string(),
            reason: one_line(error.detail().unwrap_or("a key of another type")),
        };
    }
    if error.is_io_error() {
        let server = address.server();
        return if error.is_connection_refusal() {
            os(
                io::ErrorKind::ConnectionRefused,
                format!("cannot reach redis at {server} (connection refused); start redis-server or check the address"),
            )
        } else if error.is_timeout() {
            os(
                io::ErrorKind::TimedOut,
                format!("redis at {server} did not answer in time; check the server, then start the trader again"),
            )
        } else {
            os(
                io::ErrorKind::ConnectionAborted,
                format!("lost the connection to redis at {server} ({}); the market is kept by the server: check it, then start the trader again (the last command may not have been applied; see `portfolio`)", one_line(&error.to_string())),
            )
        };
    }
    let code = error.code().unwrap_or("");
    if error.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "NOAUTH" | "WRONGPASS" | "NOPERM")
        || error.to_string().contains("AUTH")
    {
        return os(
            io::ErrorKind::PermissionDenied,
            "the server refused the login; check the user and password in the address (redis://:PASSWORD@HOST:PORT/NAME)".into(),
        );
    }
    os(
        io::ErrorKind::Other,
        format!("the server answered: {}", one_line(&error.to_string())),
    )
}

/// Redis messages may span lines; an error here is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
