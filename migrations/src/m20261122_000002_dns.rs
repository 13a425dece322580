//! Zones, records, conditional forwarders and per-user zone grants.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("zones")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len_uniq("name", 255))
                    .col(string_len("zone_type", 16))
                    .col(string_len("soa_primary_ns", 255))
                    .col(string_len("soa_admin_email", 255))
                    .col(big_integer("serial"))
                    .col(integer("refresh"))
                    .col(integer("retry"))
                    .col(integer("expire"))
                    .col(integer("minimum"))
                    .col(integer("default_ttl"))
                    .col(json("primaries"))
                    .col(json("forwarders"))
                    .col(string_len("forward_policy", 8))
                    .col(json("allow_transfer"))
                    .col(json("also_notify"))
                    .col(boolean("enabled").default(true))
                    .col(string_len_null("description", 512))
                    .col(integer_null("owner_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("dns_records")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(integer("zone_id"))
                    .col(string_len("name", 255))
                    .col(string_len("record_type", 8))
                    .col(text("value"))
                    .col(integer_null("ttl"))
                    .col(integer_null("priority"))
                    .col(integer_null("weight"))
                    .col(integer_null("port"))
                    .col(boolean("enabled").default(true))
                    .col(string_len_null("comment", 512))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("dns_records", "zone_id")
                            .to("zones", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dns_records_zone_name")
                    .table("dns_records")
                    .col("zone_id")
                    .col("name")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("forwarders")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len_uniq("name", 128))
                    .col(json("domains"))
                    .col(json("servers"))
                    .col(string_len("policy", 8))
                    .col(boolean("health_check").default(true))
                    .col(boolean("enabled").default(true))
                    .col(string_len_null("description", 512))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("zone_permissions")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(integer("zone_id"))
                    .col(integer("user_id"))
                    .col(string_len("level", 8))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("zone_permissions", "zone_id")
                            .to("zones", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("zone_permissions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_zone_permissions")
                    .table("zone_permissions")
                    .col("zone_id")
                    .col("user_id")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["zone_permissions", "forwarders", "dns_records", "zones"] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
