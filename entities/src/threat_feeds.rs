use sea_orm::entity::prelude::*;

/// A threat-intelligence list fetched on a schedule into its own RPZ zone.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "threat_feeds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    /// Exactly one of `url` and `file_path` is set.
    pub url: Option<String>,
    pub file_path: Option<String>,
    pub format: crate::enums::FeedFormat,
    pub category: crate::enums::RpzCategory,
    /// Applied to every domain of the feed (`policy` in named.conf).
    pub action: crate::enums::RpzAction,
    pub redirect_target: Option<String>,
    /// Cron expression (5 or 6 fields; 6 starts with seconds).
    pub schedule: String,
    pub enabled: bool,
    /// SOA serial of the installed zone.
    pub serial: i64,
    pub last_run_at: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_status: crate::enums::FeedStatus,
    pub last_error: Option<String>,
    pub entry_count: i64,
    pub invalid_lines: i64,
    /// Validators of the last good download, for conditional requests.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
