//! Database connection (SQLite in WAL mode, or PostgreSQL) and migrations
//! (`migrate`, called at start-up and by `hybrid-dns migrate`).

use std::time::Duration;

use hdns_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::redact_url;

/// Connects and applies pending migrations. The error is one line, without secrets.
pub async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // SQLite has one writer; a small pool avoids lock contention.
        opts.max_connections(4).min_connections(1);
    } else {
        opts.max_connections(16);
    }
    let db = Database::connect(opts).await.map_err(|e| {
        format!(
            "cannot connect to database {}: {}",
            redact_url(url),
            first_line(&e.to_string())
        )
    })?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .await
            .map_err(|e| format!("cannot configure SQLite: {}", first_line(&e.to_string())))?;
    }
    Ok(db)
}

/// Applies pending migrations, then checks that every enum column holds
/// values the code knows.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), String> {
    Migrator::up(db, None)
        .await
        .map_err(|e| format!("database migration failed: {}", first_line(&e.to_string())))?;
    check_enum_columns(db).await
}

/// The columns read as enums (`hdns_entities::enums`) and what they may hold.
fn enum_columns() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    use hdns_entities::enums::*;
    fn all<T: Copy>(v: &[T], f: fn(T) -> &'static str) -> Vec<&'static str> {
        v.iter().map(|x| f(*x)).collect()
    }
    vec![
        ("zones", "zone_type", all(ZoneType::ALL, ZoneType::as_str)),
        (
            "zones",
            "forward_policy",
            all(ForwardPolicy::ALL, ForwardPolicy::as_str),
        ),
        ("users", "role", all(Role::ALL, Role::as_str)),
        (
            "zone_permissions",
            "level",
            all(GrantLevel::ALL, GrantLevel::as_str),
        ),
        (
            "forwarders",
            "policy",
            all(ForwardPolicy::ALL, ForwardPolicy::as_str),
        ),
        (
            "dns_records",
            "record_type",
            all(RecordType::ALL, RecordType::as_str),
        ),
        (
            "rpz_rules",
            "action",
            all(RpzAction::ALL, RpzAction::as_str),
        ),
        (
            "rpz_rules",
            "category",
            all(RpzCategory::ALL, RpzCategory::as_str),
        ),
        (
            "threat_feeds",
            "format",
            all(FeedFormat::ALL, FeedFormat::as_str),
        ),
        (
            "threat_feeds",
            "category",
            all(RpzCategory::ALL, RpzCategory::as_str),
        ),
        (
            "threat_feeds",
            "action",
            all(RpzAction::ALL, RpzAction::as_str),
        ),
        (
            "threat_feeds",
            "last_status",
            all(FeedStatus::ALL, FeedStatus::as_str),
        ),
        (
            "health_checks",
            "status",
            all(HealthLevel::ALL, HealthLevel::as_str),
        ),
    ]
}

/// A value the code does not know (a hand edit, a newer version's data)
/// would fail every read of its table; it is named here, once, at start.
async fn check_enum_columns(db: &DatabaseConnection) -> Result<(), String> {
    use sea_orm::Statement;
    for (table, column, allowed) in enum_columns() {
        let sql = format!("SELECT DISTINCT {column} AS v FROM {table}");
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .map_err(|e| {
                format!(
                    "cannot read {table}.{column}: {}",
                    first_line(&e.to_string())
                )
            })?;
        for row in rows {
            let v: String = row.try_get("", "v").map_err(|e| e.to_string())?;
            if !allowed.contains(&v.as_str()) {
                return Err(format!(
                    "{table}.{column} holds `{v}`, which is not one of {}; fix the row(s) before starting",
                    allowed.join(", ")
                ));
            }
        }
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

pub use hdns_actors::db::write_txn;
