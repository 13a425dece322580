//! Pagination and sorting shared by every list endpoint.

use sea_orm::Order;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};

pub const MAX_PER_PAGE: u64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number (default 1).
    pub page: Option<u64>,
    /// Items per page (default 50, at most 500).
    pub per_page: Option<u64>,
    /// Field to sort by; each endpoint lists its fields.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Case-insensitive substring search.
    pub q: Option<String>,
}

pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
    pub order: Order,
}

impl ListQuery {
    pub fn page_request(&self) -> ApiResult<PageRequest> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::validation("page", "page starts at 1"));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(ApiError::validation(
                "per_page",
                format!("per_page must be 1 to {MAX_PER_PAGE}"),
            ));
        }
        let order = match self.order.as_deref() {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(_) => {
                return Err(ApiError::validation(
                    "order",
                    "order must be `asc` or `desc`",
                ))
            }
        };
        Ok(PageRequest {
            page,
            per_page,
            order,
        })
    }

    /// Parses `sort` with the endpoint's own parser, naming the allowed fields on error.
    pub fn sort_by<T>(
        &self,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> ApiResult<T> {
        match self.sort.as_deref() {
            None => Ok(default),
            Some(s) => parse(s).ok_or_else(|| {
                ApiError::validation("sort", format!("sort must be one of: {allowed}"))
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
    pub pages: u64,
}

impl<T: ToSchema> Page<T> {
    pub fn new(items: Vec<T>, total: u64, req: &PageRequest) -> Self {
        Self {
            items,
            total,
            page: req.page,
            per_page: req.per_page,
            pages: total.div_ceil(req.per_page),
        }
    }
}
