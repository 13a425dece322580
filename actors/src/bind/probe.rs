//! Asks the managed named which SOA serial it serves, so a change is only
//! reported done once named answers with it (`rndc reload` only queues a load).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// The serial named serves for `zone` on 127.0.0.1:`port`, if it answers.
pub async fn soa_serial(port: u16, zone: &str) -> Option<u32> {
    let name = Name::from_ascii(format!("{zone}.")).ok()?;
    let mut msg = Message::query();
    msg.add_query(Query::query(name, RecordType::SOA));
    let bytes = msg.to_vec().ok()?;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    sock.send_to(&bytes, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_millis(250), sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let resp = Message::from_vec(&buf[..n]).ok()?;
    if resp.metadata.id != msg.metadata.id {
        return None;
    }
    resp.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

/// Waits until named serves at least `serial` for `zone` (serial arithmetic
/// is not needed: ours only grow and stay far below 2^31 wrap-around).
pub async fn wait_for_serial(port: u16, zone: &str, serial: i64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if soa_serial(port, zone)
            .await
            .is_some_and(|s| i64::from(s) >= serial)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
