use sea_orm::entity::prelude::*;

/// A DNS zone. The database is the truth; BIND's files are rendered from it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zones")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Lowercase ASCII (punycode) name without the trailing dot.
    #[sea_orm(unique)]
    pub name: String,
    pub zone_type: crate::enums::ZoneType,
    pub soa_primary_ns: String,
    pub soa_admin_email: String,
    /// YYYYMMDDnn, always increasing.
    pub serial: i64,
    pub refresh: i32,
    pub retry: i32,
    pub expire: i32,
    pub minimum: i32,
    pub default_ttl: i32,
    /// Primary servers of a slave zone (JSON array of IPs).
    pub primaries: Json,
    /// Servers of a forward zone (JSON array of IPs).
    pub forwarders: Json,
    pub forward_policy: crate::enums::ForwardPolicy,
    pub allow_transfer: Json,
    pub also_notify: Json,
    pub enabled: bool,
    pub description: Option<String>,
    pub owner_id: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::dns_records::Entity")]
    Records,
}

impl Related<super::dns_records::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Records.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
