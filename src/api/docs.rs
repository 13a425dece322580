//! API documentation: `/openapi.json`, Swagger UI at `/docs`, ReDoc at `/redoc`.
//! Every asset is compiled into the binary; nothing is fetched from a CDN.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{
    auth, dashboard, events, forwarders, health, prometheus, realtime, records, reports, rpz,
    system, users, zones,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "hybrid-dns", description = "Management plane for BIND9: REST API. Errors always have the body {error, message, details, timestamp}."),
    paths(
        health::health, health::components, health::history,
        dashboard::dashboard, realtime::realtime, system::system, reports::queries, reports::zone_changes, reports::blocked, prometheus::metrics,
        auth::login, auth::refresh, auth::logout, auth::me, auth::change_password,
        auth::totp_setup, auth::totp_enable, auth::totp_disable,
        users::list, users::create, users::get, users::update, users::delete, users::unlock, users::reset_password,
        zones::list, zones::create, zones::get, zones::update, zones::delete, zones::export, zones::import, zones::validate,
        zones::permissions, zones::grant, zones::revoke,
        records::list, records::create, records::get, records::update, records::delete, records::bulk_start, records::bulk_status,
        events::list, events::publish,
        forwarders::list, forwarders::create, forwarders::get, forwarders::update, forwarders::delete, forwarders::test,
        rpz::list_rules, rpz::create_rule, rpz::bulk_rules, rpz::get_rule, rpz::update_rule, rpz::delete_rule, rpz::statistics,
        rpz::list_feeds, rpz::create_feed, rpz::get_feed, rpz::update_feed, rpz::delete_feed, rpz::run_feed,
        rpz::list_alerts, rpz::acknowledge,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in, tokens and two-factor authentication"),
        (name = "users", description = "Users and roles"),
        (name = "health", description = "Liveness and component health"),
        (name = "zones", description = "Zones, zone files and zone grants"),
        (name = "records", description = "DNS records and bulk changes"),
        (name = "forwarders", description = "Conditional forwarders"),
        (name = "rpz", description = "Response-policy rules, threat feeds and security alerts"),
        (name = "events", description = "The event log, and publishing events to WebSocket sessions"),
        (name = "monitoring", description = "Dashboard, realtime values, system status, reports and Prometheus metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

const REDOC_JS: &[u8] = include_bytes!("assets/redoc.standalone.js");

const REDOC_HTML: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>hybrid-dns API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script></body></html>"#;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
        .service(web::resource("/redoc").route(web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(REDOC_HTML)
        })))
        .service(
            web::resource("/redoc/redoc.standalone.js").route(web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/javascript")
                    .insert_header(("Cache-Control", "public, max-age=86400"))
                    .body(REDOC_JS)
            })),
        );
}
