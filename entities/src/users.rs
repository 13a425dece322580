use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// `admin` or `user`.
    pub role: crate::enums::Role,
    pub password_hash: String,
    pub is_active: bool,
    /// Base32 TOTP secret; set by 2FA setup, live once `totp_enabled`.
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    /// Last accepted TOTP time step: a code from this step or earlier is a replay.
    pub totp_last_step: i64,
    /// Argon2 hashes of the unused backup codes (JSON array of strings).
    pub backup_codes: Option<Json>,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub must_change_password: bool,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
