use sea_orm::entity::prelude::*;

/// A persisted `security_alert` (the spec's SecurityEvent) and whether an
/// admin acknowledged it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "security_alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub alert_id: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    pub category: String,
    pub message: String,
    pub source_ip: Option<String>,
    pub domain: Option<String>,
    pub details: Json,
    pub acknowledged: bool,
    pub acknowledged_by: Option<i32>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
