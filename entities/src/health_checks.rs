use sea_orm::entity::prelude::*;

/// One result of a HealthActor check, kept for `/api/health` history.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "health_checks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `bind9`, `forwarder`, `database` or `system`.
    pub component: String,
    /// The forwarder's address, or the component again.
    pub name: String,
    pub status: crate::enums::HealthLevel,
    pub response_time_ms: Option<f64>,
    pub message: Option<String>,
    pub checked_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
