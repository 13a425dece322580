//! Database helpers shared by the services and the actors.

/// Starts a transaction that will write. On SQLite it takes the write lock
/// at BEGIN (IMMEDIATE): a deferred transaction that reads first and writes
/// later fails with "database is locked" when another writer commits in
/// between, and no busy timeout helps with that. PostgreSQL ignores the mode.
pub async fn write_txn(
    db: &sea_orm::DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    sea_orm::TransactionTrait::begin_with_options(
        db,
        sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        },
    )
    .await
}
