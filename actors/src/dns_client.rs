//! The one DNS client: a single UDP exchange with a server, used to ask the
//! managed named which serial it serves and to test and health-check
//! forwarders.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// What a server answered, and how fast.
#[derive(Debug, Clone)]
pub struct Answer {
    pub rcode: ResponseCode,
    /// The answer section, one record per line in presentation format.
    pub answers: Vec<String>,
    pub latency: Duration,
    message: Message,
}

impl Answer {
    /// NOERROR or NXDOMAIN: the server works, whatever the name.
    pub fn is_healthy(&self) -> bool {
        matches!(self.rcode, ResponseCode::NoError | ResponseCode::NXDomain)
    }
}

/// Sends one query for `name`/`rtype` to `server` and waits at most `limit`
/// for the reply with the same id from that address.
pub async fn query(
    server: SocketAddr,
    name: Name,
    rtype: RecordType,
    recursion_desired: bool,
    limit: Duration,
) -> Result<Answer, String> {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = recursion_desired;
    msg.add_query(Query::query(name, rtype));
    let bytes = msg.to_vec().map_err(|e| e.to_string())?;
    let exchange = async {
        let local: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = tokio::net::UdpSocket::bind(local).await?;
        let start = Instant::now();
        sock.send_to(&bytes, server).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await?;
            if from != server {
                continue;
            }
            let Ok(resp) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if resp.metadata.id == msg.metadata.id {
                return Ok::<_, std::io::Error>((resp, start.elapsed()));
            }
        }
    };
    match tokio::time::timeout(limit, exchange).await {
        Err(_) if limit.subsec_millis() == 0 => {
            Err(format!("no answer within {} s", limit.as_secs()))
        }
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok((resp, latency))) => Ok(Answer {
            rcode: resp.metadata.response_code,
            answers: resp.answers.iter().map(|r| r.to_string()).collect(),
            latency,
            message: resp,
        }),
    }
}

/// One server's answer to a test or health query, as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerResult {
    pub address: String,
    pub port: u16,
    pub success: bool,
    /// DNS response code, e.g. `NoError`, `NXDomain`.
    pub rcode: Option<String>,
    pub answers: Vec<String>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

/// One recursive query with a 2-second limit, summarised: how forwarders
/// are tested and health-checked.
pub async fn probe(server: SocketAddr, name: Name, rtype: RecordType) -> ServerResult {
    let outcome = query(server, name, rtype, true, Duration::from_secs(2)).await;
    let mut result = ServerResult {
        address: server.ip().to_string(),
        port: server.port(),
        success: false,
        rcode: None,
        answers: Vec::new(),
        latency_ms: None,
        error: None,
    };
    match outcome {
        Err(e) => result.error = Some(e),
        Ok(a) => {
            result.latency_ms = Some((a.latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
            result.rcode = Some(format!("{:?}", a.rcode));
            result.success = a.is_healthy();
            result.answers = a.answers;
        }
    }
    result
}

/// The serial named serves for `zone` on 127.0.0.1:`port`, if it answers.
pub async fn soa_serial(port: u16, zone: &str) -> Option<u32> {
    let name = Name::from_ascii(format!("{zone}.")).ok()?;
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let answer = query(
        server,
        name,
        RecordType::SOA,
        false,
        Duration::from_millis(250),
    )
    .await
    .ok()?;
    answer.message.answers.iter().find_map(|r| match &r.data {
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
