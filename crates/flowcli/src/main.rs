//! flowcli: the batch command line of flowcore. It parses arguments and wires the library;
//! every capability lives in flowcore.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use flowcore::flow::{FlowConfig, Timeouts};
use flowcore::input::{collect_inputs, CaptureReader, InputError, InputSpec};
use flowcore::pipeline::{flows_from_capture, InputSummary};
use flowcore::report::{FlowFormat, FlowWriter};
use flowcore::time::NS_PER_SEC;

/// Exit status when every input was read (warnings about damaged files allowed).
const EXIT_OK: u8 = 0;
/// Exit status when output could not be written.
const EXIT_OUTPUT: u8 = 1;
/// Exit status when an input could not be read (the others are still processed).
const EXIT_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "flowcli",
    version,
    about = "Flows and three-tier separation checks from network captures",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble bidirectional flows from pcap/pcapng captures (plain, gzip or zstd).
    #[command(after_help = "\
Examples:
  flowcli flows samples/ome-city-sample.pcap
  flowcli flows --format ndjson /var/capture/2026-11-25/ > flows.ndjson
  zcat day.pcap.gz | flowcli flows --format csv -
  flowcli flows --idle-timeout 0 --active-timeout 0 capture.pcapng   # no idle/active cuts

Exit status: 0 all inputs read (damaged files are warnings: everything before the damage
is used); 2 an input could not be read (the others are still reported); 1 output failed.")]
    Flows(FlowsArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned columns for people (default when stdout is a terminal).
    Table,
    /// One JSON document with per-input accounting and the flows.
    Json,
    /// One JSON object per flow per line (default when stdout is not a terminal).
    Ndjson,
    /// CSV with a header row.
    Csv,
}

#[derive(clap::Args)]
struct FlowsArgs {
    /// Capture files, directories (walked recursively, sorted by path) or `-` for stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Idle timeout in seconds, for all protocols ("60") or per protocol
    /// ("tcp=300,udp=60,icmp=60,other=60"); 0 disables. Default tcp=300,udp=60,icmp=60,other=60.
    #[arg(long, value_name = "S")]
    idle_timeout: Option<String>,
    /// Active timeout in seconds: longer flows are cut and continued; 0 disables. Default 1800.
    #[arg(long, value_name = "S")]
    active_timeout: Option<f64>,
    /// Seconds a TCP flow is kept after FIN from both sides or a RST; 0 keeps it until a
    /// timeout. Default 5.
    #[arg(long, value_name = "S")]
    tcp_close_linger: Option<f64>,
    /// Put the VLAN ids in the flow key (segments that reuse address space).
    #[arg(long)]
    vlan_in_key: bool,
    /// Most flows held at once per input; beyond it the flow closest to expiry is emitted.
    #[arg(long, value_name = "N", default_value_t = FlowConfig::default().max_flows)]
    max_flows: usize,
    /// No per-input accounting lines on stderr (warnings and errors are still printed).
    #[arg(long, short)]
    quiet: bool,
}

fn secs(s: f64) -> Result<i64, String> {
    if !(s.is_finite() && s >= 0.0) {
        return Err(format!(
            "timeout must be a non-negative number of seconds, got {s}"
        ));
    }
    Ok((s * NS_PER_SEC as f64).round() as i64)
}

fn parse_idle(spec: &str, t: &mut Timeouts) -> Result<(), String> {
    if let Ok(v) = spec.trim().parse::<f64>() {
        let v = secs(v)?;
        t.tcp_idle = v;
        t.udp_idle = v;
        t.icmp_idle = v;
        t.other_idle = v;
        return Ok(());
    }
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!("--idle-timeout: expected SECONDS or proto=SECONDS, got {part:?}")
        })?;
        let v = secs(
            v.trim()
                .parse::<f64>()
                .map_err(|e| format!("--idle-timeout {part:?}: {e}"))?,
        )?;
        match k.trim() {
            "tcp" => t.tcp_idle = v,
            "udp" => t.udp_idle = v,
            "icmp" => t.icmp_idle = v,
            "other" => t.other_idle = v,
            o => {
                return Err(format!(
                    "--idle-timeout: unknown protocol {o:?} (tcp, udp, icmp, other)"
                ))
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Flows(args) => match run_flows(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_OK),
            Err(e) => {
                eprintln!("flowcli: cannot write output: {e}");
                ExitCode::from(EXIT_OUTPUT)
            }
        },
    }
}

fn run_flows(args: FlowsArgs) -> io::Result<u8> {
    let mut cfg = FlowConfig::default();
    let bad = |m: String| {
        eprintln!("flowcli: {m}");
        Ok(EXIT_INPUT)
    };
    if let Some(s) = &args.idle_timeout {
        if let Err(m) = parse_idle(s, &mut cfg.timeouts) {
            return bad(m);
        }
    }
    for (v, slot) in [
        (args.active_timeout, &mut cfg.timeouts.active),
        (args.tcp_close_linger, &mut cfg.timeouts.tcp_close_linger),
    ] {
        if let Some(v) = v {
            match secs(v) {
                Ok(ns) => *slot = ns,
                Err(m) => return bad(m),
            }
        }
    }
    cfg.vlan_in_key = args.vlan_in_key;
    cfg.max_flows = args.max_flows.max(1);

    let stdout = io::stdout();
    let tty = stdout.is_terminal();
    let format = match args.format {
        Some(Format::Table) => FlowFormat::Table,
        Some(Format::Json) => FlowFormat::Json,
        Some(Format::Ndjson) => FlowFormat::Ndjson,
        Some(Format::Csv) => FlowFormat::Csv,
        None if tty => FlowFormat::Table,
        None => FlowFormat::Ndjson,
    };
    let mut writer = FlowWriter::new(format, io::BufWriter::with_capacity(1 << 16, stdout.lock()));
    let mut errors: Vec<String> = Vec::new();
    let mut summaries: Vec<InputSummary> = Vec::new();
    let specs = match collect_inputs(&args.inputs) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    for spec in &specs {
        let mut reader = match CaptureReader::open(spec.path()) {
            Ok(r) => r,
            Err(e @ InputError::NotCapture { .. }) if matches!(spec, InputSpec::FoundInDir(_)) => {
                eprintln!("flowcli: warning: skipping {e}");
                continue;
            }
            Err(e) => {
                eprintln!("flowcli: error: {e}");
                errors.push(e.to_string());
                continue;
            }
        };
        let id = writer.add_input(reader.name());
        let mut write_err = None;
        let summary = flows_from_capture(&mut reader, id, &cfg, &mut |rec| {
            if write_err.is_none() {
                if let Err(e) = writer.write(&rec) {
                    write_err = Some(e);
                }
            }
        });
        if let Some(e) = write_err {
            return Err(e);
        }
        if let Some(d) = &summary.damage {
            eprintln!(
                "flowcli: warning: {}: {d}; the {} packets before it were used",
                summary.name, summary.packets_read
            );
        }
        if !args.quiet {
            eprintln!("{}", accounting_line(&summary));
        }
        summaries.push(summary);
    }
    writer.finish(&summaries, &errors)?;
    Ok(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT
    })
}

fn accounting_line(s: &InputSummary) -> String {
    let mut line = format!(
        "{}: {} packets read, {} decoded, {} skipped",
        s.name,
        s.packets_read,
        s.packets_decoded,
        s.packets_skipped()
    );
    if !s.skipped.is_empty() {
        let reasons: Vec<String> = s
            .skipped
            .iter()
            .map(|(r, n)| format!("{}={n}", r.as_str()))
            .collect();
        line.push_str(&format!(" ({})", reasons.join(", ")));
    }
    line.push_str(&format!("; {} flows", s.flows.records));
    if s.fragments.fragments > 0 {
        line.push_str(&format!(
            "; {} fragments ({} orphaned)",
            s.fragments.fragments, s.fragments.orphaned
        ));
    }
    let _ = io::stderr().flush();
    line
}
