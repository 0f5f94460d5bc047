//! Typed access to input columns, with errors that name the column.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, StringArray};

#[derive(Debug, thiserror::Error)]
pub enum ColumnError {
    #[error("has no column `{0}`; was it written by the ingest stage of this version?")]
    Missing(String),
    #[error("column `{name}` has type {found}, expected {expected}")]
    Type { name: String, found: String, expected: &'static str },
}

pub fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ColumnError> {
    let col = batch.column_by_name(name).ok_or_else(|| ColumnError::Missing(name.to_string()))?;
    col.as_any().downcast_ref::<T>().ok_or_else(|| ColumnError::Type {
        name: name.to_string(),
        found: col.data_type().to_string(),
        expected: std::any::type_name::<T>().rsplit("::").next().unwrap_or("array"),
    })
}

/// A `List<Utf8>` column as one Vec of borrowed strings per row.
pub fn list_of_strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<Vec<Vec<&'a str>>, ColumnError> {
    let col = batch.column_by_name(name).ok_or_else(|| ColumnError::Missing(name.to_string()))?;
    let type_error = || ColumnError::Type {
        name: name.to_string(),
        found: col.data_type().to_string(),
        expected: "List<Utf8>",
    };
    let list = col.as_list_opt::<i32>().ok_or_else(type_error)?;
    let values: &StringArray = list.values().as_string_opt::<i32>().ok_or_else(type_error)?;
    let offsets = list.value_offsets();
    Ok((0..list.len())
        .map(|row| {
            (offsets[row] as usize..offsets[row + 1] as usize).map(|i| values.value(i)).collect()
        })
        .collect())
}
