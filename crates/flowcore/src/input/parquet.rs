//! Parquet tables of flow records (flowcore's `frame` feature), read with polars and a
//! [`ColumnMap`] (flowcore's own flow table by default). The table is read whole; only
//! the mapped columns are loaded. Rows become records through the same row parser as the
//! delimited flow logs, so both accept the same values.

use std::io::Read;

use polars::prelude::*;

use super::export::ExportWarning;
use super::flowlog::{row_record, ColumnMap, LogFormat, LogItem, Resolved};
use super::InputError;

/// Most rows of one Parquet table (its metadata says how many before anything is decoded).
pub(crate) const MAX_TABLE_ROWS: usize = 50_000_000;

/// The rows of a Parquet table, as text, one record at a time.
pub(crate) struct TableRecords {
    columns: Vec<Column>,
    /// Whether each column holds times (converted to epoch seconds).
    resolved: Resolved,
    map: ColumnMap,
    row: usize,
    rows: usize,
}

fn frame_err(name: &str, e: PolarsError) -> InputError {
    InputError::Format {
        path: name.to_string(),
        offset: 0,
        what: format!("Parquet: {e}"),
    }
}

/// One column as text: times as fractional epoch seconds, everything else cast to strings.
fn as_text(c: &Column) -> PolarsResult<Column> {
    match c.dtype() {
        DataType::Datetime(unit, _) => {
            let per_s: i64 = match unit {
                TimeUnit::Nanoseconds => 1_000_000_000,
                TimeUnit::Microseconds => 1_000_000,
                TimeUnit::Milliseconds => 1_000,
            };
            let v = c.cast(&DataType::Int64)?;
            let ca = v.i64()?;
            let out: StringChunked = ca
                .iter()
                .map(|x| {
                    x.map(|t| {
                        let (s, f) = (t.div_euclid(per_s), t.rem_euclid(per_s));
                        let ns = f * (1_000_000_000 / per_s);
                        format!("{s}.{ns:09}")
                    })
                })
                .collect();
            Ok(out.with_name(c.name().clone()).into_column())
        }
        _ => c.cast(&DataType::String),
    }
}

impl TableRecords {
    /// Reads the table from `reader` (whole), with `map` or flowcore's own columns.
    pub(crate) fn read(
        name: &str,
        mut reader: Box<dyn Read + Send>,
        map: Option<&ColumnMap>,
    ) -> Result<Self, InputError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|source| InputError::Io {
                path: name.to_string(),
                source,
            })?;
        let map = map.cloned().unwrap_or_else(ColumnMap::flowcore);
        let mut pr = ParquetReader::new(std::io::Cursor::new(bytes));
        let schema = pr.schema().map_err(|e| frame_err(name, e))?;
        let all: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        map.resolve(&all).map_err(|e| InputError::Format {
            path: name.to_string(),
            offset: 0,
            what: format!("Parquet table: {e} (give a column map with --columns)"),
        })?;
        let rows = pr.num_rows().map_err(|e| frame_err(name, e))?;
        if rows > MAX_TABLE_ROWS {
            return Err(InputError::Format {
                path: name.to_string(),
                offset: 0,
                what: format!(
                    "Parquet table of {rows} rows: more than {MAX_TABLE_ROWS} are not read at once (split it)"
                ),
            });
        }
        // Only the mapped columns are decoded.
        let wanted: Vec<String> = all
            .iter()
            .filter(|c| map.columns().contains(c))
            .map(|c| c.to_string())
            .collect();
        let df = pr
            .with_columns(Some(wanted))
            .finish()
            .map_err(|e| frame_err(name, e))?;
        let header: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        let resolved = map.resolve(&header).map_err(|e| InputError::Format {
            path: name.to_string(),
            offset: 0,
            what: format!("Parquet table: {e}"),
        })?;
        let mut columns = Vec::with_capacity(header.len());
        for c in df.columns() {
            columns.push(as_text(c).map_err(|e| frame_err(name, e))?);
        }
        Ok(TableRecords {
            rows: df.height(),
            columns,
            resolved,
            map,
            row: 0,
        })
    }

    pub(crate) fn next_item(&mut self) -> Option<LogItem> {
        if self.row >= self.rows {
            return None;
        }
        let i = self.row;
        self.row += 1;
        let fields: Vec<&str> = self
            .columns
            .iter()
            .map(|c| c.str().ok().and_then(|s| s.get(i)).unwrap_or(""))
            .collect();
        let row_no = i as u64 + 1;
        Some(
            match row_record(
                LogFormat::Parquet,
                &self.map,
                "",
                &self.resolved,
                &fields,
                false,
            ) {
                Ok(mut r) => {
                    r.datagram_index = row_no;
                    r.datagram_offset = 0;
                    LogItem::Record(r)
                }
                Err(what) => LogItem::Bad(ExportWarning {
                    offset: 0,
                    what: format!("row {row_no}: {what}"),
                }),
            },
        )
    }
}
