//! `flowcli analyze`: flows judged against a site's policy.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use flowcore::policy::{Analyzer, Ruleset};
use flowcore::report::analysis::{
    analysis_table_in, write_analysis_json, write_analysis_json_on, write_findings_ndjson,
    AnalysedInput, Lang, TableStyle,
};
use flowcore::report::baseline::Baseline;
use flowcore::report::html::analysis_html;

use crate::progress::{self, with_progress};
use crate::{
    each_capture, each_capture_parallel, input_specs, report_exports, run_context, run_input,
    unreachable_pipeline, FlowOpts, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT,
};
use flowcore::flow::FlowRecord;
use flowcore::input::export::ExportRecord;
use flowcore::input::{path_name, CaptureReader, InputSpec, OpenOptions};
use flowcore::pipeline::{FlowSink, Pipeline};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Summary, segment matrix and findings grouped by rule (default on a terminal).
    Table,
    /// One JSON document: summary (inputs with SHA-256, counts, matrix) and findings
    /// (default when stdout is not a terminal).
    Json,
    /// One finding per line.
    Ndjson,
    /// One self-contained HTML page: summary, segment matrix as a coloured grid, violations
    /// by hour, findings with filters, inputs with SHA-256.
    Html,
    /// Findings as CSV (with --output DIR: flows.csv and findings.csv).
    Csv,
    /// Findings as a Parquet table, typed columns (with --output DIR: flows.parquet and
    /// findings.parquet). Needs the `frame` feature (on by default).
    Parquet,
    /// One finding per line with Elastic Common Schema names (event.kind "alert",
    /// rule.id, source.ip, network.community_id, ...), for SIEMs.
    Ecs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LangArg {
    /// English.
    En,
    /// 日本語.
    Ja,
}

impl LangArg {
    pub(crate) fn lang(self) -> Lang {
        match self {
            LangArg::En => Lang::En,
            LangArg::Ja => Lang::Ja,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    /// Any finding.
    Any,
    /// Only findings that are not in the --baseline report.
    New,
}

#[derive(clap::Args)]
pub(crate) struct AnalyzeArgs {
    /// Captures or flow-export files, directories (walked recursively, sorted by path) or
    /// `-` for stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The site file: segments, zones, gateways, exceptions and the policy model it follows.
    #[arg(long, value_name = "SITE.toml")]
    ruleset: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the report to this file (atomically: a temporary file renamed into place)
    /// instead of standard output. A directory (existing, or ending in `/`) gets
    /// `flows.EXT` and `findings.EXT` in the --format (ndjson, csv or parquet; default
    /// parquet) and the full `report.json`, each written atomically.
    #[arg(long, short, value_name = "PATH|DIR/")]
    output: Option<PathBuf>,
    /// With --format csv: start with a UTF-8 byte order mark, so Excel in Japanese
    /// Windows opens the file as UTF-8.
    #[arg(long)]
    csv_bom: bool,
    /// Language of the table: labels, segment names (マイナンバー利用事務系, ...) and rule
    /// messages. JSON and NDJSON carry both languages.
    #[arg(long, value_enum, default_value = "en")]
    lang: LangArg,
    /// An earlier report of this analysis (`--format json`): each finding is marked new or
    /// recurring, and the findings that disappeared are listed.
    #[arg(long, value_name = "REPORT.json")]
    baseline: Option<PathBuf>,
    /// Which findings make the exit status 1: any, or only those new since --baseline.
    #[arg(long, value_enum, default_value = "any", value_name = "WHICH")]
    fail_on: FailOn,
    /// Put the wall-clock time in the report (`generated_at`). Without it the same inputs
    /// and command line give a byte-identical report.
    #[arg(long)]
    generated_at: bool,
    /// Leave out each input's size and SHA-256 (`size` and `sha256` are null): on one
    /// core the SHA-256 is nearly half of the run's CPU time on a large capture. Keep them
    /// for evidence.
    #[arg(long)]
    no_digest: bool,
    /// Most distinct findings listed apart (a bound on memory under scans); each rule's
    /// further violations are counted in one overflow finding (`findings_overflowed`).
    #[arg(long, value_name = "N", default_value_t = flowcore::policy::DEFAULT_MAX_FINDINGS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 30))]
    max_findings: usize,
    #[command(flatten)]
    flow: FlowOpts,
    /// No per-input accounting lines on stderr (warnings and errors are still printed).
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) const NO_RULESET: &str = "\
flowcli analyze needs a site file: --ruleset SITE.toml

A site file names your segments (mynumber, lgwan, internet) with their prefixes, the zones
beyond them (lgwan_wan, security_cloud), the sanitizing gateways, the exceptions, and the
policy model you follow (mic-alpha, mic-alpha-prime, mic-beta, mic-beta-prime).
Start from rulesets/example-site.toml (every key is documented in rulesets/README.md),
then check it with: flowcli ruleset check SITE.toml";

pub(crate) fn load_ruleset(path: &Path) -> Option<Ruleset> {
    match Ruleset::load(path) {
        Ok(rs) => Some(rs),
        Err(errs) => {
            for e in &errs {
                eprintln!("flowcli: ruleset error: {e}");
            }
            None
        }
    }
}

pub(crate) fn run(args: AnalyzeArgs) -> io::Result<u8> {
    let Some(rpath) = &args.ruleset else {
        eprintln!("{NO_RULESET}");
        return Ok(EXIT_INPUT);
    };
    let Some(rs) = load_ruleset(rpath) else {
        return Ok(EXIT_INPUT);
    };
    if args.fail_on == FailOn::New && args.baseline.is_none() {
        eprintln!("flowcli: --fail-on new needs --baseline REPORT.json");
        return Ok(EXIT_INPUT);
    }
    let baseline = match args.baseline.as_deref().map(Baseline::load) {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            eprintln!("flowcli: baseline: {e}");
            return Ok(EXIT_INPUT);
        }
        None => None,
    };
    let (pipeline, open) = match args
        .flow
        .pipeline()
        .and_then(|p| Ok((p, args.flow.open_options(!args.no_digest)?)))
    {
        Ok(c) => c,
        Err(m) => {
            eprintln!("flowcli: {m}");
            return Ok(EXIT_INPUT);
        }
    };
    let open = &open;
    // A directory output holds the flows too.
    let to_dir = args
        .output
        .as_deref()
        .is_some_and(crate::tables::is_dir_output);
    if to_dir
        && matches!(
            args.format,
            Some(Format::Table | Format::Html | Format::Json | Format::Ecs)
        )
    {
        eprintln!("flowcli: --output DIR writes ndjson, csv or parquet tables (report.json is always written)");
        return Ok(EXIT_INPUT);
    }
    let Some(specs) = input_specs(&args.inputs) else {
        return Ok(EXIT_INPUT);
    };
    let Judged {
        analyzer,
        inputs,
        files,
        flows: mut kept,
        errors,
        stats,
    } = judge_inputs(
        Some(&rs),
        args.max_findings,
        &specs,
        &args.flow,
        pipeline,
        open,
        to_dir,
        args.quiet,
    )?;
    let Some(analyzer) = analyzer else {
        unreachable!("a ruleset was given");
    };
    report_exports(&stats, args.quiet);
    let ctx = run_context(stats, args.generated_at);
    // Never dropped: the process ends after the report, and freeing a night's findings
    // (each a dozen strings) one by one took tens of milliseconds after a large report.
    let mut analysis = std::mem::ManuallyDrop::new(analyzer.finish_on(&files, args.flow.cores()));
    analysis.baseline = baseline.as_ref().map(|b| b.compare(&analysis));
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        Format::Table
    } else {
        Format::Json
    });
    if let (true, Some(dir)) = (to_dir, &args.output) {
        let mut report = Vec::new();
        write_analysis_json(&rs, &inputs, &errors, &analysis, &ctx, &mut report)?;
        let table = match args.format {
            Some(Format::Ndjson) => crate::tables::Table::Ndjson,
            Some(Format::Csv) => crate::tables::Table::Csv { bom: args.csv_bom },
            _ => crate::tables::Table::Parquet,
        };
        if let Err(e) = crate::tables::write_dir(dir, table, &mut kept, &files, &analysis, &report)
        {
            eprintln!("flowcli: cannot write {}: {e}", dir.display());
            return Ok(EXIT_INPUT);
        }
        return Ok(finish_status(&args, &analysis, &errors));
    }
    if matches!(format, Format::Parquet) && to_terminal {
        eprintln!("flowcli: Parquet is binary: give --output FILE or redirect standard output");
        return Ok(EXIT_INPUT);
    }
    let mut body = Vec::new();
    match format {
        Format::Table => {
            // Colour only on a terminal, and never with NO_COLOR (https://no-color.org).
            let color = to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let style = TableStyle {
                lang: args.lang.lang(),
                color,
            };
            analysis_table_in(&rs, &inputs, &errors, &analysis, &ctx, style, &mut body)?;
            // On a terminal, long lines are wrapped to its width.
            if let Some(w) = to_terminal.then(crate::terminal_width).flatten() {
                body = crate::fit_lines(&String::from_utf8_lossy(&body), w).into_bytes();
            }
        }
        Format::Json => {
            // Streamed to its destination, not gathered in `body`: a night's report can be
            // tens of megabytes, and holding it whole cost page faults and copies.
            let threads = args.flow.cores();
            let written = emit(args.output.as_deref(), |mut w| {
                write_analysis_json_on(&rs, &inputs, &errors, &analysis, &ctx, threads, &mut w)
            });
            return Ok(written.unwrap_or_else(|| finish_status(&args, &analysis, &errors)));
        }
        Format::Html => analysis_html(
            &rs,
            &inputs,
            &errors,
            &analysis,
            &ctx,
            args.lang.lang(),
            &mut body,
        )?,
        Format::Csv => {
            if args.csv_bom {
                body.extend_from_slice(b"\xEF\xBB\xBF");
            }
            if let Err(e) = crate::tables::findings_csv(&analysis, &mut body) {
                eprintln!("flowcli: {e}");
                return Ok(EXIT_INPUT);
            }
        }
        Format::Parquet => {
            if let Err(e) = crate::tables::findings_parquet(&analysis, &mut body) {
                eprintln!("flowcli: {e}");
                return Ok(EXIT_INPUT);
            }
        }
        Format::Ecs => {
            for f in &analysis.findings {
                serde_json::to_writer(
                    &mut body,
                    &flowcore::report::ecs::finding_ecs(f, &analysis),
                )?;
                body.push(b'\n');
            }
        }
        Format::Ndjson => write_findings_ndjson(&analysis, args.flow.cores(), &mut body)?,
    }
    let written = emit(args.output.as_deref(), |w| w.write_all(&body));
    Ok(written.unwrap_or_else(|| finish_status(&args, &analysis, &errors)))
}

/// Writes the report with `write` to `output` (atomically: a temporary file renamed into
/// place once complete) or to standard output. `None` when it was written; otherwise the
/// exit status, the error printed (a closed pipe is not an error).
fn emit(output: Option<&Path>, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Option<u8> {
    match output {
        Some(path) => {
            let done = crate::AtomicFile::create(path).and_then(|mut f| {
                write(&mut f)?;
                f.commit()
            });
            if let Err(e) = done {
                eprintln!("flowcli: cannot write {}: {e}", path.display());
                return Some(EXIT_INPUT);
            }
        }
        None => {
            let mut out = io::stdout().lock();
            if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    return Some(EXIT_OK);
                }
                // For analyze, 1 means findings: a failed report is an error (2).
                eprintln!("flowcli: cannot write the report: {e}");
                return Some(EXIT_INPUT);
            }
        }
    }
    None
}

/// The closing line on stderr and the exit status.
fn finish_status(
    args: &AnalyzeArgs,
    analysis: &flowcore::policy::Analysis,
    errors: &[String],
) -> u8 {
    if !args.quiet {
        eprintln!(
            "flowcli: {} flows judged, {} findings ({} flows in violation)",
            analysis.flows,
            analysis.findings.len(),
            analysis.violating_flows
        );
    }
    let failing = match (&analysis.baseline, args.fail_on) {
        (Some(d), FailOn::New) => d.new.len(),
        _ => analysis.findings.len(),
    };
    if !errors.is_empty() {
        EXIT_INPUT
    } else if failing == 0 {
        EXIT_OK
    } else {
        EXIT_OUTPUT
    }
}

/// What a run over inputs gives: the analyzer (when a ruleset was given), the inputs'
/// accounting, their names, the flows (when kept), the errors and the export counters.
pub(crate) struct Judged<'r> {
    pub(crate) analyzer: Option<Analyzer<'r>>,
    pub(crate) inputs: Vec<AnalysedInput>,
    pub(crate) files: Vec<String>,
    pub(crate) flows: Vec<FlowRecord>,
    pub(crate) errors: Vec<String>,
    pub(crate) stats: flowcore::input::export::ExportStats,
}

/// Runs every input through `pipeline`, judging flows with `rs` (if any) and keeping them
/// when `keep_flows`: inputs run in parallel (--threads), each with its own analyzer, and
/// are merged in input order, so the result equals one thread's; an input with flow
/// exports is run again in order by the shared pipeline (templates carry over), and so is
/// one that cannot be merged exactly ([`Analyzer::absorbs_exactly`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn judge_inputs<'r>(
    rs: Option<&'r Ruleset>,
    max_findings: usize,
    specs: &[InputSpec],
    flow: &FlowOpts,
    mut pipeline: Pipeline,
    open: &OpenOptions,
    keep_flows: bool,
    quiet: bool,
) -> io::Result<Judged<'r>> {
    let mut kept: Vec<FlowRecord> = Vec::new();
    let new_analyzer = |rs| Analyzer::new(rs).max_findings(max_findings);
    let mut analyzer = rs.map(new_analyzer);
    let mut inputs: Vec<AnalysedInput> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let threads = flow.threads(specs.len());
    let split = flow.split(specs.len(), open.hash);
    let open = &flow.open_for(open, specs.len());
    let ui = progress::start(specs, quiet);
    if let Some(u) = &ui {
        pipeline = pipeline.progress(u.counters.clone());
    }
    let ui_ref = &ui;
    let errors = if threads > 1 && !specs.iter().any(|s| s.path().as_os_str() == "-") {
        // Inputs in parallel, each judged by its own analyzer, merged in input order; an
        // input with flow exports is run again here, in order, by the shared pipeline.
        files = specs.iter().map(|s| path_name(s.path())).collect();
        let files = &files;
        each_capture_parallel(
            specs,
            open,
            threads,
            |id, mut reader| {
                let mut a = rs.map(new_analyzer);
                let mut flows = Vec::new();
                let name = &files[id as usize];
                let summary = match flow.pipeline() {
                    Ok(p) => run_input(
                        &mut with_progress(p.leave_exports(true), ui_ref),
                        &mut reader,
                        id,
                        split,
                        &mut Judge {
                            analyzer: a.as_mut(),
                            file: name,
                            kept: keep_flows.then_some(&mut flows),
                            threads: 1,
                        },
                    ),
                    Err(_) => unreachable_pipeline(),
                };
                // Sorting and freeing here spares the merging thread.
                if let Some(a) = &mut a {
                    a.seal();
                }
                (summary, a, flows)
            },
            |id, (summary, a, flows)| {
                // An input whose analyzer reached the bound on findings, or whose MACs could
                // reach the bound on MACs with the earlier inputs', cannot be merged as if
                // judged here: it is judged again here, in order, like one with flow
                // exports.
                let exact = match (&analyzer, &a) {
                    (Some(an), Some(a)) => an.absorbs_exactly(a),
                    _ => true,
                };
                let summary = if summary.left_for_exports || !exact {
                    // By its path: its name is for reading, not for opening.
                    let name = &files[id as usize];
                    let path = specs[id as usize].path();
                    let mut reader = match CaptureReader::open_opts(path, open) {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("flowcli: error: {e}");
                            return Ok(());
                        }
                    };
                    pipeline.run(
                        &mut reader,
                        id,
                        &mut Judge {
                            analyzer: analyzer.as_mut(),
                            file: name,
                            kept: keep_flows.then_some(&mut kept),
                            threads: 1,
                        },
                    )
                } else {
                    if let (Some(an), Some(a)) = (&mut analyzer, a) {
                        an.absorb(a);
                    }
                    kept.extend(flows);
                    summary
                };
                progress::input_done(ui_ref, &summary, quiet);
                let digest = summary.digest.clone();
                inputs.push(AnalysedInput { summary, digest });
                Ok(())
            },
        )?
    } else {
        each_capture(specs, open, |mut reader| {
            let id = files.len() as u32;
            let name = reader.name().to_string();
            files.push(name.clone());
            let summary = run_input(
                &mut pipeline,
                &mut reader,
                id,
                split,
                &mut Judge {
                    analyzer: analyzer.as_mut(),
                    file: &name,
                    kept: keep_flows.then_some(&mut kept),
                    threads: flow.cores(),
                },
            );
            progress::input_done(ui_ref, &summary, quiet);
            let digest = summary.digest.clone();
            inputs.push(AnalysedInput { summary, digest });
            Ok(())
        })?
    };
    if let Some(u) = ui {
        u.finish();
    }
    let stats = pipeline.finish(&mut |f: FlowRecord| {
        if let Some(an) = &mut analyzer {
            let name = files.get(f.input as usize).cloned().unwrap_or_default();
            an.observe(&f, &name);
        }
        if keep_flows {
            kept.push(f);
        }
    });
    Ok(Judged {
        analyzer,
        inputs,
        files,
        flows: kept,
        errors,
        stats,
    })
}

/// Where `analyze` sends an input's flows: its analyzer, and the kept flows when the
/// report lists them. Export records that go out as they are (no pairing, no filter) are
/// judged as they were decoded, a batch at a time, when no flow is kept.
struct Judge<'a, 'r> {
    analyzer: Option<&'a mut Analyzer<'r>>,
    file: &'a str,
    kept: Option<&'a mut Vec<FlowRecord>>,
    /// Threads that may judge the flows held at the end of the input.
    threads: usize,
}

impl FlowSink for Judge<'_, '_> {
    fn flow(&mut self, f: FlowRecord) {
        if let Some(an) = &mut self.analyzer {
            an.observe(&f, self.file);
        }
        if let Some(kept) = &mut self.kept {
            kept.push(f);
        }
    }

    fn flows(&mut self, records: Vec<FlowRecord>) {
        if let Some(an) = &mut self.analyzer {
            an.observe_all(&records, self.file, self.threads);
        }
        if let Some(kept) = &mut self.kept {
            kept.extend(records);
        }
    }

    fn exports(&mut self, records: &[ExportRecord], input: u32) {
        match (&mut self.analyzer, &self.kept) {
            (Some(an), None) => an.observe_exports(records, input, self.file),
            (None, None) => {}
            _ => {
                for r in records {
                    self.flow(flowcore::flow::from_export(r, input));
                }
            }
        }
    }
}
