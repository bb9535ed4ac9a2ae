//! Flows and findings as tables for data tools: CSV, NDJSON and Parquet files, and a
//! directory holding both (`analyze --output DIR/`). Parquet and the CSV of findings go
//! through polars (the `frame` feature, on by default).

use std::io;
use std::path::Path;

use flowcore::flow::FlowRecord;
use flowcore::policy::Analysis;
use flowcore::report::analysis::{gone_json, FindingDoc};
use flowcore::report::{flow_csv, flow_json, sort_flows, FLOW_COLUMNS};

use crate::AtomicFile;

/// Whether `--output` names a directory: an existing one, or a path ending in `/`.
pub(crate) fn is_dir_output(p: &Path) -> bool {
    p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/')
}

/// The file format of the tables in a directory.
#[derive(Clone, Copy)]
pub(crate) enum Table {
    Ndjson,
    Csv { bom: bool },
    Parquet,
}

#[cfg(feature = "frame")]
fn frame_err(e: flowcore::report::frame::PolarsError) -> io::Error {
    io::Error::other(e.to_string())
}

#[cfg(not(feature = "frame"))]
fn no_frame() -> io::Error {
    io::Error::other(
        "this format needs flowcli's `frame` feature (polars), which this build leaves out",
    )
}

/// The findings as CSV (the columns of the finding table).
pub(crate) fn findings_csv(a: &Analysis, out: &mut Vec<u8>) -> io::Result<()> {
    flowcore::report::analysis::write_findings_csv(a, out)
}

/// The findings as a Parquet file.
pub(crate) fn findings_parquet(a: &Analysis, out: &mut Vec<u8>) -> io::Result<()> {
    #[cfg(feature = "frame")]
    {
        let mut df = flowcore::report::frame::findings_frame(a).map_err(frame_err)?;
        flowcore::report::frame::write_parquet(&mut df, out).map_err(frame_err)
    }
    #[cfg(not(feature = "frame"))]
    {
        let _ = (a, out);
        Err(no_frame())
    }
}

/// The flows as a Parquet file.
pub(crate) fn flows_parquet(
    flows: &[FlowRecord],
    files: &[String],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    #[cfg(feature = "frame")]
    {
        let mut df = flowcore::report::frame::flows_frame(flows, files).map_err(frame_err)?;
        flowcore::report::frame::write_parquet(&mut df, out).map_err(frame_err)
    }
    #[cfg(not(feature = "frame"))]
    {
        let _ = (flows, files, out);
        Err(no_frame())
    }
}

/// Writes `flows.EXT`, `findings.EXT` and `report.json` into `dir` (created if missing),
/// each atomically. The flows are sorted first.
pub(crate) fn write_dir(
    dir: &Path,
    table: Table,
    flows: &mut [FlowRecord],
    files: &[String],
    a: &Analysis,
    report: &[u8],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    sort_flows(flows);
    let file = |i: u32| files.get(i as usize).map_or("", String::as_str);
    let (ext, flow_bytes, finding_bytes) = match table {
        Table::Ndjson => {
            let mut fl = String::new();
            for r in flows.iter() {
                flow_json(r, file(r.input), &mut fl);
                fl.push('\n');
            }
            let mut fl_i = String::new();
            for f in &a.findings {
                FindingDoc {
                    finding: f,
                    analysis: Some(a),
                }
                .push_compact(&mut fl_i);
                fl_i.push('\n');
            }
            let mut fi = fl_i.into_bytes();
            for g in a.baseline.iter().flat_map(|d| &d.disappeared) {
                serde_json::to_writer(&mut fi, &gone_json(g))?;
                fi.push(b'\n');
            }
            ("ndjson", fl.into_bytes(), fi)
        }
        Table::Csv { bom } => {
            let mut fl = String::new();
            if bom {
                fl.push('\u{feff}');
            }
            fl.push_str(&FLOW_COLUMNS.join(","));
            fl.push('\n');
            for r in flows.iter() {
                flow_csv(r, file(r.input), &mut fl);
            }
            let mut fi = Vec::new();
            if bom {
                fi.extend_from_slice("\u{feff}".as_bytes());
            }
            findings_csv(a, &mut fi)?;
            ("csv", fl.into_bytes(), fi)
        }
        Table::Parquet => {
            let mut fl = Vec::new();
            flows_parquet(flows, files, &mut fl)?;
            let mut fi = Vec::new();
            findings_parquet(a, &mut fi)?;
            ("parquet", fl, fi)
        }
    };
    AtomicFile::write(&dir.join(format!("flows.{ext}")), &flow_bytes)?;
    AtomicFile::write(&dir.join(format!("findings.{ext}")), &finding_bytes)?;
    AtomicFile::write(&dir.join("report.json"), report)
}
