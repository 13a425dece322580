use sea_orm::entity::prelude::*;

/// A conditional forwarder: queries for `domains` go to `servers`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "forwarders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    /// JSON array of domain names.
    pub domains: Json,
    /// JSON array of `{"address": ip, "port": n?}`.
    pub servers: Json,
    pub policy: crate::enums::ForwardPolicy,
    pub health_check: bool,
    pub enabled: bool,
    pub description: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The forwarded domains.
    pub fn domain_list(&self) -> Vec<String> {
        serde_json::from_value(self.domains.clone()).unwrap_or_default()
    }

    /// The servers as socket addresses (port 53 unless given).
    pub fn server_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.servers
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let ip: std::net::IpAddr = s.get("address")?.as_str()?.parse().ok()?;
                let port = s.get("port").and_then(|p| p.as_u64()).unwrap_or(53) as u16;
                Some(std::net::SocketAddr::new(ip, port))
            })
            .collect()
    }
}
