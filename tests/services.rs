//! Business rules at the service layer: no HTTP, no named. Each test gets
//! an in-memory SQLite database (migrated) and a `Dns` whose BIND mode is
//! `disabled` (files are rendered into a temporary directory and checked
//! when BIND's checkers are installed; nothing is reloaded).

use std::sync::Arc;

use hdns_actors::bind::commit::Dns;
use hdns_actors::bind::files::{BindPaths, Tools};
use hdns_actors::bind::sync::BindFiles;
use hdns_actors::bind::{BindMode, BindSettings};
use hdns_actors::bus::EventBus;
use hdns_actors::events::EventType;
use hdns_entities::enums::{GrantLevel, RecordType, Role, ZoneType};
use hdns_entities::{audit_log, dns_records, zones};
use hybrid_dns::services::{self, records, users, zones as zone_svc, Caller, Error};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

struct World {
    db: DatabaseConnection,
    dns: Dns,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    // One shared in-memory database for every connection of the pool.
    let url = format!(
        "sqlite:file:svc_{}?mode=memory&cache=shared",
        uuid::Uuid::new_v4().simple()
    );
    let db = hybrid_dns::db::connect(&url).await.unwrap();
    hybrid_dns::db::migrate(&db).await.unwrap();
    let settings = BindSettings {
        mode: BindMode::Disabled,
        paths: BindPaths::new(dir.path().join("bind")),
        dns_port: 0,
        rndc_port: 0,
        stats_port: 0,
        allow_recursion: Vec::new(),
        global_forwarders: Vec::new(),
        rndc_conf: None,
        tools: Tools::discover(),
    };
    let files = BindFiles::new(Arc::new(settings)).unwrap();
    let dns = Dns::new(files, EventBus::new(Some(db.clone())), Default::default());
    World { db, dns, _dir: dir }
}

async fn user(w: &World, name: &str, role: Role) -> Caller {
    let input = serde_json::from_value(json!({
        "username": name, "password": "a long enough password", "role": role,
    }))
    .unwrap();
    let row = users::create(&w.db, &Caller::system(), input)
        .await
        .unwrap();
    Caller::user(&row, Some("192.0.2.10".into()))
}

async fn zone(w: &World, admin: &Caller, name: &str) -> zones::Model {
    let req = serde_json::from_value(json!({ "name": name })).unwrap();
    zone_svc::create(&w.db, &w.dns, admin, req).await.unwrap()
}

fn record(zone_id: i32, name: &str, value: &str) -> records::CreateRecord {
    serde_json::from_value(
        json!({"zone_id": zone_id, "name": name, "record_type": "A", "value": value}),
    )
    .unwrap()
}

#[tokio::test]
async fn grants_decide_what_a_user_may_read_and_write() {
    let w = world().await;
    let admin = user(&w, "root", Role::Admin).await;
    let alice = user(&w, "alice", Role::User).await;
    let z = zone(&w, &admin, "example.test").await;
    let other = zone(&w, &admin, "other.test").await;

    // No grant: the zone is not found (its existence does not leak).
    let e = records::create(&w.db, &w.dns, &alice, record(z.id, "www", "192.0.2.1"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Validation(ref f) if f.field == "zone_id"),
        "{e:?}"
    );

    // Read: visible, not writable.
    let req = serde_json::from_value(json!({"user_id": alice.user_id, "level": "read"})).unwrap();
    services::grants::grant(&w.db, &w.dns, &admin, z.id, req)
        .await
        .unwrap();
    let e = records::create(&w.db, &w.dns, &alice, record(z.id, "www", "192.0.2.1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Forbidden {
                code: "permission_denied",
                ..
            }
        ),
        "{e:?}"
    );
    let filter = zone_svc::ZoneFilter {
        q: None,
        zone_type: None,
    };
    let (visible, total) = zone_svc::list(
        &w.db,
        &alice,
        filter,
        zone_svc::ZoneSort::Name,
        sea_orm::Order::Asc,
        1,
        50,
    )
    .await
    .unwrap();
    assert_eq!(total, 1);
    assert_eq!(visible[0].name, "example.test");
    assert!(visible.iter().all(|v| v.id != other.id));

    // Write: the record is created, and lands in the zone's rows.
    let req = serde_json::from_value(json!({"user_id": alice.user_id, "level": "write"})).unwrap();
    let g = services::grants::grant(&w.db, &w.dns, &admin, z.id, req)
        .await
        .unwrap();
    assert_eq!(g.level, GrantLevel::Write);
    let (rec, _) = records::create(&w.db, &w.dns, &alice, record(z.id, "www", "192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(rec.record_type, RecordType::A);
    let rows = dns_records::Entity::find()
        .filter(dns_records::Column::ZoneId.eq(z.id))
        .count(&w.db)
        .await
        .unwrap();
    assert_eq!(rows, 2, "the apex NS and the new A record");
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let w = world().await;
    let admin = user(&w, "root", Role::Admin).await;
    let z = zone(&w, &admin, "example.test").await;
    let before = dns_records::Entity::find().count(&w.db).await.unwrap();
    let e = records::create(&w.db, &w.dns, &admin, record(z.id, "www", "not-an-ip"))
        .await
        .unwrap_err();
    match e {
        Error::Validation(f) => assert_eq!(f.field, "value"),
        other => panic!("{other:?}"),
    }
    let e = records::create(
        &w.db,
        &w.dns,
        &admin,
        record(z.id, "www.elsewhere.org.", "192.0.2.1"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, Error::Validation(ref f) if f.field == "name"),
        "{e:?}"
    );
    let req = serde_json::from_value(json!({"name": "bad name.test"})).unwrap();
    let e = zone_svc::create(&w.db, &w.dns, &admin, req)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Validation(ref f) if f.field == "name"),
        "{e:?}"
    );
    let req = serde_json::from_value(json!({"name": "fwd.test", "zone_type": "forward"})).unwrap();
    let e = zone_svc::create(&w.db, &w.dns, &admin, req)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Validation(ref f) if f.field == "forwarders"),
        "{e:?}"
    );
    assert_eq!(
        dns_records::Entity::find().count(&w.db).await.unwrap(),
        before
    );
    assert_eq!(zones::Entity::find().count(&w.db).await.unwrap(), 1);
}

#[tokio::test]
async fn every_change_bumps_the_serial_and_writes_its_audit_row() {
    let w = world().await;
    let admin = user(&w, "root", Role::Admin).await;
    let mut events = w.dns.bus.subscribe();
    let z = zone(&w, &admin, "example.test").await;
    assert_eq!(z.zone_type, ZoneType::Master);
    let (_, after) = records::create(&w.db, &w.dns, &admin, record(z.id, "www", "192.0.2.1"))
        .await
        .unwrap();
    assert!(
        after.serial > z.serial,
        "{} then {}",
        z.serial,
        after.serial
    );
    let (_, again) = records::create(&w.db, &w.dns, &admin, record(z.id, "mail", "192.0.2.2"))
        .await
        .unwrap();
    assert_eq!(again.serial, after.serial + 1);

    let audit = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("record.create"))
        .all(&w.db)
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].actor_id, admin.user_id);
    assert_eq!(audit[0].ip.as_deref(), Some("192.0.2.10"));

    // Committed changes are published as typed events, in order.
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(e.event_type);
    }
    assert_eq!(
        kinds,
        [
            EventType::ZoneCreated,
            EventType::RecordCreated,
            EventType::RecordCreated
        ]
    );
}

#[tokio::test]
async fn an_unknown_stored_value_is_named_at_start() {
    use sea_orm::ConnectionTrait;
    let w = world().await;
    let admin = user(&w, "root", Role::Admin).await;
    zone(&w, &admin, "example.test").await;
    hybrid_dns::db::migrate(&w.db).await.unwrap();
    w.db.execute_unprepared("UPDATE zones SET zone_type = 'stub'")
        .await
        .unwrap();
    let e = hybrid_dns::db::migrate(&w.db).await.unwrap_err();
    assert!(e.contains("zones.zone_type holds `stub`"), "{e}");
}
