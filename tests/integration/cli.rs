//! The command line: migrate, user management, config show, startup failures.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use hdns_entities::users;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::common::*;

fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn migrate_and_user_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let env = [("HDNS_DATA_DIR", data)];

    let out = run(&["migrate"], &env, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("migrations applied"));
    assert!(std::path::Path::new(data).join("hybrid-dns.db").exists());

    let out = run(
        &[
            "user",
            "create",
            "carol",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &env,
        Some("carol-password-1\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created user carol"));
    // The password never echoes back.
    assert!(!text(&out).contains("carol-password-1"));

    let out = run(
        &["user", "create", "carol", "--password-stdin"],
        &env,
        Some("another-password\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"));
    let out = run(
        &["user", "create", "dave", "--password-stdin"],
        &env,
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("password"));

    let out = run(&["user", "list"], &env, None);
    assert!(out.status.success());
    assert!(text(&out)
        .lines()
        .any(|l| l.contains("carol") && l.contains("admin")));

    // carol is the only admin: disabling her would leave nobody in charge.
    let out = run(&["user", "disable", "carol"], &env, None);
    assert!(!out.status.success());
    assert!(text(&out).contains("last active admin"), "{}", text(&out));
    let out = run(
        &["user", "create", "dave", "--password-stdin"],
        &env,
        Some("dave-password-1\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["user", "disable", "dave"], &env, None);
    assert!(out.status.success(), "{}", text(&out));
    let db = sea_orm::Database::connect(format!("sqlite://{data}/hybrid-dns.db"))
        .await
        .unwrap();
    let dave = users::Entity::find()
        .filter(users::Column::Username.eq("dave"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(!dave.is_active);
    assert!(dave.password_hash.starts_with("$argon2id$"));

    let out = run(
        &["user", "set-password", "carol"],
        &env,
        Some("brand-new-password\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["user", "unlock", "nobody"], &env, None);
    assert!(!out.status.success());
    assert!(text(&out).contains("no user named nobody"));

    // The service starts on that database and the CLI-made user can sign in.
    let s = TestServer::start_with(
        Backend::Sqlite,
        &[(
            "HDNS_DATABASE_URL",
            &format!("sqlite://{data}/hybrid-dns.db?mode=rwc"),
        )],
    )
    .await;
    assert_eq!(
        s.login_raw("carol", "brand-new-password", None)
            .await
            .status,
        200
    );
    assert_error(
        &s.login_raw("dave", "dave-password-1", None).await,
        403,
        "account_disabled",
    );
}

#[test]
fn config_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hdns.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:9999\"\nlockout_threshold = 7\n").unwrap();
    let out = run(
        &["config", "show", "--config", cfg.to_str().unwrap()],
        &[
            ("HDNS_JWT_SECRET", "super-secret-signing-key-0123456789"),
            ("HDNS_ADMIN_PASSWORD", "admin-pass-9876"),
            (
                "HDNS_DATABASE_URL",
                "postgres://hdns:db-pass-4242@db.internal:5432/hdns",
            ),
        ],
        None,
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("listen = \"127.0.0.1:9999\""));
    assert!(t.contains("lockout_threshold = 7"));
    assert!(t.contains("postgres://hdns:<redacted>@db.internal:5432/hdns"));
    for secret in [
        "super-secret-signing-key",
        "admin-pass-9876",
        "db-pass-4242",
    ] {
        assert!(!t.contains(secret), "{secret} leaked: {t}");
    }
    // A misspelt key is refused with a clear line.
    std::fs::write(&cfg, "lisen = \"x\"\n").unwrap();
    let out = run(
        &["config", "show", "--config", cfg.to_str().unwrap()],
        &[],
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown key `lisen`"));
}

#[test]
fn startup_failures_exit_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad_dir = file.join("data");
    let out = run(
        &["serve"],
        &[("HDNS_DATA_DIR", bad_dir.to_str().unwrap())],
        None,
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert_eq!(t.trim().lines().count(), 1, "{t}");
    assert!(
        t.contains("data dir") && t.contains("cannot be created"),
        "{t}"
    );

    let out = run(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("HDNS_DATA_DIR", dir.path().join("ok").to_str().unwrap()),
            (
                "HDNS_DATABASE_URL",
                "postgres://hdns:pw-never-shown@127.0.0.1:1/hdns",
            ),
        ],
        None,
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert_eq!(t.trim().lines().count(), 1, "{t}");
    assert!(t.contains("cannot connect to database"), "{t}");
    assert!(!t.contains("pw-never-shown"));

    // A cluster member that cannot reach Redis does not run as an island.
    let out = run(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("HDNS_DATA_DIR", dir.path().join("cl").to_str().unwrap()),
            ("HDNS_BIND_MODE", "disabled"),
            (
                "HDNS_REDIS_URL",
                "redis://:redis-pw-never-shown@127.0.0.1:1/",
            ),
        ],
        None,
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert_eq!(t.trim().lines().count(), 1, "{t}");
    assert!(t.contains("cannot connect to Redis"), "{t}");
    assert!(!t.contains("redis-pw-never-shown"), "{t}");
}

#[tokio::test]
async fn zone_import_export_and_bind_sync() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let env = [
        ("HDNS_DATA_DIR", data),
        ("HDNS_BIND_MODE", "disabled"),
        ("HDNS_MAX_ZONE_FILE_BYTES", "4096"),
    ];
    let file = dir.path().join("cli.test.zone");
    std::fs::write(
        &file,
        "$ORIGIN cli.test.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 7 3600 600 86400 60 )\n  IN NS ns1\nns1 IN A 192.0.2.53\nwww IN A 192.0.2.80 ; web\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let out = run(&["zone", "import", f, "--zone", "cli.test"], &env, None);
    assert!(!out.status.success());
    assert!(text(&out).contains("Zone not found"), "{}", text(&out));
    let out = run(
        &[
            "zone", "import", f, "--zone", "cli.test", "--create", "--mode", "replace",
        ],
        &env,
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported cli.test: 3 created"),
        "{}",
        text(&out)
    );

    let out = run(&["zone", "export", "cli.test"], &env, None);
    assert!(out.status.success(), "{}", text(&out));
    let exported = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(exported.contains("www  IN A 192.0.2.80"), "{exported}");
    assert!(
        exported.contains("ns1.cli.test. hostmaster.cli.test."),
        "{exported}"
    );
    if bind::which("named-checkzone").is_some() {
        bind::checkzone("cli.test", &exported).expect("export passes named-checkzone");
    }

    let zone_file = std::path::Path::new(data).join("bind/zones/cli.test.db");
    std::fs::remove_file(&zone_file).unwrap();
    let out = run(&["bind", "sync"], &env, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("rendered 1 zone file(s)"),
        "{}",
        text(&out)
    );
    assert!(std::fs::read_to_string(&zone_file)
        .unwrap()
        .contains("192.0.2.80"));
    let conf = std::fs::read_to_string(std::path::Path::new(data).join("bind/zones.conf")).unwrap();
    assert!(conf.contains("zone \"cli.test\""), "{conf}");

    // Refusals are one clear message and change nothing.
    std::fs::write(&file, "$INCLUDE other.zone\n").unwrap();
    let out = run(&["zone", "import", f, "--zone", "cli.test"], &env, None);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("line 1: $INCLUDE is not supported"),
        "{}",
        text(&out)
    );
    std::fs::write(&file, "x IN TXT \"y\"\n".repeat(500)).unwrap();
    let out = run(&["zone", "import", f, "--zone", "cli.test"], &env, None);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("at most 4096 are accepted"),
        "{}",
        text(&out)
    );
    let out = run(&["zone", "export", "cli.test"], &env, None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        exported,
        "nothing changed"
    );
}
