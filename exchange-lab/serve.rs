//! The message-passing side of `exchange-lab bench`: `exchange-lab serve`
//! owns a market and answers trades over a Unix socket, and `mp-client`
//! sends them one at a time and waits for each answer (the course notes'
//! "four copies"). They exist only to be measured against shared memory.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Instant;

use shm_exchange::render::{self, Style};
use shm_exchange::stress::WorkerReport;
use shm_exchange::{Command, Error, Exchange, Reply, Result, SegmentAddress};

use crate::stress::{self, os_error};

/// `exchange-lab serve --socket PATH`: the message-passing exchange. It owns
/// the market; each connection is a trader whose every request crosses
/// the socket twice. It parses and trades straight through the library,
/// with none of the trader's per-command checks, so the comparison is
/// generous to message passing. Runs until killed.
pub fn serve(address: &SegmentAddress, socket: &Path) -> Result<()> {
    let io_error =
        |what: &'static str| move |error: std::io::Error| os_error(socket.display(), what, error);
    // Clear a socket left by an earlier run, and nothing else.
    if std::fs::symlink_metadata(socket)
        .is_ok_and(|metadata| std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type()))
    {
        let _ = std::fs::remove_file(socket);
    }
    let listener = UnixListener::bind(socket).map_err(io_error("bind"))?;
    stress::ready_then_wait_for_go();
    for (index, connection) in listener.incoming().enumerate() {
        let connection = connection.map_err(io_error("accept"))?;
        let exchange = Exchange::attach(address)?;
        let account = exchange.open_account(&format!("mp-{index}"))?;
        std::thread::spawn(move || {
            let mut reader = BufReader::new(&connection);
            let mut writer = BufWriter::new(&connection);
            let mut line = String::new();
            let trade = |line: &str| match shm_exchange::parse(line)? {
                Some(Command::Trade {
                    side,
                    currency,
                    amount,
                }) => {
                    let fill =
                        exchange.trade(account, side, exchange.currency(&currency)?, amount)?;
                    Ok(render::reply(
                        &Reply::Trade(exchange.receipt(fill)),
                        Style::Line,
                    ))
                }
                _ => Ok(String::new()),
            };
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let reply = trade(&line)
                    .unwrap_or_else(|error: Error| render::error(&error, "trade", Style::Line));
                if writeln!(writer, "{reply}")
                    .and_then(|()| writer.flush())
                    .is_err()
                {
                    break;
                }
                line.clear();
            }
        });
    }
    Ok(())
}

/// `exchange-lab mp-client --socket PATH --trades M`: one message-passing trader.
pub fn message_client(socket: &Path, trades: u64) -> Result<WorkerReport> {
    let io_error =
        |what: &'static str| move |error: std::io::Error| os_error(socket.display(), what, error);
    let connection = UnixStream::connect(socket).map_err(io_error("connect"))?;
    let mut reader = BufReader::new(&connection);
    let mut writer = &connection;
    stress::ready_then_wait_for_go();
    let mut reply = String::new();
    let started = Instant::now();
    for index in 0..trades {
        let request: &[u8] = if index % 2 == 0 {
            b"buy DOLLAR 0.01\n"
        } else {
            b"sell DOLLAR 0.01\n"
        };
        writer.write_all(request).map_err(io_error("write"))?;
        reply.clear();
        reader.read_line(&mut reply).map_err(io_error("read"))?;
    }
    let report = WorkerReport {
        trades,
        refused: 0,
        nanos: started.elapsed().as_nanos() as u64,
        finished_at: shm_exchange::stress::monotonic_nanos(),
    };
    stress::print_report(&report);
    Ok(report)
}
