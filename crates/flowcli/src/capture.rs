//! `flowcli capture`: live traffic analysed in consecutive windows (feature `libpcap`).

use std::io;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::{FlowOpts, EXIT_INPUT};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Summary, segment matrix and findings, per window.
    Table,
    /// One analysis document per window, one per line.
    Json,
    /// One finding per line.
    Ndjson,
}

#[derive(clap::Args)]
pub(crate) struct CaptureArgs {
    /// The interface to capture on (e.g. eth0, lo).
    #[arg(long, short, value_name = "IFACE")]
    interface: String,
    /// The site file.
    #[arg(long, value_name = "SITE.toml")]
    ruleset: PathBuf,
    /// Window length in seconds: each window's flows are judged and reported when it closes.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    window: f64,
    /// Stop after this many windows (default: run until killed).
    #[arg(long, value_name = "N")]
    windows: Option<u64>,
    /// Bytes captured per packet.
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    snaplen: i32,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Language of the table.
    #[arg(long, value_enum, default_value = "en")]
    lang: crate::analyze::LangArg,
    /// Put the wall-clock time in each report (`generated_at`).
    #[arg(long)]
    generated_at: bool,
    /// Most distinct findings listed apart in each window's report (as `analyze
    /// --max-findings`).
    #[arg(long, value_name = "N", default_value_t = flowcore::policy::DEFAULT_MAX_FINDINGS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 30))]
    max_findings: usize,
    #[command(flatten)]
    flow: FlowOpts,
    /// No per-window accounting lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[cfg(not(feature = "libpcap"))]
pub(crate) fn run(_args: CaptureArgs) -> io::Result<u8> {
    eprintln!("flowcli: live capture needs libpcap: this flowcli was built without the `libpcap` feature (cargo build --features flowcli/libpcap)");
    Ok(EXIT_INPUT)
}

#[cfg(feature = "libpcap")]
pub(crate) fn run(args: CaptureArgs) -> io::Result<u8> {
    use crate::run_input;
    use flowcore::input::CaptureReader;
    use flowcore::policy::Analyzer;
    use flowcore::report::analysis::{
        analysis_json, analysis_table_in, finding_json, AnalysedInput,
    };
    use std::io::Write;
    use std::time::{Duration, Instant};

    use crate::analyze::load_ruleset;
    use crate::{report_input, run_context, EXIT_OK, EXIT_OUTPUT};

    let Some(rs) = load_ruleset(&args.ruleset) else {
        return Ok(EXIT_INPUT);
    };
    if !(args.window.is_finite() && args.window > 0.0 && args.window <= 86_400.0) {
        eprintln!("flowcli: --window must be between 0 and 86400 seconds");
        return Ok(EXIT_INPUT);
    }
    let cfg = match args.flow.config() {
        Ok(c) => c,
        Err(m) => {
            eprintln!("flowcli: {m}");
            return Ok(EXIT_INPUT);
        }
    };
    // The BPF filter runs in the kernel here; the pipeline gets the other filters.
    let mut reader =
        match CaptureReader::live(&args.interface, args.snaplen, args.flow.bpf.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("flowcli: error: {e}");
                return Ok(EXIT_INPUT);
            }
        };
    let window = Duration::from_secs_f64(args.window);
    // A live capture is not hashed.
    let split = args.flow.split(1, false);
    let mut start = Instant::now();
    let mut any_findings = false;
    let mut n = 0u64;
    while args.windows.is_none_or(|w| n < w) {
        let end = start + window;
        reader.set_window_end(Some(end));
        let mut pipeline = match args.flow.filter() {
            Ok(f) => flowcore::pipeline::Pipeline::new(cfg).filter(f),
            Err(m) => {
                eprintln!("flowcli: {m}");
                return Ok(EXIT_INPUT);
            }
        };
        let name = reader.name().to_string();
        let mut analyzer = Analyzer::new(&rs).max_findings(args.max_findings);
        // With a second core, the capturing thread only reads and decodes (fewer drops).
        let summary = run_input(&mut pipeline, &mut reader, 0, split, &mut |f| {
            analyzer.observe(&f, &name);
        });
        let stats = pipeline.finish(&mut |f| {
            analyzer.observe(&f, &name);
        });
        report_input(&summary, args.quiet);
        if let Some(d) = &summary.damage {
            eprintln!("flowcli: error: {name}: {d}");
            return Ok(EXIT_INPUT);
        }
        if let (false, Some((recv, drop, ifdrop))) = (args.quiet, reader.live_drops()) {
            eprintln!("{name}: window {n}: kernel received {recv}, dropped {drop}, interface dropped {ifdrop} (since start)");
        }
        let analysis = analyzer.finish(std::slice::from_ref(&name));
        any_findings |= !analysis.findings.is_empty();
        let ctx = run_context(stats, args.generated_at);
        let inputs = [AnalysedInput {
            summary,
            digest: None,
        }];
        let mut body = Vec::new();
        match args.format {
            Format::Table => {
                writeln!(body, "== window {n} ==")?;
                let style = flowcore::report::analysis::TableStyle {
                    lang: args.lang.lang(),
                    color: false,
                };
                analysis_table_in(&rs, &inputs, &[], &analysis, &ctx, style, &mut body)?;
            }
            Format::Json => {
                let mut v = analysis_json(&rs, &inputs, &[], &analysis, &ctx);
                if let Some(s) = v["summary"].as_object_mut() {
                    s.insert("window".into(), serde_json::json!(n));
                }
                serde_json::to_writer(&mut body, &v)?;
                body.push(b'\n');
            }
            Format::Ndjson => {
                for f in &analysis.findings {
                    let mut v = finding_json(f);
                    v["window"] = serde_json::json!(n);
                    serde_json::to_writer(&mut body, &v)?;
                    body.push(b'\n');
                }
            }
        }
        let mut out = io::stdout().lock();
        out.write_all(&body)?;
        out.flush()?;
        n += 1;
        start = end;
    }
    Ok(if any_findings { EXIT_OUTPUT } else { EXIT_OK })
}
