//! DNS management against a real named: what users create through REST is
//! what `dig` gets back.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::bind::{self, dig, wait_for, AuthorityNamed};
use crate::common::{assert_error, Backend, TestServer};

crate::both_backends!(records_follow_rest_changes, zone_grants_limit_users);

async fn soa_serial(port: u16, zone: &str) -> i64 {
    let a = dig(port, zone, "SOA");
    a.data[0]
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

/// Rows of `event_type` in the event log, waiting (up to 5 s) for `at_least`.
async fn event_count(s: &TestServer, event_type: &str, at_least: i64) -> i64 {
    s.wait_count("event_log", "event_type", event_type, at_least)
        .await
}

async fn records_follow_rest_changes(backend: Backend) {
    if !bind::available("records_follow_rest_changes") {
        return;
    }
    let s = TestServer::start_managed(backend, &[]).await;
    let port = s.dns_port();
    let t = s.admin_token().await;
    let zone = s
        .create_zone(&t, json!({"name": "Example.TEST", "zone_type": "master"}))
        .await;
    assert_eq!(zone["name"], "example.test");
    let zid = zone["id"].as_i64().unwrap();

    // Created: answered as soon as the call returns.
    let rec = s
        .create_record(&t, json!({"zone_id": zid, "name": "www", "record_type": "A", "value": "192.0.2.10", "ttl": 300}))
        .await;
    assert_eq!(rec["fqdn"], "www.example.test.");
    let a = dig(port, "www.example.test", "A");
    assert_eq!(a.data, vec!["192.0.2.10"], "{a:?}");
    let mx = s
        .create_record(&t, json!({"zone_id": zid, "name": "@", "record_type": "MX", "value": "mail.example.test", "priority": 10}))
        .await;
    s.create_record(
        &t,
        json!({"zone_id": zid, "name": "mail", "record_type": "A", "value": "192.0.2.25"}),
    )
    .await;
    assert_eq!(
        dig(port, "example.test", "MX").data,
        vec!["10 mail.example.test."]
    );
    s.create_record(&t, json!({"zone_id": zid, "name": "_sip._tcp", "record_type": "SRV", "value": "5 60 5060 sip.example.net."})).await;
    assert_eq!(
        dig(port, "_sip._tcp.example.test", "SRV").data,
        vec!["5 60 5060 sip.example.net."]
    );
    s.create_record(&t, json!({"zone_id": zid, "name": "txt", "record_type": "TXT", "value": "v=spf1 a; -all \"quoted\""})).await;
    assert_eq!(
        dig(port, "txt.example.test", "TXT").data,
        vec!["\"v=spf1 a; -all \\\"quoted\\\"\""]
    );
    s.create_record(&t, json!({"zone_id": zid, "name": "@", "record_type": "CAA", "value": "0 issue \"letsencrypt.org\""})).await;
    assert_eq!(
        dig(port, "example.test", "CAA").data,
        vec!["0 issue \"letsencrypt.org\""]
    );
    s.create_record(
        &t,
        json!({"zone_id": zid, "name": "v6", "record_type": "AAAA", "value": "2001:DB8::1"}),
    )
    .await;
    assert_eq!(
        dig(port, "v6.example.test", "AAAA").data,
        vec!["2001:db8::1"]
    );

    // Updated: new answer, higher serial.
    let serial = soa_serial(port, "example.test").await;
    let id = rec["id"].as_i64().unwrap();
    let r = s
        .patch(
            &format!("/api/dns-records/{id}"),
            Some(&t),
            json!({"value": "192.0.2.11"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(dig(port, "www.example.test", "A").data, vec!["192.0.2.11"]);
    let serial2 = soa_serial(port, "example.test").await;
    assert!(serial2 > serial, "serial {serial} -> {serial2}");
    let today: i64 = chrono::Utc::now()
        .format("%Y%m%d")
        .to_string()
        .parse()
        .unwrap();
    assert_eq!(serial2 / 100, today, "serial follows YYYYMMDDnn");

    // Invalid: 422 naming the field; the old answer stays.
    let r = s
        .patch(
            &format!("/api/dns-records/{id}"),
            Some(&t),
            json!({"value": "192.0.2.999"}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.body["details"]["field"], "value");
    // Refused by named-checkzone (an in-zone NS without an address): 422 with
    // the checker's words; nothing changes, the file on disk is untouched.
    let zone_file = s.dir.path().join("data/bind/zones/example.test.db");
    let before = std::fs::read_to_string(&zone_file).unwrap();
    let r = s
        .post(
            "/api/dns-records",
            Some(&t),
            json!({"zone_id": zid, "name": "@", "record_type": "NS", "value": "ns9.example.test"}),
        )
        .await;
    assert_error(&r, 422, "bind_check_failed");
    assert!(
        r.body["details"]["checker_output"]
            .as_str()
            .unwrap()
            .contains("ns9.example.test"),
        "{:?}",
        r.body
    );
    assert_eq!(std::fs::read_to_string(&zone_file).unwrap(), before);
    assert_eq!(dig(port, "www.example.test", "A").data, vec!["192.0.2.11"]);
    let r = s
        .get(
            &format!("/api/dns-records?zone_id={zid}&record_type=NS"),
            Some(&t),
        )
        .await;
    assert_eq!(
        r.body["total"], 1,
        "the refused NS is not in the database: {:?}",
        r.body
    );
    assert_eq!(soa_serial(port, "example.test").await, serial2);

    // Deleted: NXDOMAIN.
    let r = s.delete(&format!("/api/dns-records/{id}"), Some(&t)).await;
    assert_eq!(r.status, 204);
    assert_eq!(dig(port, "www.example.test", "A").status, "NXDOMAIN");
    let r = s
        .delete(&format!("/api/dns-records/{}", mx["id"]), Some(&t))
        .await;
    assert_eq!(r.status, 204);
    assert!(dig(port, "example.test", "MX").data.is_empty());

    // Listing by zone, pagination and search.
    let r = s
        .get(
            &format!("/api/dns-records?zone_id={zid}&per_page=2&sort=name"),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert!(r.body["total"].as_u64().unwrap() >= 6);
    let r = s.get("/api/zones?q=example", Some(&t)).await;
    assert_eq!(r.body["total"], 1);
    // NS, mail A, SRV, TXT, CAA, AAAA are left after the deletes above.
    assert_eq!(r.body["items"][0]["record_count"], 6, "{:?}", r.body);

    // Zone update changes the SOA; zone delete makes named forget it.
    let r = s
        .patch(
            &format!("/api/zones/{zid}"),
            Some(&t),
            json!({"soa_admin_email": "dns.admin@example.test", "minimum": 120}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let soa = dig(port, "example.test", "SOA").data[0].clone();
    assert!(
        soa.contains("dns\\.admin.example.test.") && soa.ends_with(" 120"),
        "{soa}"
    );

    // Every change was published and logged (the log writes in the background).
    assert!(event_count(&s, "record_created", 7).await >= 7);
    assert!(event_count(&s, "record_updated", 1).await >= 1);
    assert!(event_count(&s, "record_deleted", 2).await >= 2);
    assert!(event_count(&s, "zone_created", 1).await >= 1);
    assert!(event_count(&s, "bind_reload", 1).await >= 1);

    let r = s.delete(&format!("/api/zones/{zid}"), Some(&t)).await;
    assert_eq!(r.status, 204);
    let a = dig(port, "mail.example.test", "A");
    assert_ne!(a.status, "NOERROR", "{a:?}");
    assert!(!zone_file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_names_the_field() {
    let s = TestServer::start(Backend::Sqlite).await;
    let t = s.admin_token().await;
    let z = s.create_zone(&t, json!({"name": "bücher.example"})).await;
    assert_eq!(z["name"], "xn--bcher-kva.example");
    let zid = z["id"].as_i64().unwrap();
    let rev = s
        .create_zone(&t, json!({"name": "2.0.192.in-addr.arpa"}))
        .await;
    assert_eq!(rev["is_reverse"], true);
    let r = s
        .post(
            "/api/zones",
            Some(&t),
            json!({"name": "XN--BCHER-KVA.example"}),
        )
        .await;
    assert_error(&r, 409, "zone_exists");
    let r = s
        .post(
            "/api/zones",
            Some(&t),
            json!({"name": format!("{}.example", "a".repeat(64))}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.body["details"]["field"], "name");
    let r = s
        .post(
            "/api/zones",
            Some(&t),
            json!({"name": "s.example", "zone_type": "slave"}),
        )
        .await;
    assert_eq!(r.body["details"]["field"], "primaries");

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "a", "record_type": "A", "value": "300.1.1.1"}),
            "value",
        ),
        (
            json!({"name": "a", "record_type": "AAAA", "value": "2001:db8::g"}),
            "value",
        ),
        (
            json!({"name": "a".repeat(64), "record_type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "www.other.org.", "record_type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "a", "record_type": "A", "value": "192.0.2.1", "ttl": -5}),
            "ttl",
        ),
        (
            json!({"name": "a", "record_type": "A", "value": "192.0.2.1", "ttl": 3_000_000_000u64}),
            "ttl",
        ),
        (
            json!({"name": "@", "record_type": "MX", "value": "mx.example.net", "priority": 70000}),
            "priority",
        ),
        (
            json!({"name": "@", "record_type": "MX", "value": "mx.example.net"}),
            "priority",
        ),
        (
            json!({"name": "s", "record_type": "SRV", "value": "1 2 99999 t.example.net"}),
            "port",
        ),
        (
            json!({"name": "@", "record_type": "CAA", "value": "0 bogus \"x\""}),
            "value",
        ),
        (
            json!({"name": "1", "record_type": "PTR", "value": "host.example.net"}),
            "record_type",
        ),
        (
            json!({"name": "c", "record_type": "CNAME", "value": "www"}),
            "value",
        ),
        (
            json!({"name": "@", "record_type": "CNAME", "value": "x.example.net"}),
            "name",
        ),
        (
            json!({"name": "t", "record_type": "TXT", "value": "x".repeat(5000)}),
            "value",
        ),
        (
            json!({"name": "a", "record_type": "HINFO", "value": "x y"}),
            "record_type",
        ),
    ];
    for (mut body, field) in cases {
        body["zone_id"] = json!(zid);
        let r = s.post("/api/dns-records", Some(&t), body.clone()).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.body["details"]["field"], field, "{body} -> {:?}", r.body);
    }
    // CNAME exclusivity both ways, and duplicates.
    s.create_record(
        &t,
        json!({"zone_id": zid, "name": "www", "record_type": "A", "value": "192.0.2.1"}),
    )
    .await;
    let r = s.post("/api/dns-records", Some(&t), json!({"zone_id": zid, "name": "www", "record_type": "CNAME", "value": "x.example.net"})).await;
    assert_eq!(r.body["details"]["field"], "name", "{:?}", r.body);
    s.create_record(
        &t,
        json!({"zone_id": zid, "name": "alias", "record_type": "CNAME", "value": "x.example.net"}),
    )
    .await;
    let r = s
        .post(
            "/api/dns-records",
            Some(&t),
            json!({"zone_id": zid, "name": "alias", "record_type": "TXT", "value": "x"}),
        )
        .await;
    assert_eq!(r.body["details"]["field"], "name");
    let r = s
        .post(
            "/api/dns-records",
            Some(&t),
            json!({"zone_id": zid, "name": "WWW", "record_type": "A", "value": "192.0.2.1"}),
        )
        .await;
    assert_error(&r, 409, "duplicate_record");
    // PTR belongs in the reverse zone; long TXT is split by 255 bytes on output.
    s.create_record(&t, json!({"zone_id": rev["id"], "name": "1", "record_type": "PTR", "value": "host.example.net"})).await;
    s.create_record(
        &t,
        json!({"zone_id": zid, "name": "long", "record_type": "TXT", "value": "y".repeat(300)}),
    )
    .await;
    let r = s.get(&format!("/api/zones/{zid}/export"), Some(&t)).await;
    let text = r.body.as_str().unwrap();
    assert!(
        text.contains(&format!("\"{}\" \"{}\"", "y".repeat(255), "y".repeat(45))),
        "{text}"
    );
    // Nothing invalid reached the database.
    let r = s
        .get(&format!("/api/dns-records?zone_id={zid}"), Some(&t))
        .await;
    assert_eq!(r.body["total"], 4, "{:?}", r.body);
}

const IMPORT_ZONE: &str = r#"; A zone as an operator has it on disk.
$ORIGIN import.test.
$TTL 1h
@       IN SOA  ns1.import.test. hostmaster.import.test. (
                2024010101 ; serial
                2h         ; refresh
                15m        ; retry
                2w         ; expire
                5m )       ; negative TTL
        IN NS   ns1
        IN MX   10 mail            ; relative target
ns1     IN A    192.0.2.53
mail    300 IN A 192.0.2.25
www     IN A    192.0.2.80
        IN AAAA 2001:db8::80
spf     IN TXT  "v=spf1 ip4:192.0.2.0/24; -all" "second; part with spaces"
_sip._tcp IN SRV 10 60 5060 sip.import.test.
sip     IN CNAME www
@       IN CAA  0 issue "letsencrypt.org"
$ORIGIN dev.import.test.
api     IN A    192.0.2.90
"#;

fn record_set(body: &Value) -> Vec<(String, String, String, String, String, String, String)> {
    let mut v: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["record_type"].as_str().unwrap().to_string(),
                r["value"].as_str().unwrap().to_string(),
                r["ttl"].to_string(),
                r["priority"].to_string(),
                r["weight"].to_string(),
                r["port"].to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A managed server (zone files up to 8 KiB) with `import.test` replaced
/// by `IMPORT_ZONE`: the server, a token, the zone id, the import's answer.
async fn import_zone_server() -> (TestServer, String, i64, crate::common::Resp) {
    let s =
        TestServer::start_managed(Backend::Sqlite, &[("HDNS_MAX_ZONE_FILE_BYTES", "8192")]).await;
    let t = s.admin_token().await;
    let z = s.create_zone(&t, json!({"name": "import.test"})).await;
    let zid = z["id"].as_i64().unwrap();
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": IMPORT_ZONE, "mode": "replace"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (s, t, zid, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_files_import_and_export() {
    if !bind::available("zone_files_import_and_export") {
        return;
    }
    let (s, t, zid, r) = import_zone_server().await;
    let port = s.dns_port();
    assert_eq!(r.body["created"], 11);
    assert!(r.body["serial"].as_i64().unwrap() > 2024010101);
    assert_eq!(
        dig(port, "spf.import.test", "TXT").data,
        vec!["\"v=spf1 ip4:192.0.2.0/24; -allsecond; part with spaces\""]
    );
    assert_eq!(
        dig(port, "import.test", "MX").data,
        vec!["10 mail.import.test."]
    );
    assert_eq!(
        dig(port, "api.dev.import.test", "A").data,
        vec!["192.0.2.90"]
    );
    let soa = dig(port, "import.test", "SOA").data[0].clone();
    assert!(
        soa.starts_with("ns1.import.test. hostmaster.import.test.")
            && soa.ends_with("7200 900 1209600 300"),
        "{soa}"
    );
    let recs = s
        .get(
            &format!("/api/dns-records?zone_id={zid}&name=mail"),
            Some(&t),
        )
        .await;
    assert_eq!(recs.body["items"][0]["ttl"], 300, "explicit TTL kept");

    // Export passes named-checkzone, and importing it back gives the same records.
    let before = record_set(
        &s.get(
            &format!("/api/dns-records?zone_id={zid}&per_page=500"),
            Some(&t),
        )
        .await
        .body,
    );
    let exported = s.get(&format!("/api/zones/{zid}/export"), Some(&t)).await;
    assert_eq!(exported.status, 200);
    let text = exported.body.as_str().unwrap().to_string();
    bind::checkzone("import.test", &text).expect("export passes named-checkzone");
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": text, "mode": "replace"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let after = record_set(
        &s.get(
            &format!("/api/dns-records?zone_id={zid}&per_page=500"),
            Some(&t),
        )
        .await
        .body,
    );
    assert_eq!(before, after);
    // Merge skips what is there and adds what is new.
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": "www IN A 192.0.2.80\nnew IN A 192.0.2.81\n"}),
        )
        .await;
    assert_eq!(
        (r.body["created"].as_i64(), r.body["skipped"].as_i64()),
        (Some(1), Some(1)),
        "{:?}",
        r.body
    );
    assert_eq!(dig(port, "new.import.test", "A").data, vec!["192.0.2.81"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_file_imports_refuse_bad_files_whole() {
    if !bind::available("zone_file_imports_refuse_bad_files_whole") {
        return;
    }
    let (s, t, zid, _) = import_zone_server().await;
    let port = s.dns_port();

    // Refusals: $INCLUDE, a bad record (all or nothing), a CNAME clash, too large.
    let count = s
        .get(&format!("/api/dns-records?zone_id={zid}"), Some(&t))
        .await
        .body["total"]
        .clone();
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": "a IN A 192.0.2.1\n$INCLUDE /etc/passwd\n"}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("line 2: $INCLUDE"),
        "{:?}",
        r.body
    );
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": "ok1 IN A 192.0.2.1\nbad IN A 192.0.2.300\nok2 IN A 192.0.2.2\n"}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(
        r.body["details"]["errors"][0],
        "line 2: value: `192.0.2.300` is not an IPv4 address"
    );
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": "www IN CNAME other.example.net.\n"}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    let big = format!(
        "{}\n",
        "big IN TXT \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n".repeat(300)
    );
    let r = s
        .post(
            &format!("/api/zones/{zid}/import"),
            Some(&t),
            json!({"content": big}),
        )
        .await;
    assert_error(&r, 413, "payload_too_large");
    assert_eq!(
        s.get(&format!("/api/dns-records?zone_id={zid}"), Some(&t))
            .await
            .body["total"],
        count
    );
    assert_eq!(dig(port, "ok1.import.test", "A").status, "NXDOMAIN");

    // Validate: the current zone, and a candidate file.
    let r = s
        .post(&format!("/api/zones/{zid}/validate"), Some(&t), json!({}))
        .await;
    assert_eq!(r.body["valid"], true, "{:?}", r.body);
    let r = s
        .post(
            &format!("/api/zones/{zid}/validate"),
            Some(&t),
            json!({"content": "@ IN A 192.0.2.1\n"}),
        )
        .await;
    assert_eq!(
        r.body["valid"], false,
        "a zone without NS fails named-checkzone: {:?}",
        r.body
    );
    assert!(
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("NS")),
        "{:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_zones_and_forwarders_really_forward() {
    if !bind::available("forward_zones_and_forwarders_really_forward") {
        return;
    }
    let soa = |z: &str| {
        format!(
            "$TTL 60\n@ IN SOA ns.{z}. h.{z}. 1 60 60 600 60\n@ IN NS ns.{z}.\nns IN A 127.0.0.1\n"
        )
    };
    let fwd = format!("{}host IN A 198.51.100.7\n", soa("fwd.test"));
    let cond = format!("{}svc IN A 198.51.100.8\n", soa("cond.test"));
    let authority = AuthorityNamed::start(&[("fwd.test", &fwd), ("cond.test", &cond)]).await;
    // Forwarding is recursion: let loopback clients recurse.
    let s = TestServer::start_managed(
        Backend::Sqlite,
        &[("HDNS_BIND_ALLOW_RECURSION", "[127.0.0.1]")],
    )
    .await;
    let port = s.dns_port();
    let t = s.admin_token().await;

    let z = s
        .create_zone(&t, json!({"name": "fwd.test", "zone_type": "forward", "forward_policy": "only", "forwarders": [format!("127.0.0.1:{}", authority.port)]}))
        .await;
    assert_eq!(z["forwarders"][0]["port"], authority.port);
    assert_eq!(dig(port, "host.fwd.test", "A").data, vec!["198.51.100.7"]);

    let r = s
        .post(
            "/api/forwarders",
            Some(&t),
            json!({"name": "corp", "domains": ["cond.test"], "servers": [{"address": "127.0.0.1", "port": authority.port}], "policy": "only"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let fid = r.body["id"].as_i64().unwrap();
    assert_eq!(dig(port, "svc.cond.test", "A").data, vec!["198.51.100.8"]);

    let r = s
        .post(
            &format!("/api/forwarders/{fid}/test"),
            Some(&t),
            json!({"name": "svc.cond.test", "record_type": "A"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["healthy"], true);
    let res = &r.body["results"][0];
    assert_eq!(res["rcode"], "NoError");
    assert!(
        res["answers"][0].as_str().unwrap().contains("198.51.100.8"),
        "{res}"
    );
    assert!(res["latency_ms"].as_f64().unwrap() > 0.0);

    // A dead server is reported, not hidden.
    let dead = crate::common::free_dns_port();
    let r = s
        .patch(
            &format!("/api/forwarders/{fid}"),
            Some(&t),
            json!({"servers": [format!("127.0.0.1:{dead}")]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s
        .post(&format!("/api/forwarders/{fid}/test"), Some(&t), json!({}))
        .await;
    assert_eq!(r.body["healthy"], false);
    assert!(r.body["results"][0]["error"].is_string());

    // Conflicts and bad input.
    let r = s
        .post(
            "/api/forwarders",
            Some(&t),
            json!({"name": "dup", "domains": ["fwd.test"], "servers": ["192.0.2.1"]}),
        )
        .await;
    assert_error(&r, 409, "domain_in_use");
    let r = s
        .post(
            "/api/forwarders",
            Some(&t),
            json!({"name": "bad", "domains": ["x.test"], "servers": ["not-an-ip"]}),
        )
        .await;
    assert_eq!(r.body["details"]["field"], "servers");
    let user = s
        .create_user(&t, "viewer", "viewer-password-1", "user")
        .await;
    assert!(user > 0);
    let (ut, _) = s.login("viewer", "viewer-password-1").await;
    let r = s
        .post(
            "/api/forwarders",
            Some(&ut),
            json!({"name": "x", "domains": ["y.test"], "servers": ["192.0.2.1"]}),
        )
        .await;
    assert_error(&r, 403, "permission_denied");

    let r = s.delete(&format!("/api/forwarders/{fid}"), Some(&t)).await;
    assert_eq!(r.status, 204);
    let a = dig(port, "svc.cond.test", "A");
    assert!(a.data.is_empty(), "no longer forwarded: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_named_is_restarted() {
    if !bind::available("killed_named_is_restarted") {
        return;
    }
    let s = TestServer::start_managed(Backend::Sqlite, &[]).await;
    let port = s.dns_port();
    let t = s.admin_token().await;
    let z = s.create_zone(&t, json!({"name": "restart.test"})).await;
    s.create_record(
        &t,
        json!({"zone_id": z["id"], "name": "www", "record_type": "A", "value": "192.0.2.44"}),
    )
    .await;
    let h = s.get("/api/health", None).await;
    assert_eq!(h.body["bind"]["running"], true);
    let pid = h.body["bind"]["pid"].as_i64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();

    let a = wait_for(
        port,
        "www.restart.test",
        "A",
        Duration::from_secs(15),
        |a| a.data == ["192.0.2.44"],
    )
    .await;
    assert_eq!(
        a.data,
        vec!["192.0.2.44"],
        "answers come back after the restart"
    );
    let h = s.get("/api/health", None).await;
    assert_eq!(h.body["bind"]["running"], true);
    assert!(h.body["bind"]["restarts"].as_u64().unwrap() >= 1);
    assert_ne!(h.body["bind"]["pid"].as_i64().unwrap(), pid);
    assert!(
        event_count(&s, "health_alert", 1).await >= 1,
        "the crash raised a health alert"
    );
}

async fn zone_grants_limit_users(backend: Backend) {
    let s = TestServer::start(backend).await;
    let t = s.admin_token().await;
    let mine = s.create_zone(&t, json!({"name": "mine.test"})).await;
    let other = s.create_zone(&t, json!({"name": "other.test"})).await;
    let (mid, oid) = (mine["id"].as_i64().unwrap(), other["id"].as_i64().unwrap());
    let rec = s
        .create_record(
            &t,
            json!({"zone_id": oid, "name": "x", "record_type": "A", "value": "192.0.2.1"}),
        )
        .await;
    let uid = s.create_user(&t, "alice", "alice-password-1", "user").await;
    let (ut, _) = s.login("alice", "alice-password-1").await;

    assert_eq!(s.get("/api/zones", Some(&ut)).await.body["total"], 0);
    assert_error(
        &s.get(&format!("/api/zones/{mid}"), Some(&ut)).await,
        404,
        "not_found",
    );
    assert_error(
        &s.post("/api/zones", Some(&ut), json!({"name": "u.test"}))
            .await,
        403,
        "permission_denied",
    );

    let r = s
        .call(
            reqwest::Method::PUT,
            &format!("/api/zones/{mid}/permissions"),
            Some(&t),
            Some(json!({"user_id": uid, "level": "read"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s.get("/api/zones", Some(&ut)).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["name"], "mine.test");
    let body = json!({"zone_id": mid, "name": "a", "record_type": "A", "value": "192.0.2.2"});
    assert_error(
        &s.post("/api/dns-records", Some(&ut), body.clone()).await,
        403,
        "permission_denied",
    );
    assert_eq!(
        s.get(&format!("/api/zones/{mid}/export"), Some(&ut))
            .await
            .status,
        200
    );

    s.call(
        reqwest::Method::PUT,
        &format!("/api/zones/{mid}/permissions"),
        Some(&t),
        Some(json!({"user_id": uid, "level": "write"})),
    )
    .await;
    assert_eq!(
        s.post("/api/dns-records", Some(&ut), body).await.status,
        201
    );
    // Other zones stay invisible: listing, reading and writing their records.
    let r = s.get("/api/dns-records", Some(&ut)).await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["zone_id"] == mid),
        "{:?}",
        r.body
    );
    assert_error(
        &s.get(&format!("/api/dns-records/{}", rec["id"]), Some(&ut))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &s.delete(&format!("/api/dns-records/{}", rec["id"]), Some(&ut))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &s.get(&format!("/api/dns-records?zone_id={oid}"), Some(&ut))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &s.get(&format!("/api/zones/{mid}/permissions"), Some(&ut))
            .await,
        403,
        "permission_denied",
    );
    assert_error(
        &s.delete(&format!("/api/zones/{mid}"), Some(&ut)).await,
        403,
        "permission_denied",
    );

    let r = s
        .get(&format!("/api/zones/{mid}/permissions"), Some(&t))
        .await;
    assert_eq!(r.body[0]["username"], "alice");
    assert_eq!(r.body[0]["level"], "write");
    assert_eq!(
        s.delete(&format!("/api/zones/{mid}/permissions/{uid}"), Some(&t))
            .await
            .status,
        204
    );
    assert_error(
        &s.get(&format!("/api/zones/{mid}"), Some(&ut)).await,
        404,
        "not_found",
    );
    assert!(event_count(&s, "permission_changed", 3).await >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_changes_run_in_the_background() {
    if !bind::available("bulk_changes_run_in_the_background") {
        return;
    }
    let s = TestServer::start_managed(Backend::Sqlite, &[]).await;
    let port = s.dns_port();
    let t = s.admin_token().await;
    let z = s.create_zone(&t, json!({"name": "bulk.test"})).await;
    let zid = z["id"].as_i64().unwrap();
    let old = s
        .create_record(
            &t,
            json!({"zone_id": zid, "name": "old", "record_type": "A", "value": "192.0.2.1"}),
        )
        .await;
    let mut ops: Vec<Value> = (0..120)
        .map(|i| json!({"action": "create", "zone_id": zid, "name": format!("h{i}"), "record_type": "A", "value": format!("198.51.100.{}", i % 250)}))
        .collect();
    ops.insert(5, json!({"action": "create", "zone_id": zid, "name": "bad", "record_type": "A", "value": "nope"}));
    ops.push(json!({"action": "update", "id": old["id"], "value": "192.0.2.2"}));
    ops.push(json!({"action": "delete", "id": 999999}));
    let r = s
        .post(
            "/api/dns-records/bulk",
            Some(&t),
            json!({"operations": ops}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let op = r.body["operation_id"].as_str().unwrap().to_string();
    let mut status = Value::Null;
    for _ in 0..200 {
        status = s
            .get(&format!("/api/dns-records/bulk/{op}"), Some(&t))
            .await
            .body;
        if status["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status["status"], "completed_with_errors", "{status}");
    assert_eq!(
        (
            status["total"].as_i64(),
            status["succeeded"].as_i64(),
            status["failed"].as_i64()
        ),
        (Some(123), Some(121), Some(2))
    );
    let failed: Vec<i64> = status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_i64().unwrap())
        .collect();
    assert_eq!(failed, vec![5, 122]);
    assert_eq!(
        dig(port, "h119.bulk.test", "A").data,
        vec!["198.51.100.119"]
    );
    assert_eq!(dig(port, "old.bulk.test", "A").data, vec!["192.0.2.2"]);
    assert_eq!(dig(port, "bad.bulk.test", "A").status, "NXDOMAIN");
    assert!(event_count(&s, "bulk_operation_progress", 1).await >= 1);
    assert_eq!(event_count(&s, "bulk_operation_complete", 1).await, 1);
    // Another user cannot read the operation; bad requests are refused whole.
    s.create_user(&t, "bob", "bob-password-12", "user").await;
    let (bt, _) = s.login("bob", "bob-password-12").await;
    assert_error(
        &s.get(&format!("/api/dns-records/bulk/{op}"), Some(&bt))
            .await,
        404,
        "not_found",
    );
    let r = s
        .post(
            "/api/dns-records/bulk",
            Some(&t),
            json!({"operations": [{"action": "update"}]}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
}
