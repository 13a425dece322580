//! First start: the JWT secret and the bootstrap admin.

use std::io::Write;
use std::path::Path;

use hdns_entities::users;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::config::Config;
use crate::services::credentials::tokens;
use crate::services::users::{CreateUser, Role};
use crate::services::Caller;

/// The signing secret: from config, else from `data_dir/jwt_secret` (created
/// with mode 0600 on first start).
pub fn jwt_secret(cfg: &Config) -> Result<Vec<u8>, String> {
    if let Some(s) = &cfg.jwt_secret {
        if s.len() < 32 {
            return Err("jwt_secret must be at least 32 characters".into());
        }
        return Ok(s.as_bytes().to_vec());
    }
    let path = cfg.data_dir.join("jwt_secret");
    if path.exists() {
        let s = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Ok(s.trim().as_bytes().to_vec());
    }
    let secret = tokens::random_token(48);
    write_private(&path, &secret)?;
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, content: &str) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(content.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes sure the data dir exists and is writable; the error is one clear line.
pub fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("data dir {} cannot be created: {e}", dir.display()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("data dir {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Creates the `admin` user when there is no user at all. Returns the generated
/// password (to print once) when none was configured.
pub async fn ensure_admin(db: &DatabaseConnection, cfg: &Config) -> Result<Option<String>, String> {
    let count = users::Entity::find()
        .count(db)
        .await
        .map_err(|e| e.to_string())?;
    if count > 0 {
        return Ok(None);
    }
    let (password, generated) = match &cfg.admin_password {
        Some(p) => (p.clone(), false),
        None => (tokens::random_token(15), true),
    };
    crate::services::users::create(
        db,
        &Caller::system(),
        CreateUser {
            username: "admin".into(),
            password: password.clone(),
            role: Role::Admin,
            email: None,
            full_name: Some("Bootstrap administrator".into()),
            must_change_password: generated,
        },
    )
    .await
    .map_err(|e| format!("cannot create the bootstrap admin: {}", e))?;
    Ok(generated.then_some(password))
}
