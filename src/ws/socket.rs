//! The TCP socket under a WebSocket, for the one thing a session actor cannot
//! do itself. When the peer stops reading, actix-web's write buffer fills and
//! it stops polling the response body, which is where the actor runs: from
//! then on nothing the actor schedules happens, its close and its pings
//! included. The watchdog notices that the actor stopped ticking and aborts
//! the socket; actix-web's next write then fails and the actor stops.

use std::any::Any;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use actix_web::dev::Extensions;

#[derive(Clone, Copy, Debug)]
pub struct Socket {
    fd: RawFd,
    peer: SocketAddr,
}

/// `HttpServer::on_connect`: remembers each connection's socket.
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Ok(peer) = tcp.peer_addr() {
            ext.insert(Socket {
                fd: tcp.as_raw_fd(),
                peer,
            });
        }
    }
}

impl Socket {
    /// Resets the connection (RST, nothing lingers). Only called while the
    /// session is registered, i.e. before actix-web dropped the socket; the
    /// peer check guards against the fd having been reused all the same.
    pub fn abort(&self) -> bool {
        // SAFETY: the fd is only borrowed for these calls; if it was closed
        // and reused, the peer differs and nothing is done to it.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let sock = socket2::SockRef::from(&fd);
        let same = sock
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a == self.peer);
        if !same {
            return false;
        }
        let _ = sock.set_linger(Some(Duration::ZERO));
        sock.shutdown(std::net::Shutdown::Both).is_ok()
    }
}
