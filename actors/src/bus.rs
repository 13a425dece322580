//! The publishing side of event delivery. Services and actors publish here after
//! their change committed; every event is appended to the event log and handed
//! to whoever listens (the Dispatcher). Publishing never blocks the publisher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hdns_entities::event_log;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use tokio::sync::broadcast;

use crate::events::{Event, EventType};

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    db: Option<DatabaseConnection>,
    /// Events that found their log write failing; counted, never silent.
    pub log_failures: Arc<AtomicU64>,
}

impl EventBus {
    pub fn new(db: Option<DatabaseConnection>) -> Self {
        // Slots keep their events until overwritten: big enough for bursts
        // (a lagging Dispatcher counts what it missed), small in memory.
        let (tx, _) = broadcast::channel(8_192);
        Self {
            tx,
            db,
            log_failures: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        // Telemetry is kept elsewhere (per-minute query aggregates, the
        // latest metrics sample), not as one log row per query or sample.
        if !matches!(
            event.event_type,
            EventType::DnsQuery | EventType::SystemMetrics
        ) {
            self.log(event.clone());
        }
        // No receiver yet is not an error: the event is still in the log.
        let _ = self.tx.send(event);
    }

    /// Delivers an event to local sessions without logging it (an event of
    /// another instance: its origin logged it).
    pub fn deliver(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// Appends an event to the event log without delivering it (an event one
    /// connection already received directly, such as its `session_expired`).
    pub fn record(&self, event: Event) {
        self.log(Arc::new(event));
    }

    fn log(&self, e: Arc<Event>) {
        let Some(db) = self.db.clone() else { return };
        let failures = self.log_failures.clone();
        tokio::spawn(async move {
            let row = event_log::ActiveModel {
                event_type: Set(e.event_type.as_str().to_string()),
                priority: Set(e.priority.as_str().to_string()),
                payload: Set(e.data.clone()),
                created_at: Set(chrono::Utc::now()),
                ..Default::default()
            };
            if let Err(err) = row.insert(&db).await {
                failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "event log write failed");
            }
        });
    }
}
