//! Users and roles: domain types, the public view, and admin CRUD.

use chrono::Utc;
use hdns_entities::{sessions, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{self, Entry};
use super::credentials::password;
use super::error::{Error, Result};
use super::Caller;

/// A validated username: 3-64 characters of `a-z 0-9 . _ -`, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim().to_ascii_lowercase();
        let len = s.chars().count();
        if !(3..=64).contains(&len) {
            return Err(Error::validation(
                "username",
                "username must be 3 to 64 characters",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(Error::validation(
                "username",
                "username may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use hdns_entities::enums::Role;

/// What the API shows of a user: never a hash or a secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i32,
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub totp_enabled: bool,
    pub must_change_password: bool,
    pub locked_until: Option<chrono::DateTime<Utc>>,
    pub failed_login_count: i32,
    pub last_login_at: Option<chrono::DateTime<Utc>>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

impl From<&users::Model> for UserView {
    fn from(u: &users::Model) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role,
            is_active: u.is_active,
            totp_enabled: u.totp_enabled,
            must_change_password: u.must_change_password,
            locked_until: u.locked_until,
            failed_login_count: u.failed_login_count,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

pub fn view_json(u: &users::Model) -> serde_json::Value {
    serde_json::to_value(UserView::from(u)).unwrap_or_default()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default = "default_role")]
    pub role: Role,
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// Force a password change at first login.
    #[serde(default)]
    pub must_change_password: bool,
}

fn default_role() -> Role {
    Role::User
}

/// A partial update. Users may change only `email` and `full_name` of themselves.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

fn check_email(email: &Option<String>) -> Result<()> {
    if let Some(e) = email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
            && !e.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(Error::validation("email", "email is not a valid address"));
        }
    }
    Ok(())
}

fn check_full_name(name: &Option<String>) -> Result<()> {
    if let Some(n) = name {
        if n.chars().count() > 128 || n.chars().any(char::is_control) {
            return Err(Error::validation(
                "full_name",
                "full_name must be at most 128 printable characters",
            ));
        }
    }
    Ok(())
}

pub async fn find_by_username<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Username.eq(name.trim().to_ascii_lowercase()))
        .one(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: i32) -> Result<users::Model> {
    users::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("user"))
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Caller,
    input: CreateUser,
) -> Result<users::Model> {
    let username = Username::parse(&input.username)?;
    password::check_policy(&input.password).map_err(|m| Error::validation("password", m))?;
    check_email(&input.email)?;
    check_full_name(&input.full_name)?;
    let hash = password::hash(&input.password).map_err(Error::internal)?;
    let txn = crate::db::write_txn(db).await?;
    if find_by_username(&txn, username.as_str()).await?.is_some() {
        return Err(
            Error::conflict("username_taken", "A user with this username already exists")
                .with_details(serde_json::json!({ "field": "username" })),
        );
    }
    let now = Utc::now();
    let user = users::ActiveModel {
        username: Set(username.as_str().to_string()),
        email: Set(input.email),
        full_name: Set(input.full_name),
        role: Set(input.role),
        password_hash: Set(hash),
        is_active: Set(true),
        totp_secret: Set(None),
        totp_enabled: Set(false),
        totp_last_step: Set(0),
        backup_codes: Set(None),
        failed_login_count: Set(0),
        locked_until: Set(None),
        must_change_password: Set(input.must_change_password),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "user.create",
            resource_type: "user",
            resource_id: Some(user.id.to_string()),
            before: None,
            after: Some(view_json(&user)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Id,
    Username,
    CreatedAt,
    Role,
}

impl UserSort {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "id" => Self::Id,
            "username" => Self::Username,
            "created_at" => Self::CreatedAt,
            "role" => Self::Role,
            _ => return None,
        })
    }

    fn column(self) -> users::Column {
        match self {
            Self::Id => users::Column::Id,
            Self::Username => users::Column::Username,
            Self::CreatedAt => users::Column::CreatedAt,
            Self::Role => users::Column::Role,
        }
    }
}

pub async fn list(
    db: &DatabaseConnection,
    search: Option<&str>,
    sort: UserSort,
    order: Order,
    page: u64,
    per_page: u64,
) -> Result<(Vec<users::Model>, u64)> {
    let mut q = users::Entity::find();
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        q = q.filter(users::Column::Username.contains(s.to_ascii_lowercase()));
    }
    let total = q.clone().count(db).await?;
    let items = q
        .order_by(sort.column(), order)
        .order_by(users::Column::Id, Order::Asc)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok((items, total))
}

async fn active_admin_count<C: ConnectionTrait>(db: &C) -> Result<u64> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq(Role::Admin))
        .filter(users::Column::IsActive.eq(true))
        .count(db)
        .await?)
}

/// Revokes every live session of a user (all of them, or all but `keep`).
pub async fn revoke_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: i32,
    keep: Option<&str>,
    reason: &str,
) -> Result<u64> {
    let mut q = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        q = q.filter(sessions::Column::Id.ne(keep));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// Applies a partial update. `admin` says whether the caller may change role and status.
pub async fn update(
    db: &DatabaseConnection,
    actor: &Caller,
    id: i32,
    input: UpdateUser,
    admin: bool,
) -> Result<users::Model> {
    if !admin && (input.role.is_some() || input.is_active.is_some()) {
        return Err(Error::permission_denied());
    }
    check_email(&input.email)?;
    check_full_name(&input.full_name)?;
    let txn = crate::db::write_txn(db).await?;
    let before = get(&txn, id).await?;
    let demotes = input.role == Some(Role::User) && before.role == Role::Admin;
    let disables = input.is_active == Some(false) && before.is_active;
    if (demotes || disables) && before.role == Role::Admin && active_admin_count(&txn).await? <= 1 {
        return Err(Error::conflict(
            "last_admin",
            "The last active admin cannot be demoted or disabled",
        ));
    }
    let mut am: users::ActiveModel = before.clone().into();
    if let Some(e) = input.email {
        am.email = Set(Some(e).filter(|s| !s.is_empty()));
    }
    if let Some(n) = input.full_name {
        am.full_name = Set(Some(n).filter(|s| !s.is_empty()));
    }
    if let Some(r) = input.role {
        am.role = Set(r);
    }
    if let Some(a) = input.is_active {
        am.is_active = Set(a);
    }
    am.updated_at = Set(Utc::now());
    let after = am.update(&txn).await?;
    if disables {
        revoke_sessions(&txn, id, None, "user_disabled").await?;
    }
    audit::record(
        &txn,
        actor,
        Entry {
            action: "user.update",
            resource_type: "user",
            resource_id: Some(id.to_string()),
            before: Some(view_json(&before)),
            after: Some(view_json(&after)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

pub async fn delete(db: &DatabaseConnection, actor: &Caller, id: i32) -> Result<()> {
    if actor.user_id == Some(id) {
        return Err(Error::conflict(
            "cannot_delete_self",
            "You cannot delete your own account",
        ));
    }
    let txn = crate::db::write_txn(db).await?;
    let before = get(&txn, id).await?;
    if before.role == Role::Admin && before.is_active && active_admin_count(&txn).await? <= 1 {
        return Err(Error::conflict(
            "last_admin",
            "The last active admin cannot be deleted",
        ));
    }
    users::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "user.delete",
            resource_type: "user",
            resource_id: Some(id.to_string()),
            before: Some(view_json(&before)),
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn unlock(db: &DatabaseConnection, actor: &Caller, id: i32) -> Result<users::Model> {
    let txn = crate::db::write_txn(db).await?;
    let before = get(&txn, id).await?;
    let mut am: users::ActiveModel = before.clone().into();
    am.locked_until = Set(None);
    am.failed_login_count = Set(0);
    am.updated_at = Set(Utc::now());
    let after = am.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "user.unlock",
            resource_type: "user",
            resource_id: Some(id.to_string()),
            before: Some(view_json(&before)),
            after: Some(view_json(&after)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// Sets a new password (admin reset or CLI) and ends the user's sessions.
pub async fn set_password(
    db: &DatabaseConnection,
    actor: &Caller,
    id: i32,
    new_password: &str,
    must_change: bool,
) -> Result<users::Model> {
    password::check_policy(new_password).map_err(|m| Error::validation("password", m))?;
    let hash = password::hash(new_password).map_err(Error::internal)?;
    let txn = crate::db::write_txn(db).await?;
    let before = get(&txn, id).await?;
    let mut am: users::ActiveModel = before.clone().into();
    am.password_hash = Set(hash);
    am.must_change_password = Set(must_change);
    am.failed_login_count = Set(0);
    am.locked_until = Set(None);
    am.updated_at = Set(Utc::now());
    let after = am.update(&txn).await?;
    revoke_sessions(&txn, id, None, "password_reset").await?;
    audit::record(
        &txn,
        actor,
        Entry {
            action: "user.set_password",
            resource_type: "user",
            resource_id: Some(id.to_string()),
            before: Some(view_json(&before)),
            after: Some(view_json(&after)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}
