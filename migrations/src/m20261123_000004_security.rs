//! Security: response-policy rules, threat feeds and security alerts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("rpz_rules")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("domain", 255).unique_key())
                    .col(string_len("action", 16))
                    .col(string_len_null("redirect_target", 255))
                    .col(string_len("category", 32))
                    .col(string_len("source", 16))
                    .col(boolean("enabled").default(true))
                    .col(string_len_null("comment", 1024))
                    .col(integer_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("threat_feeds")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("name", 128).unique_key())
                    .col(string_len_null("url", 2048))
                    .col(string_len_null("file_path", 1024))
                    .col(string_len("format", 16))
                    .col(string_len("category", 32))
                    .col(string_len("action", 16))
                    .col(string_len_null("redirect_target", 255))
                    .col(string_len("schedule", 128))
                    .col(boolean("enabled").default(true))
                    .col(big_integer("serial").default(0))
                    .col(timestamp_with_time_zone_null("last_run_at"))
                    .col(timestamp_with_time_zone_null("last_success_at"))
                    .col(string_len("last_status", 16))
                    .col(string_len_null("last_error", 1024))
                    .col(big_integer("entry_count").default(0))
                    .col(big_integer("invalid_lines").default(0))
                    .col(string_len_null("etag", 512))
                    .col(string_len_null("last_modified", 128))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("security_alerts")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("alert_id", 64).unique_key())
                    .col(string_len("severity", 16))
                    .col(string_len("category", 32))
                    .col(string_len("message", 1024))
                    .col(string_len_null("source_ip", 64))
                    .col(string_len_null("domain", 255))
                    .col(json("details"))
                    .col(boolean("acknowledged").default(false))
                    .col(integer_null("acknowledged_by"))
                    .col(timestamp_with_time_zone_null("acknowledged_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("blocked_stats")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(timestamp_with_time_zone("minute"))
                    .col(big_integer("total"))
                    .col(json("by_category"))
                    .col(json("top_domains"))
                    .col(json("top_clients"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_blocked_stats_minute")
                    .table("blocked_stats")
                    .col("minute")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_alerts_time")
                    .table("security_alerts")
                    .col("created_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "blocked_stats",
            "security_alerts",
            "threat_feeds",
            "rpz_rules",
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
