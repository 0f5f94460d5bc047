//! How the readers get typed columns (cast to the declared type, nulls refused where the
//! contract has none, errors that name the table, column, type and row) and how the writers
//! build them.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};

use crate::TableError;

/// `list<item>` with a nullable `item` field, as `ListBuilder` writes it.
pub(crate) fn list(item: DataType) -> DataType {
    DataType::List(nullable_item(item))
}

/// A type as errors print it: `u32`, `list<utf8>`, `f32[300]`.
pub(crate) fn type_name(t: &DataType) -> String {
    match t {
        DataType::UInt8 => "u8".into(),
        DataType::UInt32 => "u32".into(),
        DataType::UInt64 => "u64".into(),
        DataType::Int32 => "i32".into(),
        DataType::Float32 => "f32".into(),
        DataType::Float64 => "f64".into(),
        DataType::Boolean => "bool".into(),
        DataType::Utf8 => "utf8".into(),
        DataType::List(f) => format!("list<{}>", type_name(f.data_type())),
        // Length 0 stands for a length the reader takes from the data.
        DataType::FixedSizeList(f, 0) => format!("{}[dim]", type_name(f.data_type())),
        DataType::FixedSizeList(f, n) => format!("{}[{n}]", type_name(f.data_type())),
        other => other.to_string(),
    }
}

/// The declared type of `column` as errors print it.
pub(crate) fn column_type(schema: &Schema, column: &str) -> String {
    schema.field_with_name(column).map(|f| type_name(f.data_type())).unwrap_or_default()
}

/// The columns of `schema` as errors list them: `example_id u32, conv_id utf8, …`.
pub(crate) fn describe(schema: &Schema) -> String {
    schema.fields().iter().map(|f| format!("{} {}", f.name(), type_name(f.data_type()))).collect::<Vec<_>>().join(", ")
}

fn is_list(t: &DataType) -> bool {
    matches!(t, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) | DataType::ListView(_))
}

/// Reads the columns of one table against its declared schema.
pub(crate) struct Reader<'a> {
    batch: &'a RecordBatch,
    table: &'a str,
    writer: &'static str,
    schema: SchemaRef,
}

impl<'a> Reader<'a> {
    /// `table` names the table in errors; `writer` is the stage that writes it; `schema`
    /// declares its columns.
    pub fn new(batch: &'a RecordBatch, table: &'a str, writer: &'static str, schema: Schema) -> Self {
        Reader { batch, table, writer, schema: Arc::new(schema) }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn has(&self, name: &str) -> bool {
        self.batch.column_by_name(name).is_some()
    }

    /// Column `name` as the schema declares it: cast where arrow converts it (wider integers
    /// and floats, other string layouts), never a non-list into a list; without nulls unless
    /// the column is nullable, and without null list items.
    pub fn column(&self, name: &str) -> Result<ArrayRef, TableError> {
        let field = self.schema.field_with_name(name).expect("a reader reads the columns its schema declares").clone();
        let want = field.data_type();
        let Some(col) = self.batch.column_by_name(name) else {
            return Err(TableError::MissingColumn {
                table: self.table.to_string(),
                column: name.to_string(),
                writer: self.writer,
                declared: self.schema.clone(),
                present: self.batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
            });
        };
        // A plain column would cast to one-element lists: refuse it rather than read every
        // dialogue as a single utterance.
        if is_list(want) && !is_list(col.data_type()) {
            return Err(self.wrong_type(name, &type_name(want)));
        }
        let cast = if col.data_type() == want {
            col.clone()
        } else {
            arrow_cast::cast(col, want).map_err(|_| self.wrong_type(name, &type_name(want)))?
        };
        // The cast turns out-of-range values into nulls, so this also catches those.
        if !field.is_nullable()
            && cast.null_count() > 0
            && let Some(row) = (0..cast.len()).find(|&i| cast.is_null(i))
        {
            return Err(self.null(name.to_string(), row));
        }
        if let Some(row) = null_item(cast.as_ref(), 0..cast.len()) {
            return Err(self.null(format!("{name} (an element)"), row));
        }
        Ok(cast)
    }

    pub fn primitive<T: ArrowPrimitiveType>(&self, name: &str) -> Result<PrimitiveArray<T>, TableError> {
        Ok(self.column(name)?.as_primitive::<T>().clone())
    }

    /// A nullable primitive column as options.
    pub fn optional<T: ArrowPrimitiveType>(&self, name: &str) -> Result<Vec<Option<T::Native>>, TableError> {
        Ok(self.primitive::<T>(name)?.iter().collect())
    }

    pub fn strings(&self, name: &str) -> Result<StringArray, TableError> {
        Ok(self.column(name)?.as_string::<i32>().clone())
    }

    pub fn bools(&self, name: &str) -> Result<BooleanArray, TableError> {
        Ok(self.column(name)?.as_boolean().clone())
    }

    /// A `list<utf8>` column, one vector per row.
    pub fn string_lists(&self, name: &str) -> Result<Vec<Vec<String>>, TableError> {
        let col = self.column(name)?;
        let list = col.as_list::<i32>();
        let values = list.values().as_string::<i32>();
        Ok(list.value_offsets().windows(2).map(|w| (w[0] as usize..w[1] as usize).map(|i| values.value(i).to_string()).collect()).collect())
    }

    /// A `list<u32>` column (token ids), one vector per row.
    pub fn id_lists(&self, name: &str) -> Result<Vec<Vec<u32>>, TableError> {
        Ok(id_lists_of(self.column(name)?.as_ref()))
    }

    /// A `list<list<u32>>` column (token ids per utterance), one vector per row.
    pub fn id_list_lists(&self, name: &str) -> Result<Vec<Vec<Vec<u32>>>, TableError> {
        let col = self.column(name)?;
        let list = col.as_list::<i32>();
        let offsets = list.value_offsets();
        let mut inner = id_lists_of(list.values().as_ref()).into_iter().skip(offsets[0] as usize);
        Ok(offsets.windows(2).map(|w| inner.by_ref().take((w[1] - w[0]) as usize).collect()).collect())
    }

    pub fn wrong_type(&self, name: &str, expected: &str) -> TableError {
        let found = self.batch.column_by_name(name).map(|c| c.data_type().to_string()).unwrap_or_default();
        TableError::WrongType { table: self.table.to_string(), column: name.to_string(), found, expected: expected.to_string() }
    }

    fn null(&self, column: String, row: usize) -> TableError {
        TableError::Null { table: self.table.to_string(), column, row }
    }

    /// A row whose values break the contract.
    pub fn invalid(&self, row: usize, what: String) -> TableError {
        TableError::Invalid { table: self.table.to_string(), row, what }
    }
}

/// The rows of a `list<u32>` array (a whole cast column, or the values of an outer list).
fn id_lists_of(a: &dyn Array) -> Vec<Vec<u32>> {
    let list = a.as_list::<i32>();
    let values = list.values().as_primitive::<UInt32Type>().values();
    list.value_offsets().windows(2).map(|w| values[w[0] as usize..w[1] as usize].to_vec()).collect()
}

/// The first row in `rows` of a list array that holds a null item, at any depth.
fn null_item(a: &dyn Array, rows: Range<usize>) -> Option<usize> {
    let (values, items) = match a.data_type() {
        DataType::List(_) => {
            let o = a.as_list::<i32>().value_offsets();
            (a.as_list::<i32>().values(), o[rows.start] as usize..o[rows.end] as usize)
        }
        DataType::FixedSizeList(_, n) => (a.as_fixed_size_list().values(), rows.start * *n as usize..rows.end * *n as usize),
        _ => return None,
    };
    let own = if values.null_count() == 0 { None } else { items.clone().find(|&i| values.is_null(i)) };
    let item = own.into_iter().chain(null_item(values.as_ref(), items)).min()?;
    Some(match a.data_type() {
        DataType::FixedSizeList(_, n) => item / *n as usize,
        _ => a.as_list::<i32>().value_offsets().partition_point(|&o| o as usize <= item) - 1,
    })
}

/// Writes a batch against its declared schema.
pub(crate) fn batch(table: &'static str, schema: Schema, columns: Vec<ArrayRef>) -> Result<RecordBatch, TableError> {
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|source| TableError::Build { table, source })
}

pub(crate) fn strings<'s>(values: impl Iterator<Item = &'s str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

pub(crate) fn u32s(values: impl Iterator<Item = u32>) -> ArrayRef {
    Arc::new(PrimitiveArray::<UInt32Type>::from_iter_values(values))
}

/// A `list<utf8>` column whose items are described by `item`.
pub(crate) fn string_lists<'s>(rows: impl Iterator<Item = &'s [String]>, item: FieldRef) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new()).with_field(item);
    for row in rows {
        row.iter().for_each(|s| b.values().append_value(s));
        b.append(true);
    }
    Arc::new(b.finish())
}

/// A `list<u32>` column.
pub(crate) fn id_lists<'s>(rows: impl Iterator<Item = &'s [u32]>) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new());
    for row in rows {
        b.values().append_slice(row);
        b.append(true);
    }
    Arc::new(b.finish())
}

/// A `list<list<u32>>` column.
pub(crate) fn id_list_lists<'s>(rows: impl Iterator<Item = &'s [Vec<u32>]>) -> ArrayRef {
    let mut b = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    for row in rows {
        for ids in row {
            b.values().values().append_slice(ids);
            b.values().append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// The nullable `item` field of the lists `ListBuilder` writes.
pub(crate) fn nullable_item(t: DataType) -> FieldRef {
    Arc::new(Field::new("item", t, true))
}

/// `fields`, of which those named in `nullable` may hold nulls.
pub(crate) fn declare(fields: &[(&str, DataType)], nullable: &[&str]) -> Schema {
    Schema::new(fields.iter().map(|(name, t)| Field::new(*name, t.clone(), nullable.contains(name))).collect::<Vec<_>>())
}

/// `schema` with every column marked nullable, as polars writes its tables (the readers
/// still refuse nulls where the declaration has none).
pub(crate) fn all_nullable(schema: Schema) -> Schema {
    Schema::new(schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>())
}

pub(crate) fn f64s(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.collect::<arrow_array::Float64Array>())
}
