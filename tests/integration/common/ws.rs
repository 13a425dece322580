//! A real WebSocket client for the unified `/ws`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    pub stream: Stream,
}

/// What the server did next.
#[derive(Debug)]
pub enum Next {
    Frame(Value),
    Closed(Option<u16>),
    Timeout,
}

impl WsClient {
    pub async fn connect(base: &str, query: &str) -> Self {
        let url = format!("{}/ws{query}", base.replacen("http://", "ws://", 1));
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket handshake");
        Self { stream }
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::text(v.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_string()))
            .await
            .unwrap();
    }

    pub async fn next(&mut self, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return Next::Timeout,
                Ok(None) => return Next::Closed(None),
                Ok(Some(Err(_))) => return Next::Closed(None),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Next::Frame(serde_json::from_str(&t).expect("JSON frame"))
                }
                Ok(Some(Ok(Message::Close(c)))) => {
                    return Next::Closed(c.map(|c| u16::from(c.code)))
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next JSON frame; panics on close or timeout.
    pub async fn frame(&mut self) -> Value {
        match self.next(Duration::from_secs(5)).await {
            Next::Frame(v) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The next frame that is not a server ping.
    pub async fn reply(&mut self) -> Value {
        loop {
            let f = self.frame().await;
            if f["type"] != "ping" {
                return f;
            }
        }
    }

    /// Sends a message and returns the reply to it.
    pub async fn ask(&mut self, v: Value) -> Value {
        self.send(v).await;
        self.reply().await
    }

    /// Waits for the close frame and returns its code.
    pub async fn closed(&mut self, timeout: Duration) -> Option<u16> {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .next(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Next::Closed(code) => return code,
                Next::Timeout => panic!("the server did not close the connection"),
                Next::Frame(_) => continue,
            }
        }
    }

    /// Every event received within `window`, unpacking batch frames, as
    /// (frame kind, event envelope).
    pub async fn events(&mut self, window: Duration) -> Vec<(String, Value)> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Next::Frame(f) = self
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            match f["type"].as_str() {
                Some("event") => out.push(("event".to_string(), f)),
                Some("batch") => {
                    for e in f["events"].as_array().unwrap() {
                        out.push(("batch".to_string(), e.clone()));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Every event received until `done` holds for what arrived so far, or
/// `window` passes (batches unpacked).
pub async fn gather(
    c: &mut WsClient,
    window: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    while !done(&out) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Next::Frame(f) = c.next(left).await else {
            break;
        };
        match f["type"].as_str() {
            Some("batch") => out.extend(f["events"].as_array().cloned().unwrap_or_default()),
            Some("event") => out.push(f),
            _ => {}
        }
    }
    out
}

/// The events of `event_type` that satisfy `keep`.
pub fn of<'a>(
    events: &'a [Value],
    event_type: &str,
    keep: impl Fn(&Value) -> bool,
) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == event_type && keep(e))
        .collect()
}

/// Waits until `want` events of `event_type` satisfying `keep` arrived.
pub async fn collect(
    c: &mut WsClient,
    event_type: &str,
    want: usize,
    window: Duration,
    keep: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let all = gather(c, window, |evs| of(evs, event_type, &keep).len() >= want).await;
    of(&all, event_type, &keep).into_iter().cloned().collect()
}
