//! Security alerts: persisted (the spec's SecurityEvent plus an
//! acknowledgement) and published as `security_alert`: critical severity
//! (lookups of malware and phishing names) at critical priority, the rest at high.

use chrono::Utc;
use hdns_actors::bus::EventBus;
use hdns_actors::events::{Event, EventType, Priority};
use hdns_entities::security_alerts;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use serde_json::{json, Value};

pub struct Alert {
    pub severity: &'static str,
    pub category: &'static str,
    pub message: String,
    pub source_ip: Option<String>,
    pub domain: Option<String>,
    pub details: Value,
}

/// The event of a stored alert.
pub fn event(a: &security_alerts::Model) -> Event {
    let mut e = Event::new(
        EventType::SecurityAlert,
        json!({
            "alert_id": a.alert_id,
            "severity": a.severity,
            "category": a.category,
            "message": a.message,
            "source_ip": a.source_ip,
            "domain": a.domain,
            "details": a.details,
            "timestamp": a.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    );
    if a.severity != "critical" {
        e.priority = Priority::High;
    }
    e
}

/// Stores the alert and publishes it. A database failure still publishes
/// (admins watching live see it) and is logged.
pub async fn raise(db: &DatabaseConnection, bus: &EventBus, a: Alert) {
    let row = security_alerts::ActiveModel {
        alert_id: Set(uuid::Uuid::new_v4().to_string()),
        severity: Set(a.severity.into()),
        category: Set(a.category.into()),
        message: Set(a.message),
        source_ip: Set(a.source_ip),
        domain: Set(a.domain),
        details: Set(a.details),
        acknowledged: Set(false),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    let model = match row.clone().insert(db).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "security alert not stored");
            security_alerts::Model {
                id: 0,
                alert_id: row.alert_id.unwrap(),
                severity: row.severity.unwrap(),
                category: row.category.unwrap(),
                message: row.message.unwrap(),
                source_ip: row.source_ip.unwrap(),
                domain: row.domain.unwrap(),
                details: row.details.unwrap(),
                acknowledged: false,
                acknowledged_by: None,
                acknowledged_at: None,
                created_at: row.created_at.unwrap(),
            }
        }
    };
    bus.publish(event(&model));
}
