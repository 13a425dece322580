use sea_orm::entity::prelude::*;

/// A conditional forwarder: queries for `domains` go to `servers`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "forwarders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    /// JSON array of domain names.
    pub domains: Json,
    /// JSON array of `{"address": ip, "port": n?}`.
    pub servers: Json,
    /// `first` or `only`.
    pub policy: String,
    pub health_check: bool,
    pub enabled: bool,
    pub description: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
