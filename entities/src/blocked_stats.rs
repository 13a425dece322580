use sea_orm::entity::prelude::*;

/// One minute of blocked lookups (RPZ rewrites named logged).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "blocked_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub minute: DateTimeUtc,
    pub total: i64,
    /// `{category: count}`.
    pub by_category: Json,
    /// `[{key, count}]`, the minute's 20 most blocked names.
    pub top_domains: Json,
    /// `[{key, count}]`, the minute's 20 clients most often blocked.
    pub top_clients: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
