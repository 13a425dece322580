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

pub async fn migrate(db: &DatabaseConnection) -> Result<(), String> {
    Migrator::up(db, None)
        .await
        .map_err(|e| format!("database migration failed: {}", first_line(&e.to_string())))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

pub use hdns_actors::db::write_txn;
