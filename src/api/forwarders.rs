//! `/api/forwarders`: conditional forwarders. Everyone signed in may read;
//! admins change them.

use actix_web::{web, HttpResponse};

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiResult, ErrorBody};
use crate::services::forwarders::{
    self as svc, ForwarderInput, ForwarderView, TestRequest, TestResult,
};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/{id}/test").route(web::post().to(test)));
}

#[utoipa::path(get, path = "/api/forwarders", tag = "forwarders", security(("bearer" = [])),
    responses((status = 200, body = Vec<ForwarderView>)))]
pub async fn list(state: web::Data<AppState>, _auth: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(svc::list(&state.db).await?))
}

/// Create a conditional forwarder (admin): `{name, domains, servers, policy?, health_check?}`.
#[utoipa::path(post, path = "/api/forwarders", tag = "forwarders", security(("bearer" = [])), request_body = ForwarderInput,
    responses((status = 201, body = ForwarderView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<ForwarderInput>,
) -> ApiResult<HttpResponse> {
    let f = svc::create(&state.db, &state.dns, &admin.0.caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ForwarderView::from(&f)))
}

#[utoipa::path(get, path = "/api/forwarders/{id}", tag = "forwarders", security(("bearer" = [])),
    responses((status = 200, body = ForwarderView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _auth: AuthUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ForwarderView::from(&svc::get(&state.db, *id).await?)))
}

#[utoipa::path(patch, path = "/api/forwarders/{id}", tag = "forwarders", security(("bearer" = [])), request_body = ForwarderInput,
    responses((status = 200, body = ForwarderView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
    body: web::Json<ForwarderInput>,
) -> ApiResult<HttpResponse> {
    let f = svc::update(
        &state.db,
        &state.dns,
        &admin.0.caller,
        *id,
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ForwarderView::from(&f)))
}

#[utoipa::path(delete, path = "/api/forwarders/{id}", tag = "forwarders", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<i32>,
) -> ApiResult<HttpResponse> {
    svc::delete(&state.db, &state.dns, &admin.0.caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a real DNS query to each server (admin) and report answers and latency.
#[utoipa::path(post, path = "/api/forwarders/{id}/test", tag = "forwarders", security(("bearer" = [])), request_body = TestRequest,
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody)))]
pub async fn test(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<i32>,
    body: Option<web::Json<TestRequest>>,
) -> ApiResult<HttpResponse> {
    let f = svc::get(&state.db, *id).await?;
    let result = svc::test(&f, body.map(|b| b.into_inner()).unwrap_or_default()).await?;
    Ok(HttpResponse::Ok().json(result))
}
