//! Flows and findings as polars data frames (flowcore's `frame` feature): typed columns
//! for Parquet files and SQL queries. The columns are those of the JSON/CSV schemas, with
//! types: times as `timestamp[ns, UTC]`, addresses and names as strings, counts as u64.

use std::io::Write;

use polars::prelude::*;
use serde_json::Value;

/// The polars types callers need (so they need not depend on polars themselves).
pub use polars::prelude::{DataFrame, PolarsError};

use super::analysis::FINDING_COLUMNS;
use super::{visit_flow_fields, FLOW_COLUMNS, V};
use crate::flow::FlowRecord;
use crate::policy::{Analysis, Finding};

/// The type of a column of the flow or finding table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Time,
    Count,
    Flag,
    Text,
}

fn flow_kind(name: &str) -> Kind {
    match name {
        "first_ts" | "last_ts" | "fwd_first_ts" | "fwd_last_ts" | "rev_first_ts"
        | "rev_last_ts" => Kind::Time,
        "flipped" | "continued" | "ports_known" | "initiator_known" => Kind::Flag,
        "src_ip" | "dst_ip" | "state" | "end_reason" | "community_id" | "tunnel_type"
        | "tunnel_src_ip" | "tunnel_dst_ip" | "src_mac" | "dst_mac" | "source" | "exporter"
        | "file" => Kind::Text,
        _ => Kind::Count,
    }
}

fn finding_kind(name: &str) -> Kind {
    match name {
        "first_ts" | "last_ts" => Kind::Time,
        "src_port"
        | "dst_port"
        | "proto"
        | "flows"
        | "packets"
        | "bytes"
        | "first_packet_index"
        | "first_packet_offset" => Kind::Count,
        _ => Kind::Text,
    }
}

/// A column being filled.
enum Builder {
    Time(Vec<Option<i64>>),
    Count(Vec<Option<u64>>),
    Flag(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
}

impl Builder {
    fn new(k: Kind, n: usize) -> Self {
        match k {
            Kind::Time => Builder::Time(Vec::with_capacity(n)),
            Kind::Count => Builder::Count(Vec::with_capacity(n)),
            Kind::Flag => Builder::Flag(Vec::with_capacity(n)),
            Kind::Text => Builder::Text(Vec::with_capacity(n)),
        }
    }

    fn finish(self, name: &str) -> PolarsResult<Column> {
        let name = PlSmallStr::from(name);
        Ok(match self {
            Builder::Time(v) => Series::new(name, v)
                .cast(&DataType::Datetime(
                    TimeUnit::Nanoseconds,
                    Some(TimeZone::UTC),
                ))?
                .into_column(),
            Builder::Count(v) => Series::new(name, v).into_column(),
            Builder::Flag(v) => Series::new(name, v).into_column(),
            Builder::Text(v) => Series::new(name, v).into_column(),
        })
    }
}

/// The flow table: one row per record, the columns of [`FLOW_COLUMNS`]. `files` names
/// the inputs by number.
pub fn flows_frame(records: &[FlowRecord], files: &[String]) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Builder> = FLOW_COLUMNS
        .iter()
        .map(|c| Builder::new(flow_kind(c), records.len()))
        .collect();
    for r in records {
        let file = files.get(r.input as usize).map_or("", String::as_str);
        visit_flow_fields(r, file, |i, _, v| {
            let Some(b) = cols.get_mut(i) else {
                return;
            };
            match (b, v) {
                (Builder::Time(c), V::Ts(t)) => c.push(Some(t)),
                (Builder::Time(c), _) => c.push(None),
                (Builder::Count(c), V::U(n)) => c.push(Some(n)),
                (Builder::Count(c), _) => c.push(None),
                (Builder::Flag(c), V::Bool(x)) => c.push(Some(x)),
                (Builder::Flag(c), _) => c.push(None),
                (Builder::Text(c), V::Text(s)) => c.push(Some(s.to_string())),
                (Builder::Text(c), v) => c.push(v.plain_string()),
            }
        });
    }
    let columns = cols
        .into_iter()
        .zip(FLOW_COLUMNS)
        .map(|(b, n)| b.finish(n))
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(records.len(), columns)
}

/// The finding table of an analysis: the fields of the NDJSON findings, with `considered`
/// joined by `"; "` and `baseline` (`new`/`recurring`) when compared with a baseline.
pub fn findings_frame(a: &Analysis) -> PolarsResult<DataFrame> {
    findings_frame_of(&a.findings, Some(a))
}

/// Like [`findings_frame`] for some findings (of `a`, whose baseline marks them, if any).
pub fn findings_frame_of(findings: &[Finding], a: Option<&Analysis>) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Builder> = FINDING_COLUMNS
        .iter()
        .map(|c| Builder::new(finding_kind(c), findings.len()))
        .collect();
    for f in findings {
        let v = match a {
            Some(a) => super::analysis::finding_json_in(f, a),
            None => super::analysis::finding_json(f),
        };
        for (b, name) in cols.iter_mut().zip(FINDING_COLUMNS) {
            let x = v.get(name).unwrap_or(&Value::Null);
            match b {
                Builder::Time(c) => c.push(match name {
                    "first_ts" => Some(f.first_ts),
                    _ => Some(f.last_ts),
                }),
                Builder::Count(c) => c.push(x.as_u64()),
                Builder::Flag(c) => c.push(x.as_bool()),
                Builder::Text(c) => c.push(super::analysis::finding_cell(x)),
            }
        }
    }
    let columns = cols
        .into_iter()
        .zip(FINDING_COLUMNS)
        .map(|(b, n)| b.finish(n))
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(findings.len(), columns)
}

/// Writes `df` as Parquet (zstd-compressed, with statistics) to `out`.
pub fn write_parquet(df: &mut DataFrame, out: impl Write) -> PolarsResult<()> {
    ParquetWriter::new(out)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map(|_| ())
}

/// Reads a whole Parquet file into a frame.
pub fn read_parquet(bytes: Vec<u8>) -> PolarsResult<DataFrame> {
    ParquetReader::new(std::io::Cursor::new(bytes)).finish()
}

/// Whether a frame is a finding table (it has flowcore's finding columns).
pub fn is_findings(df: &DataFrame) -> bool {
    ["id", "rule_id", "severity", "src_ip", "dst_ip"]
        .iter()
        .all(|c| df.column(c).is_ok())
}

/// Runs a SQL query (polars SQL) over the tables `flows` and `findings`.
pub fn query(flows: DataFrame, findings: DataFrame, sql: &str) -> PolarsResult<DataFrame> {
    let mut ctx = polars::sql::SQLContext::new();
    ctx.register("flows", flows.lazy());
    ctx.register("findings", findings.lazy());
    ctx.execute(sql)?.collect()
}

/// Writes a frame as CSV with a header row (times in RFC 3339, UTC).
pub fn write_csv(df: &DataFrame, mut out: impl Write) -> std::io::Result<()> {
    let (names, rows) = text_rows(df);
    let mut s = String::new();
    super::push_csv_rows(&mut s, &names, &rows);
    out.write_all(s.as_bytes())
}

/// Writes a frame as NDJSON, one object per row, keys in column order.
pub fn write_ndjson(df: &DataFrame, mut out: impl Write) -> std::io::Result<()> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut line = String::new();
    for i in 0..df.height() {
        let mut obj = serde_json::Map::new();
        for (c, name) in df.columns().iter().zip(&names) {
            let v = c.get(i).map_or(Value::Null, |v| any_json(&v));
            obj.insert(name.clone(), v);
        }
        line.clear();
        line.push_str(&Value::Object(obj).to_string());
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn any_json(v: &AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::UInt8(n) => (*n).into(),
        AnyValue::UInt16(n) => (*n).into(),
        AnyValue::UInt32(n) => (*n).into(),
        AnyValue::UInt64(n) => (*n).into(),
        AnyValue::Int8(n) => (*n).into(),
        AnyValue::Int16(n) => (*n).into(),
        AnyValue::Int32(n) => (*n).into(),
        AnyValue::Int64(n) => (*n).into(),
        AnyValue::Float32(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(Value::Null, Value::Number)
        }
        AnyValue::Float64(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        AnyValue::String(s) => Value::String(s.to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::Datetime(t, unit, _) | AnyValue::DatetimeOwned(t, unit, _) => {
            let ns = match unit {
                TimeUnit::Nanoseconds => *t,
                TimeUnit::Microseconds => t.saturating_mul(1_000),
                TimeUnit::Milliseconds => t.saturating_mul(1_000_000),
            };
            Value::String(crate::time::format_rfc3339(ns))
        }
        other => Value::String(other.to_string()),
    }
}

/// A frame as text cells for people: column names and rows (times in RFC 3339, nulls
/// empty).
pub fn text_rows(df: &DataFrame) -> (Vec<String>, Vec<Vec<String>>) {
    let names = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| match c.get(i).map(|v| any_json(&v)) {
                    Ok(Value::Null) | Err(_) => String::new(),
                    Ok(Value::String(s)) => s,
                    Ok(v) => v.to_string(),
                })
                .collect()
        })
        .collect();
    (names, rows)
}

/// Stacks finding tables (read back from Parquet files) under `base`, by column name.
pub fn stack(mut base: DataFrame, more: &[DataFrame]) -> PolarsResult<DataFrame> {
    for m in more {
        let cols: Vec<&str> = base.get_column_names().iter().map(|n| n.as_str()).collect();
        let m = m.select(cols)?;
        base.vstack_mut(&m)?;
    }
    Ok(base)
}
