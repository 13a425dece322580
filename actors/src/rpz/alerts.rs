//! Security alerts: persisted (the spec's SecurityEvent plus an
//! acknowledgement) and published as `security_alert`: critical severity
//! (lookups of malware and phishing names) at critical priority, the rest at high.

use crate::bus::EventBus;
use crate::events::{Event, ThreatAlert};
use chrono::Utc;
use hdns_entities::security_alerts;
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, DatabaseConnection, IntoActiveModel};
use serde_json::Value;

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
    // Critical when the severity is, else high.
    Event::new(ThreatAlert {
        alert_id: a.alert_id.clone(),
        severity: a.severity.clone(),
        category: a.category.clone(),
        message: a.message.clone(),
        source_ip: a.source_ip.clone(),
        domain: a.domain.clone(),
        details: a.details.clone(),
        timestamp: a
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        detected: false,
    })
}

/// Stores the alert and publishes it. A database failure still publishes
/// (admins watching live see it) and is logged.
pub async fn raise(db: &DatabaseConnection, bus: &EventBus, a: Alert) {
    let model = security_alerts::Model {
        id: 0,
        alert_id: uuid::Uuid::new_v4().to_string(),
        severity: a.severity.into(),
        category: a.category.into(),
        message: a.message,
        source_ip: a.source_ip,
        domain: a.domain,
        details: a.details,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        created_at: Utc::now(),
    };
    let mut row = model.clone().into_active_model();
    row.id = NotSet;
    let model = match row.insert(db).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "security alert not stored");
            model
        }
    };
    bus.publish(event(&model));
}
