use sea_orm::entity::prelude::*;

/// One minute of named's query log, aggregated (QueryLogActor).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "query_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub minute: DateTimeUtc,
    pub total: i64,
    pub recursive: i64,
    pub tcp: i64,
    /// `{"A": 10, "AAAA": 3}`
    pub by_type: Json,
    /// `[{"key": "example.com", "count": 9}]`, largest first.
    pub top_domains: Json,
    pub top_clients: Json,
    /// Queries whose name or client did not fit the minute's bounded maps.
    pub other_domains: i64,
    pub other_clients: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
