//! DNS domain logic that needs no database: names, record data, master files.

pub mod masterfile;
pub use hdns_actors::names;
pub mod records;

pub use records::{FieldError, RecordInput, RecordKind, ValidRecord};
