//! The `hybrid-dns` command line.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{CliOverrides, Config};
use crate::services::users::{self as user_service, CreateUser, Role, UpdateUser};
use crate::services::Caller;
use crate::{db, server};

#[derive(Parser, Debug)]
#[command(
    name = "hybrid-dns",
    version,
    about = "Management plane for BIND9: REST API, live WebSocket, actors"
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "HDNS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, global = true, env = "HDNS_LISTEN")]
    pub listen: Option<String>,
    /// Data directory (SQLite database, JWT secret, BIND files) [default: ./data].
    #[arg(long, global = true, env = "HDNS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://... or postgres://... [default: SQLite in the data dir].
    #[arg(long, global = true, env = "HDNS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// How BIND is driven: managed (own named), external (system named) or disabled.
    #[arg(long, global = true, env = "HDNS_BIND_MODE", value_parser = ["managed", "external", "disabled"])]
    pub bind_mode: Option<String>,
    /// Loopback port the managed named listens on [default: 5353].
    #[arg(long, global = true, env = "HDNS_DNS_PORT")]
    pub dns_port: Option<u16>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// BIND files.
    #[command(subcommand)]
    Bind(BindCommand),
    /// Zone files.
    #[command(subcommand)]
    Zone(ZoneCommand),
}

#[derive(Subcommand, Debug)]
pub enum BindCommand {
    /// Re-render every BIND file from the database and reload named.
    Sync,
}

#[derive(Subcommand, Debug)]
pub enum ZoneCommand {
    /// Import an RFC 1035 master file into a zone (all or nothing).
    Import {
        /// The zone file.
        file: PathBuf,
        /// The zone to import into.
        #[arg(long)]
        zone: String,
        /// `merge` adds the file's records; `replace` makes the zone exactly the file.
        #[arg(long, value_parser = ["merge", "replace"], default_value = "merge")]
        mode: String,
        /// Create the zone (master) when it does not exist.
        #[arg(long)]
        create: bool,
    },
    /// Print a zone as an RFC 1035 master file.
    Export {
        zone: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin, else generated and printed.
    Create {
        username: String,
        #[arg(long, value_parser = ["admin", "user"], default_value = "user")]
        role: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (read from stdin) and end their sessions.
    SetPassword {
        username: String,
        /// Require a change at next login.
        #[arg(long)]
        must_change: bool,
    },
    /// Lift a lockout.
    Unlock { username: String },
    /// Deactivate a user and end their sessions.
    Disable { username: String },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the configuration in force, secrets redacted.
    Show,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = CliOverrides {
        listen: cli.listen.clone(),
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        bind_mode: cli.bind_mode.clone(),
        dns_port: cli.dns_port,
    };
    let cfg = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    init_logging(&cfg);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new().block_on(async move {
            let state = server::prepare(cfg).await?;
            server::serve(state).await
        }),
        Command::Migrate => rt.block_on(async {
            crate::bootstrap::prepare_data_dir(&cfg.data_dir)?;
            let conn = db::connect(&cfg.effective_database_url()).await?;
            db::migrate(&conn).await?;
            println!("migrations applied");
            Ok(())
        }),
        Command::User(cmd) => rt.block_on(user_command(cfg, cmd)),
        Command::Bind(BindCommand::Sync) => rt.block_on(crate::cli_zone::bind_sync(cfg)),
        Command::Zone(cmd) => rt.block_on(crate::cli_zone::zone_command(cfg, cmd)),
        Command::Config(ConfigCommand::Show) => toml::to_string_pretty(&cfg.redacted())
            .map(|s| print!("{s}"))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("hybrid-dns: error: {msg}");
    ExitCode::FAILURE
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    // Database drivers log statements with their values, and the scheduler
    // its internals: keep them quiet unless asked.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tokio_cron_scheduler=warn",
            cfg.log_level
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.log_format == "json" {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

fn read_password_stdin() -> Result<String, String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

// Long on purpose: one arm per `user` subcommand; each is a few lines and reads best beside the others.
async fn user_command(cfg: Config, cmd: UserCommand) -> Result<(), String> {
    crate::bootstrap::prepare_data_dir(&cfg.data_dir)?;
    let conn = db::connect(&cfg.effective_database_url()).await?;
    db::migrate(&conn).await?;
    let actor = Caller::system_as("cli");
    let find = |name: String| {
        let conn = conn.clone();
        async move {
            user_service::find_by_username(&conn, &name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user named {name}"))
        }
    };
    match cmd {
        UserCommand::Create {
            username,
            role,
            email,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (crate::services::credentials::tokens::random_token(15), true)
            };
            let role = Role::parse(&role).unwrap_or(Role::User);
            let user = user_service::create(
                &conn,
                &actor,
                CreateUser {
                    username,
                    password: password.clone(),
                    role,
                    email,
                    full_name: None,
                    must_change_password: generated,
                },
            )
            .await
            .map_err(describe)?;
            println!(
                "created user {} (id {}, role {})",
                user.username, user.id, user.role
            );
            if generated {
                println!("password: {password}  (must be changed at first login)");
            }
        }
        UserCommand::List => {
            let (users, _) = user_service::list(
                &conn,
                None,
                user_service::UserSort::Id,
                sea_orm::Order::Asc,
                1,
                u64::MAX / 2,
            )
            .await
            .map_err(describe)?;
            println!(
                "{:<6} {:<24} {:<6} {:<7} {:<5} locked_until",
                "id", "username", "role", "active", "2fa"
            );
            for u in users {
                println!(
                    "{:<6} {:<24} {:<6} {:<7} {:<5} {}",
                    u.id,
                    u.username,
                    u.role,
                    u.is_active,
                    u.totp_enabled,
                    u.locked_until
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
        UserCommand::SetPassword {
            username,
            must_change,
        } => {
            let user = find(username).await?;
            let password = read_password_stdin()?;
            user_service::set_password(&conn, &actor, user.id, &password, must_change)
                .await
                .map_err(describe)?;
            println!(
                "password of {} changed; their sessions were ended",
                user.username
            );
        }
        UserCommand::Unlock { username } => {
            let user = find(username).await?;
            user_service::unlock(&conn, &actor, user.id)
                .await
                .map_err(describe)?;
            println!("{} unlocked", user.username);
        }
        UserCommand::Disable { username } => {
            let user = find(username).await?;
            let upd = UpdateUser {
                is_active: Some(false),
                ..Default::default()
            };
            user_service::update(&conn, &actor, user.id, upd, true)
                .await
                .map_err(describe)?;
            println!("{} disabled; their sessions were ended", user.username);
        }
    }
    Ok(())
}

fn describe(e: crate::services::Error) -> String {
    let e = crate::error::ApiError::from(e);
    match e.details.get("field").and_then(|f| f.as_str()) {
        Some(field) => format!("{} ({field})", e.message),
        None => e.message,
    }
}
