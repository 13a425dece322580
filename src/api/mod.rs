//! REST handlers, one module per area, mounted under `/api`.

pub mod auth;
pub mod dashboard;
pub mod docs;
pub mod events;
pub mod forwarders;
pub mod health;
pub mod pagination;
pub mod prometheus;
pub mod range;
pub mod realtime;
pub mod records;
pub mod reports;
pub mod rpz;
pub mod system;
pub mod users;
pub mod zones;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, max_zone_file: usize) {
    cfg.service(
        web::scope("/api")
            .service(web::resource("/health").route(web::get().to(health::health)))
            .service(web::resource("/health/components").route(web::get().to(health::components)))
            .service(web::resource("/health/history").route(web::get().to(health::history)))
            .service(web::resource("/dashboard").route(web::get().to(dashboard::dashboard)))
            .service(web::resource("/realtime").route(web::get().to(realtime::realtime)))
            .service(web::resource("/system").route(web::get().to(system::system)))
            .service(web::scope("/reports").configure(reports::configure))
            .service(web::scope("/auth").configure(auth::configure))
            .service(web::scope("/users").configure(users::configure))
            .service(web::scope("/zones").configure(|c| zones::configure(c, max_zone_file)))
            .service(web::scope("/dns-records").configure(records::configure))
            .service(web::scope("/forwarders").configure(forwarders::configure))
            .service(web::scope("/rpz").configure(rpz::configure))
            .service(web::scope("/events").configure(events::configure)),
    )
    .service(web::resource("/metrics").route(web::get().to(prometheus::metrics)))
    .configure(docs::configure);
}
