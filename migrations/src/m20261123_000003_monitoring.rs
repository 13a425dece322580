//! Monitoring: per-minute query aggregates and health-check history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("query_stats")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(timestamp_with_time_zone("minute"))
                    .col(big_integer("total"))
                    .col(big_integer("recursive"))
                    .col(big_integer("tcp"))
                    .col(json("by_type"))
                    .col(json("top_domains"))
                    .col(json("top_clients"))
                    .col(big_integer("other_domains"))
                    .col(big_integer("other_clients"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_query_stats_minute")
                    .table("query_stats")
                    .col("minute")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("health_checks")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("component", 16))
                    .col(string_len("name", 255))
                    .col(string_len("status", 16))
                    .col(double_null("response_time_ms"))
                    .col(string_len_null("message", 1024))
                    .col(timestamp_with_time_zone("checked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_health_checks_time")
                    .table("health_checks")
                    .col("checked_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["health_checks", "query_stats"] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
