//! The `system_metrics` payload (the spec's `SystemMetricsEvent`), sampled
//! by the MetricsActor. Admins only.

use serde::{Deserialize, Serialize};

use super::payloads::EventPayload;
use super::EventType;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cpu {
    pub usage_percent: f64,
    /// 1, 5 and 15 minutes.
    pub load_average: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub usage_percent: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Network {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsFigures {
    pub queries_per_second: f64,
    pub active_zones: u64,
    pub total_records: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metrics {
    pub cpu: Cpu,
    pub memory: Usage,
    pub disk: Usage,
    pub network: Network,
    pub dns: DnsFigures,
}

/// `SystemMetricsEvent` of the spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemMetrics {
    pub metrics: Metrics,
    pub timestamp: String,
}

impl EventPayload for SystemMetrics {
    user_fields!();

    fn event_type(&self) -> EventType {
        EventType::SystemMetrics
    }
}
