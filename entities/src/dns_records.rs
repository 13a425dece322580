use sea_orm::entity::prelude::*;

/// One resource record of a zone.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dns_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub zone_id: i32,
    /// Relative to the zone; `@` is the apex.
    pub name: String,
    pub record_type: crate::enums::RecordType,
    /// Record data in master-file form, without the fields kept in columns
    /// (MX preference; SRV priority, weight and port).
    pub value: String,
    /// `None` uses the zone's default TTL.
    pub ttl: Option<i32>,
    pub priority: Option<i32>,
    pub weight: Option<i32>,
    pub port: Option<i32>,
    pub enabled: bool,
    pub comment: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::zones::Entity",
        from = "Column::ZoneId",
        to = "super::zones::Column::Id",
        on_delete = "Cascade"
    )]
    Zone,
}

impl Related<super::zones::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Zone.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
