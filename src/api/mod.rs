//! REST handlers, one module per area, mounted under `/api`.

pub mod auth;
pub mod docs;
pub mod health;
pub mod pagination;
pub mod users;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .service(web::resource("/health").route(web::get().to(health::health)))
            .service(web::scope("/auth").configure(auth::configure))
            .service(web::scope("/users").configure(users::configure)),
    )
    .configure(docs::configure);
}
