//! Test harness: runs the real `hybrid-dns` binary on a free port against a
//! fresh SQLite file or a fresh PostgreSQL database, and talks HTTP to it.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};

pub mod bind;
pub mod ws;

pub const ADMIN_PASSWORD: &str = "admin-password-123";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// Admin URL of the server; each test server gets its own database on it.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when reachable. Under `CI=true` a missing server fails the test;
    /// elsewhere the test is skipped with one clear line.
    pub async fn postgres_or_skip(test: &str) -> Option<Backend> {
        let url = std::env::var("HDNS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match Database::connect(&url).await {
            Ok(db) => {
                let _ = db.close().await;
                Some(Backend::Postgres(url))
            }
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("PostgreSQL is required under CI=true but {url} is unreachable: {e}");
                }
                eprintln!("SKIP postgres suite ({test}): PostgreSQL at {url} is unreachable");
                None
            }
        }
    }
}

/// Generates `NAME::sqlite` and `NAME::postgres` tests from `async fn NAME(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(b) = $crate::common::Backend::postgres_or_skip(stringify!($name)).await {
                    super::$name(b).await
                }
            }
        }
    )*};
}

/// A port free for both UDP and TCP on loopback (DNS needs both).
pub fn free_dns_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hybrid-dns")
}

pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub log_path: PathBuf,
    pub http: reqwest::Client,
    child: Child,
    pg: Option<(String, String)>,
    env: Vec<(String, String)>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestServer {
    /// A server with its own managed named on free loopback ports.
    pub async fn start_managed(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let dns = free_dns_port().to_string();
        let rndc = free_port().to_string();
        let stats = free_port().to_string();
        let mut env = vec![
            ("HDNS_BIND_MODE", "managed"),
            ("HDNS_DNS_PORT", dns.as_str()),
            ("HDNS_RNDC_PORT", rndc.as_str()),
            ("HDNS_BIND_STATS_PORT", stats.as_str()),
            // No recursion unless a test asks: there is no Internet to recurse into.
            ("HDNS_BIND_ALLOW_RECURSION", "[]"),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k, v));
        }
        let s = Self::start_with(backend, &env).await;
        bind::wait_answering(dns.parse().unwrap()).await;
        s
    }

    /// The port the managed named listens on.
    pub fn dns_port(&self) -> u16 {
        self.env_port("HDNS_DNS_PORT")
    }

    fn env_port(&self, key: &str) -> u16 {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .expect("server started with start_managed")
    }

    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}/hdns.db?mode=rwc", dir.path().display()),
                None,
            ),
            Backend::Postgres(admin) => {
                let name = format!("hdns_test_{}", uuid::Uuid::new_v4().simple());
                let db = Database::connect(&admin).await.unwrap();
                db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                db.close().await.unwrap();
                let base = admin.rsplit_once('/').unwrap().0.to_string();
                (format!("{base}/{name}"), Some((admin, name)))
            }
        };
        let port = free_port();
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HDNS_LISTEN", format!("127.0.0.1:{port}"))
            .env("HDNS_DATA_DIR", dir.path().join("data"))
            .env("HDNS_DATABASE_URL", &database_url)
            .env("HDNS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("HDNS_LOG_LEVEL", "debug")
            // Suites that need BIND ask for managed mode on their own ports.
            .env("HDNS_BIND_MODE", "disabled")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd.spawn().expect("spawn hybrid-dns");
        let server = TestServer {
            base: format!("http://127.0.0.1:{port}"),
            dir,
            database_url,
            log_path,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            child,
            pg,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(self.url("/api/health")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready; log:\n{}", self.logs());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits up to 5 s for `needle` to appear in the server's log.
    pub async fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.logs().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.database_url).await.unwrap()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::into_resp(req.send().await.unwrap()).await
    }

    pub async fn into_resp(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::DELETE, path, token, None).await
    }

    /// `SELECT COUNT(*) FROM table WHERE column = value` in the server's database.
    pub async fn count_where(&self, table: &str, column: &str, value: &str) -> i64 {
        use sea_orm::Statement;
        let db = self.db().await;
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = '{value}'");
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Like `count_where`, waiting up to 5 s for at least `at_least` rows:
    /// event-log and some audit rows are written in the background.
    pub async fn wait_count(&self, table: &str, column: &str, value: &str, at_least: i64) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.count_where(table, column, value).await;
            if n >= at_least || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `limit` for `table` to have a row; returns its row count.
    pub async fn wait_count_for(&self, table: &str, limit: Duration) -> i64 {
        use sea_orm::Statement;
        let db = self.db().await;
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let deadline = Instant::now() + limit;
        loop {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    sql.clone(),
                ))
                .await
                .unwrap()
                .unwrap();
            let n = row.try_get::<i64>("", "n").unwrap();
            if n > 0 || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A GET whose body is text (CSV, Prometheus); panics unless 200.
    pub async fn raw_get(&self, path: &str, token: Option<&str>) -> String {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// Creates a zone and returns its JSON.
    pub async fn create_zone(&self, token: &str, body: Value) -> Value {
        let r = self.post("/api/zones", Some(token), body).await;
        assert_eq!(r.status, 201, "create zone failed: {:?}", r.body);
        r.body
    }

    /// Creates a record and returns its JSON.
    pub async fn create_record(&self, token: &str, body: Value) -> Value {
        let r = self.post("/api/dns-records", Some(token), body).await;
        assert_eq!(r.status, 201, "create record failed: {:?}", r.body);
        r.body
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn login_raw(&self, username: &str, password: &str, totp: Option<&str>) -> Resp {
        let mut body = json!({ "username": username, "password": password });
        if let Some(code) = totp {
            body["totp_code"] = json!(code);
        }
        self.post("/api/auth/login", None, body).await
    }

    /// Logs in and returns (access_token, refresh_token).
    pub async fn login(&self, username: &str, password: &str) -> (String, String) {
        let r = self.login_raw(username, password, None).await;
        assert_eq!(r.status, 200, "login failed: {:?}", r.body);
        (
            r.body["access_token"].as_str().unwrap().to_string(),
            r.body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await.0
    }

    /// Creates a user through the API and returns its id.
    pub async fn create_user(
        &self,
        admin: &str,
        username: &str,
        password: &str,
        role: &str,
    ) -> i64 {
        let r = self
            .post(
                "/api/users",
                Some(admin),
                json!({ "username": username, "password": password, "role": role }),
            )
            .await;
        assert_eq!(r.status, 201, "create user failed: {:?}", r.body);
        r.body["id"].as_i64().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(40).collect();
            eprintln!("--- server log (last 40 lines) ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs inside the test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(db) = Database::connect(&admin).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = db.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Asserts the REST error body: code, human message, details key, ISO-8601 timestamp.
pub fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        r.status.as_u16(),
        status,
        "unexpected status, body {:?}",
        r.body
    );
    assert_eq!(r.body["error"], code, "body {:?}", r.body);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message missing: {:?}",
        r.body
    );
    assert!(
        r.body.get("details").is_some(),
        "details missing: {:?}",
        r.body
    );
    let ts = r.body["timestamp"].as_str().expect("timestamp");
    chrono::DateTime::parse_from_rfc3339(ts).expect("timestamp is ISO-8601");
}
