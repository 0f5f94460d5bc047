use arrow_schema::SchemaRef;

use crate::columns::{column_type, describe};

/// What is wrong with a table a stage reads (or, rarely, with rows it is about to write).
/// `table` is how the caller named the table, with where it came from ("responses of
/// `evaluate`", "examples_test (stage `tokenize`)").
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// `declared` is the table's schema, which the message lists.
    #[error(
        "the {table} table has no column `{column}` ({}); the {writer} stage writes {} (found: {present})",
        column_type(declared, column),
        describe(declared)
    )]
    MissingColumn { table: String, column: String, writer: &'static str, declared: SchemaRef, present: String },
    #[error("column `{column}` of the {table} table is {found}, which does not convert to {expected}")]
    WrongType { table: String, column: String, found: String, expected: String },
    #[error("column `{column}` of the {table} table is null (or out of range) in row {row}")]
    Null { table: String, column: String, row: usize },
    #[error("the {table} table, row {row}: {what}")]
    Invalid { table: String, row: usize, what: String },
    #[error("the {table} table {what}")]
    Shape { table: String, what: String },
    #[error("cannot build the {table} table: {source}")]
    Build {
        table: &'static str,
        #[source]
        source: arrow_schema::ArrowError,
    },
}
