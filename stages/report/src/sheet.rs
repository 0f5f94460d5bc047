//! A table of typed columns written two ways with the same columns: an Arrow table (for the
//! Parquet files) and CSV (RFC 4180; values at full precision, text cells through
//! [`csv_text_cell`], so that no cell is read as a spreadsheet formula).

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array};
use arrow_schema::ArrowError;
use iamm_csv::csv_text_cell;

/// One column's values, null where a row has none.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Text(Vec<Option<String>>),
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    Count(Vec<Option<u32>>),
    Bool(Vec<Option<bool>>),
    /// Milliseconds since 1970 (UTC); CSV gets ISO 8601.
    Time(Vec<Option<i64>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Int(v) | Column::Time(v) => v.len(),
            Column::Count(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn array(&self) -> ArrayRef {
        match self {
            Column::Text(v) => Arc::new(StringArray::from(v.clone())),
            Column::Float(v) => Arc::new(Float64Array::from(v.clone())),
            Column::Int(v) => Arc::new(Int64Array::from(v.clone())),
            Column::Count(v) => Arc::new(UInt32Array::from(v.clone())),
            Column::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
            Column::Time(v) => Arc::new(TimestampMillisecondArray::from(v.clone()).with_timezone("UTC")),
        }
    }

    /// Row `i` as a CSV cell.
    fn csv_cell(&self, i: usize) -> String {
        match self {
            Column::Text(v) => v[i].as_deref().map(csv_text_cell).unwrap_or_default(),
            Column::Float(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Count(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Bool(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Time(v) => v[i].map(iso_time).unwrap_or_default(),
        }
    }
}

/// `2026-12-03T14:05:09.123Z` for milliseconds since 1970.
pub fn iso_time(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    pub columns: Vec<(String, Column)>,
}

impl Sheet {
    pub fn push(&mut self, name: impl Into<String>, column: Column) {
        self.columns.push((name.into(), column));
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    pub fn batch(&self) -> Result<RecordBatch, ArrowError> {
        if self.columns.is_empty() {
            return Ok(RecordBatch::new_empty(Arc::new(arrow_schema::Schema::empty())));
        }
        RecordBatch::try_from_iter(self.columns.iter().map(|(n, c)| (n.as_str(), c.array())))
    }

    pub fn csv(&self) -> String {
        let mut s = self.columns.iter().map(|(n, _)| csv_text_cell(n)).collect::<Vec<_>>().join(",");
        s.push('\n');
        for i in 0..self.rows() {
            s.push_str(&self.columns.iter().map(|(_, c)| c.csv_cell(i)).collect::<Vec<_>>().join(","));
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_and_csv_have_the_same_columns() {
        let mut s = Sheet::default();
        s.push("name", Column::Text(vec![Some("=cmd".into()), None]));
        s.push("value", Column::Float(vec![Some(-0.25), Some(1.0)]));
        s.push("n", Column::Count(vec![Some(3), None]));
        s.push("seed", Column::Int(vec![None, Some(42)]));
        s.push("ok", Column::Bool(vec![Some(true), None]));
        s.push("made", Column::Time(vec![Some(0), Some(1_798_207_509_123)]));
        assert_eq!(s.csv(), "name,value,n,seed,ok,made\n'=cmd,-0.25,3,,true,1970-01-01T00:00:00.000Z\n,1,,42,,2026-12-25T14:05:09.123Z\n");
        let b = s.batch().unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (2, 6));
        assert_eq!(b.schema().field(5).data_type().to_string(), "Timestamp(ms, \"UTC\")");
        assert_eq!(Sheet::default().batch().unwrap().num_rows(), 0);
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
