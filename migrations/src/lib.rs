//! Schema migrations, applied on start and by `hybrid-dns migrate`.
//! Each migration behaves the same on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_auth;
mod m20261122_000002_dns;
mod m20261123_000003_monitoring;
mod m20261123_000004_security;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_auth::Migration),
            Box::new(m20261122_000002_dns::Migration),
            Box::new(m20261123_000003_monitoring::Migration),
            Box::new(m20261123_000004_security::Migration),
        ]
    }
}
