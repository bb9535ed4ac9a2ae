//! `flowcli query`: SQL over the flows and findings of inputs (polars SQL).

use std::io;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::{FlowOpts, EXIT_INPUT};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum QueryFormat {
    /// Aligned columns, cut to the terminal's width (default on a terminal).
    Table,
    /// CSV with a header row (default otherwise).
    Csv,
    /// One JSON object per row.
    Ndjson,
    /// A Parquet table.
    Parquet,
}

#[derive(clap::Args)]
pub(crate) struct QueryArgs {
    /// Captures, flow exports, flow logs, flowcore flow tables (Parquet/CSV) and finding
    /// tables (Parquet), or directories of them.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The query, over the tables `flows` and `findings` (see docs/query.md).
    #[arg(long, value_name = "SELECT ...")]
    sql: String,
    /// Site file: judges the flows of the inputs to fill `findings` (without it,
    /// `findings` holds only the finding tables given as inputs).
    #[arg(long, value_name = "SITE.toml")]
    ruleset: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<QueryFormat>,
    /// Write the result to this file (atomically) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Most distinct findings listed apart in `findings` (as `analyze --max-findings`).
    #[arg(long, value_name = "N", default_value_t = flowcore::policy::DEFAULT_MAX_FINDINGS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 30))]
    max_findings: usize,
    #[command(flatten)]
    flow: FlowOpts,
    /// No per-input accounting lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[cfg(not(feature = "frame"))]
pub(crate) fn run(_args: QueryArgs) -> io::Result<u8> {
    eprintln!("flowcli: query needs the `frame` feature (polars), which this build leaves out");
    Ok(EXIT_INPUT)
}

#[cfg(feature = "frame")]
pub(crate) fn run(args: QueryArgs) -> io::Result<u8> {
    use crate::{input_specs, EXIT_OK};
    use flowcore::report::frame;
    use std::io::{IsTerminal, Read, Write};

    let fail = |m: String| {
        eprintln!("flowcli: {m}");
        Ok(EXIT_INPUT)
    };
    let rs = match &args.ruleset {
        Some(p) => match crate::analyze::load_ruleset(p) {
            Some(rs) => Some(rs),
            None => return Ok(EXIT_INPUT),
        },
        None => None,
    };
    let (pipeline, open) = match args
        .flow
        .pipeline()
        .and_then(|p| Ok((p, args.flow.open_options(false)?)))
    {
        Ok(x) => x,
        Err(m) => return fail(m),
    };
    let Some(specs) = input_specs(&args.inputs) else {
        return Ok(EXIT_INPUT);
    };
    // Finding tables are loaded as they are; everything else goes through the pipeline.
    let mut finding_tables = Vec::new();
    let mut flow_specs = Vec::new();
    for s in specs {
        let path = s.path();
        let mut magic = [0u8; 4];
        let is_parquet = std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && &magic == b"PAR1";
        if is_parquet {
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => return fail(format!("{}: cannot read: {e}", path.display())),
            };
            match frame::read_parquet(bytes) {
                Ok(df) if frame::is_findings(&df) => {
                    finding_tables.push(df);
                    continue;
                }
                Ok(_) => {}
                Err(e) => return fail(format!("{}: at byte 0: Parquet: {e}", path.display())),
            }
        }
        flow_specs.push(s);
    }
    let judged = crate::analyze::judge_inputs(
        rs.as_ref(),
        args.max_findings,
        &flow_specs,
        &args.flow,
        pipeline,
        &open,
        true,
        args.quiet,
    )?;
    if !judged.errors.is_empty() {
        return Ok(EXIT_INPUT);
    }
    crate::report_exports(&judged.stats, args.quiet);
    let (files, mut flows) = (judged.files, judged.flows);
    flowcore::report::sort_flows(&mut flows);
    let analysis = judged
        .analyzer
        .map(|a| a.finish_on(&files, args.flow.cores()));
    let built = frame::flows_frame(&flows, &files).and_then(|fl| {
        let fi = match &analysis {
            Some(a) => frame::findings_frame(a)?,
            None => frame::findings_frame_of(&[], None)?,
        };
        Ok((fl, frame::stack(fi, &finding_tables)?))
    });
    let (fl, fi) = match built {
        Ok(x) => x,
        Err(e) => return fail(format!("cannot build the tables: {e}")),
    };
    let mut result = match frame::query(fl, fi, &args.sql) {
        Ok(df) => df,
        Err(e) => return fail(format!("query: {e}")),
    };
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        QueryFormat::Table
    } else {
        QueryFormat::Csv
    });
    if format == QueryFormat::Parquet && to_terminal {
        return fail("Parquet is binary: give --output FILE or redirect standard output".into());
    }
    let mut body = Vec::new();
    let written = match format {
        QueryFormat::Table => {
            let (names, rows) = frame::text_rows(&result);
            let width = if to_terminal {
                crate::terminal_width()
            } else {
                None
            };
            body.extend_from_slice(crate::text_table(&names, &rows, width).as_bytes());
            Ok(())
        }
        QueryFormat::Csv => frame::write_csv(&result, &mut body).map_err(|e| e.to_string()),
        QueryFormat::Ndjson => frame::write_ndjson(&result, &mut body).map_err(|e| e.to_string()),
        QueryFormat::Parquet => {
            frame::write_parquet(&mut result, &mut body).map_err(|e| e.to_string())
        }
    };
    if let Err(e) = written {
        return fail(format!("cannot write the result: {e}"));
    }
    match &args.output {
        Some(p) => {
            if let Err(e) = crate::AtomicFile::write(p, &body) {
                return fail(format!("cannot write {}: {e}", p.display()));
            }
        }
        None => {
            let mut out = io::stdout().lock();
            match out.write_all(&body).and_then(|()| out.flush()) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    return fail(format!("cannot write the result: {e}"))
                }
                _ => {}
            }
        }
    }
    if !args.quiet {
        eprintln!("flowcli: {} rows", result.height());
    }
    Ok(EXIT_OK)
}
