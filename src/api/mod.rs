//! REST handlers, one module per area, mounted under `/api`.

pub mod auth;
pub mod docs;
pub mod events;
pub mod forwarders;
pub mod health;
pub mod pagination;
pub mod records;
pub mod users;
pub mod zones;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, max_zone_file: usize) {
    cfg.service(
        web::scope("/api")
            .service(web::resource("/health").route(web::get().to(health::health)))
            .service(web::scope("/auth").configure(auth::configure))
            .service(web::scope("/users").configure(users::configure))
            .service(web::scope("/zones").configure(|c| zones::configure(c, max_zone_file)))
            .service(web::scope("/dns-records").configure(records::configure))
            .service(web::scope("/forwarders").configure(forwarders::configure))
            .service(web::scope("/events").configure(events::configure)),
    )
    .configure(docs::configure);
}
