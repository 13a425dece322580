use sea_orm::entity::prelude::*;

/// A manual response-policy rule: `domain` (or `*.domain`) gets `action`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rpz_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Lowercase ASCII, no trailing dot; `*.` in front for subdomains.
    #[sea_orm(unique)]
    pub domain: String,
    pub action: crate::enums::RpzAction,
    /// For `redirect`: a domain name or an IP address.
    pub redirect_target: Option<String>,
    pub category: crate::enums::RpzCategory,
    /// `manual` (feeds keep their domains in their own zones).
    pub source: String,
    pub enabled: bool,
    pub comment: Option<String>,
    pub created_by: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
