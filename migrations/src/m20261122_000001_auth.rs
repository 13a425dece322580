//! Users, login sessions with their refresh tokens, the audit log and the event log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len_uniq("username", 64))
                    .col(string_len_null("email", 254))
                    .col(string_len_null("full_name", 128))
                    .col(string_len("role", 16))
                    .col(string("password_hash"))
                    .col(boolean("is_active").default(true))
                    .col(string_null("totp_secret"))
                    .col(boolean("totp_enabled").default(false))
                    .col(big_integer("totp_last_step").default(0))
                    .col(json_null("backup_codes"))
                    .col(integer("failed_login_count").default(0))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(boolean("must_change_password").default(false))
                    .col(timestamp_with_time_zone_null("last_login_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        // A login session is one refresh-token family: rotation keeps the session,
        // reuse of a rotated token revokes it whole.
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(integer("user_id"))
                    .col(string_len_null("ip", 64))
                    .col(string_len_null("user_agent", 256))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(string_len_null("revoked_reason", 32))
                    .foreign_key(
                        ForeignKey::create()
                            .from("sessions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table("sessions")
                    .col("user_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("refresh_tokens")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("session_id", 36))
                    .col(string_len_uniq("token_hash", 64))
                    .col(integer_null("parent_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("rotated_at"))
                    .col(integer_null("replaced_by"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("refresh_tokens", "session_id")
                            .to("sessions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(integer_null("actor_id"))
                    .col(string_len_null("actor_username", 64))
                    .col(string_len("action", 64))
                    .col(string_len("resource_type", 32))
                    .col(string_len_null("resource_id", 64))
                    .col(json_null("before"))
                    .col(json_null("after"))
                    .col(string_len_null("ip", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_created")
                    .table("audit_log")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("event_log")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("event_type", 48))
                    .col(string_len("priority", 16))
                    .col(json("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_log_type_time")
                    .table("event_log")
                    .col("event_type")
                    .col("created_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "event_log",
            "audit_log",
            "refresh_tokens",
            "sessions",
            "users",
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
