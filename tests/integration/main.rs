//! Integration suite: the real binary, real HTTP, SQLite and PostgreSQL.

mod common;

mod auth;
mod cli;
mod cluster;
mod conventions;
mod dns;
mod monitoring;
mod rpz;
mod users;
mod ws;
