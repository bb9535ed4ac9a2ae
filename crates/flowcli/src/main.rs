//! flowcli: the batch command line of flowcore. It parses arguments and wires the library;
//! every capability lives in flowcore.

#![forbid(unsafe_code)]

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use flowcore::filter::Filter;
use flowcore::flow::FlowRecord;
use flowcore::flow::{FlowConfig, Timeouts};
use flowcore::input::flowlog::ColumnMap;
use flowcore::input::{
    collect_inputs_noting, CaptureFormat, CaptureReader, InputError, InputSpec, OpenOptions,
};
use flowcore::pipeline::{FlowSink, InputSummary, Pipeline};
use flowcore::report::{FlowFormat, FlowWriter};
use flowcore::time::NS_PER_SEC;

mod analyze;
mod capture;
mod extract;
mod progress;
mod query;
mod rules;
mod tables;

/// A file written beside its final path and renamed into place by [`AtomicFile::commit`],
/// so a reader never sees half a report; dropped uncommitted, it leaves nothing behind.
///
/// Only a regular file (or a path where nothing is yet) is replaced so. Anything else that
/// exists there (`/dev/null`, `/dev/stdout`, a named pipe) is opened and written as it is:
/// renaming over it would put a regular file in its place (as root, even over
/// `/dev/null`). A symbolic link is followed: the file it names is replaced, the link
/// stays.
pub(crate) struct AtomicFile {
    file: std::fs::File,
    /// The temporary file, or `None` when writing straight to a special file.
    tmp: Option<PathBuf>,
    path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file in the target's directory (or opens a special file).
    pub(crate) fn create(path: &std::path::Path) -> io::Result<Self> {
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() && !m.is_dir() => {
                return Ok(AtomicFile {
                    file: std::fs::OpenOptions::new().write(true).open(path)?,
                    tmp: None,
                    path: path.to_path_buf(),
                    committed: false,
                });
            }
            _ => {}
        }
        // Through a link, the file it names is the one replaced.
        let path = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
                Ok(p) => p,
                // A dangling link: the file it names is created.
                Err(_) => path
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(std::fs::read_link(path)?),
            },
            _ => path.to_path_buf(),
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("not a file name"))?;
        let tmp = dir.join(format!(
            ".{}.tmp{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        Ok(AtomicFile {
            file: std::fs::File::create(&tmp)?,
            tmp: Some(tmp),
            path,
            committed: false,
        })
    }

    /// Flushes to disk and renames into place (a special file is only flushed).
    pub(crate) fn commit(mut self) -> io::Result<()> {
        match &self.tmp {
            Some(tmp) => {
                self.file.sync_all()?;
                std::fs::rename(tmp, &self.path)?;
            }
            None => self.file.flush()?,
        }
        self.committed = true;
        Ok(())
    }

    /// Writes `body` to `path` atomically.
    pub(crate) fn write(path: &std::path::Path, body: &[u8]) -> io::Result<()> {
        let mut f = AtomicFile::create(path)?;
        f.file.write_all(body)?;
        f.commit()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.file.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Where `flows` writes: standard output, or a file renamed into place when complete.
enum Sink {
    Stdout(io::Stdout),
    File(AtomicFile),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(b),
            Sink::File(f) => f.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File(f) => f.flush(),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (false, Some(tmp)) = (self.committed, &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Exit status when every input was read (warnings about damaged files allowed).
const EXIT_OK: u8 = 0;
/// Exit status when output could not be written (`flows`), or violations were found (`analyze`).
const EXIT_OUTPUT: u8 = 1;
/// Exit status when an input or the ruleset could not be read (the other inputs are still processed).
const EXIT_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "flowcli",
    version,
    about = "Flows and three-tier separation checks from network captures and flow exports",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble bidirectional flows from pcap/pcapng captures and NetFlow/IPFIX/sFlow exports
    /// (plain, gzip or zstd).
    #[command(after_help = "\
Examples:
  flowcli flows samples/ome-city-sample.pcap
  flowcli flows --format ndjson /var/capture/2026-11-25/ > flows.ndjson
  zcat day.pcap.gz | flowcli flows --format csv -
  flowcli flows --idle-timeout 0 --active-timeout 0 capture.pcapng   # no idle/active cuts

Exit status: 0 all inputs read (damaged files are warnings: everything before the damage
is used); 2 an input could not be read (the others are still reported); 1 output failed.")]
    Flows(FlowsArgs),
    /// Judge the flows of captures against a site's three-tier separation policy.
    #[command(after_help = "\
Examples:
  flowcli analyze --ruleset rulesets/ome-city.toml samples/ome-city-sample.pcap
  flowcli analyze --ruleset site.toml --format json --output report.json /var/capture/2026-11-25/
  flowcli analyze --ruleset site.toml --format ndjson captures/ | siem-forwarder
  flowcli analyze --ruleset site.toml --format json -o tonight.json \
      --baseline last-night.json --fail-on new /var/capture/2026-11-25/

Exit status: 0 no violations; 1 violations found (with --fail-on new: new ones); 2 error
(bad ruleset, unreadable input or baseline, report not writable).
Damaged captures are warnings: everything before the damage is judged.")]
    Analyze(analyze::AnalyzeArgs),
    /// Validate a site file, or run its policy tests.
    #[command(subcommand)]
    Ruleset(rules::RulesetCmd),
    /// Write the packets of selected flows (a finding, a Community ID, a host, a time
    /// window) to a capture that Wireshark and tshark open.
    #[command(after_help = "\
Examples:
  flowcli extract --ruleset rulesets/ome-city.toml --finding LG-01 -o lg01.pcap samples/ome-city-sample.pcap
  flowcli extract --ruleset site.toml --finding 3f2a9c0d1e2b4a5f -o evidence.pcap /var/capture/2026-11-25/
  flowcli extract --flow 1:LQU9qZlK+B5F3KDmev6m5PMibrg= -o flow.pcap night.pcapng
  flowcli extract --host 10.3.20.15 --from 2026-11-25T00:00:00+09:00 --to 2026-11-25T06:00:00+09:00 -o host.pcap captures/

Selectors (--finding, --flow) add up; filters (--host, --from, --to, --bpf) restrict packets
as in every subcommand; with no selector every flow the filters keep is written. Use the
same flow options as the analysis the finding came from. Exactly the packets of the
selected flows are written (as many as their packet counts), in file order; flow-export
records are written as NDJSON beside the capture.

Exit status: 0 written; 1 nothing matched (nothing written); 2 error (bad ruleset,
unreadable input, output not writable: no partial file is left behind).")]
    Extract(extract::ExtractArgs),
    /// Analyse live traffic on an interface in consecutive windows (needs the `libpcap`
    /// feature and the right to capture).
    #[command(after_help = "\
Examples:
  flowcli capture -i eth1 --ruleset site.toml --window 300 >> /var/log/flowcli/live.ndjson
  flowcli capture -i lo --ruleset rulesets/ome-city.toml --window 5 --windows 1 --format table

Each window's flows are judged when it closes and its report is written (JSON: one document
per line, with \"window\": N). Flows do not span windows. --bpf runs in the kernel.

Exit status: 0 no findings; 1 findings in some window; 2 error (cannot open the interface,
bad ruleset).")]
    Capture(capture::CaptureArgs),
    /// Query the flows and findings of inputs with SQL (polars SQL): tables `flows` and
    /// `findings`.
    #[command(after_help = "\
Examples:
  flowcli query --ruleset rulesets/ome-city.toml samples/ome-city-sample.pcap \\
      --sql 'SELECT rule_id, COUNT(*) AS n FROM findings GROUP BY rule_id ORDER BY n DESC'
  flowcli query night/flows.parquet night/findings.parquet --sql 'SELECT * FROM findings'
  flowcli query --ruleset site.toml captures/ --format csv -o out.csv --sql '...'

Inputs are captures, flow exports and flow logs (judged with --ruleset to fill `findings`),
flowcore flow tables (flows.parquet/csv) and finding tables (findings.parquet, as written
by `analyze --output DIR/`), which are loaded as they are. docs/query.md has the schema
and the queries investigators run most.

Exit status: 0 the query ran; 2 error (bad SQL, unreadable input, output not writable).")]
    Query(query::QueryArgs),
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  flowcli completions bash > /etc/bash_completion.d/flowcli
  flowcli completions zsh > ~/.zfunc/_flowcli")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (flowcli.1 and one per subcommand) into a directory, or print
    /// flowcli.1 when none is given.
    #[command(after_help = "\
Examples:
  flowcli manpage /usr/local/share/man/man1
  flowcli manpage | man -l -")]
    Manpage {
        /// Directory to write the pages into.
        dir: Option<PathBuf>,
    },
    /// Show which segment, zone, gateway or exception an address belongs to, and why.
    #[command(after_help = "\
Examples:
  flowcli explain --ruleset rulesets/ome-city.toml 10.3.6.10:3389 10.1.9.5 8.8.8.8")]
    Explain(rules::ExplainArgs),
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
    /// A Parquet table with typed columns (times as timestamp[ns, UTC], counts as u64).
    Parquet,
    /// One JSON object per flow per line with Elastic Common Schema names (source.ip,
    /// network.community_id, event.start, ...), for SIEMs.
    Ecs,
}

#[derive(clap::Args)]
struct FlowsArgs {
    /// Captures or flow-export files, directories (walked recursively, sorted by path) or
    /// `-` for stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Start CSV output with a UTF-8 byte order mark, so Excel (Japanese Windows in
    /// particular) reads it as UTF-8.
    #[arg(long)]
    csv_bom: bool,
    /// Write the flows to this file (atomically: a temporary file renamed into place once
    /// complete; nothing is left behind on failure) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Put the wall-clock time in the JSON document (`generated_at`). Without it the same
    /// inputs and command line give a byte-identical document.
    #[arg(long)]
    generated_at: bool,
    /// Leave out each input's size and SHA-256 from the JSON document (`size` and `sha256`
    /// are null); the other formats carry none.
    #[arg(long)]
    no_digest: bool,
    #[command(flatten)]
    flow: FlowOpts,
    /// No per-input accounting lines on stderr (warnings and errors are still printed).
    #[arg(long, short)]
    quiet: bool,
}

/// What a report says about the run: command line, export counters, and the wall-clock time
/// only when asked.
pub(crate) fn run_context(
    exports: flowcore::input::export::ExportStats,
    stamp: bool,
) -> flowcore::report::RunContext {
    let mut ctx = flowcore::report::RunContext::from_env();
    ctx.exports = exports;
    if stamp {
        ctx.generated_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
    }
    ctx
}

/// Flow assembly options shared by `flows` and `analyze`.
#[derive(clap::Args)]
pub(crate) struct FlowOpts {
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
    /// Pair the two unidirectional records of a conversation from NetFlow/IPFIX exports
    /// (reversed 5-tuple, within 120 s) into one bidirectional flow, so the initiator can be
    /// told (the side that started first, or sent the bare SYN).
    #[arg(long)]
    pair_exports: bool,
    /// Only packets at or after this time (RFC 3339 with offset, e.g.
    /// 2026-11-24T22:00:00+09:00, or epoch seconds); export records that end before it are
    /// left out. Left-out packets are counted as skipped (`filtered`).
    #[arg(long, value_name = "TIME", value_parser = flowcore::time::parse_time)]
    from: Option<i64>,
    /// Only packets before this time (same forms as --from).
    #[arg(long, value_name = "TIME", value_parser = flowcore::time::parse_time)]
    to: Option<i64>,
    /// Only packets to or from this host or network (IP or CIDR; repeat or separate with
    /// commas for several).
    #[arg(long, value_name = "IP|CIDR", value_delimiter = ',', value_parser = parse_net)]
    host: Vec<flowcore::segment::IpNet>,
    /// Only packets matching this BPF filter (tcpdump syntax), compiled by libpcap for each
    /// link type; flow-export records are not affected. Needs the `libpcap` feature.
    #[arg(long, value_name = "EXPR")]
    pub(crate) bpf: Option<String>,
    /// Column map for delimited flow logs and Parquet tables that are not in a format
    /// recognised by itself (nfdump CSV, Zeek conn.log, Suricata eve and flowcore's own
    /// CSV/Parquet are): a TOML file, or inline as KEY=COLUMN pairs separated by commas
    /// (e.g. "src_ip=srcaddr,dst_ip=dstaddr,proto=protocol,start=start,packets=packets,
    /// bytes=bytes"). See docs/flowlogs.md.
    #[arg(long, value_name = "MAP.toml|K=V,...")]
    columns: Option<String>,
    /// Times written without an offset in flow logs (nfdump CSV prints the local time of
    /// the machine that ran nfdump) are at this offset, e.g. +09:00. Default UTC.
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true, value_parser = flowcore::input::flowlog::parse_offset)]
    log_offset: Option<i64>,
    /// Cores used by `flows`, `analyze`, `query`, `extract` and `capture` (default: every
    /// core). Results are the same as with one: inputs without flow exports run in
    /// parallel and are merged in input order; inputs with flow exports (whose templates
    /// carry over from input to input) run in order. With more cores than inputs, a spare
    /// core computes each input's SHA-256 (`analyze`, `flows --format json`) alongside;
    /// with cores left after that (at least twice as many as inputs without hashing, or
    /// for flow logs), `flows`, `analyze`, `query` and `capture` give each input two
    /// threads (one reads and decodes, the other assembles flows and judges them); a gzip
    /// or zstd input with a second core is decompressed on a helper thread instead, and a
    /// JSON log's (Suricata eve, Zeek JSON) lines are parsed on a helper as well as on the
    /// reading thread. `-j 1` uses one core.
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
}

/// An address (a host network) or a CIDR network.
fn parse_net(s: &str) -> Result<flowcore::segment::IpNet, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(ip.into());
    }
    s.parse::<flowcore::segment::IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| format!("not an IP address or CIDR network: {s:?}"))
}

impl FlowOpts {
    /// How to open inputs: hashing, and the column map of flow logs.
    pub(crate) fn open_options(&self, hash: bool) -> Result<OpenOptions, String> {
        let mut columns = match &self.columns {
            Some(c) if !std::path::Path::new(c).exists() && c.contains('=') => {
                Some(ColumnMap::from_pairs(c).map_err(|e| format!("--columns {c:?}: {e}"))?)
            }
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("{p}: cannot read: {e}"))?;
                Some(ColumnMap::from_toml(&text).map_err(|e| format!("{p}: {e}"))?)
            }
            None => None,
        };
        if let Some(o) = self.log_offset {
            let m = columns.get_or_insert_with(ColumnMap::flowcore);
            m.naive_offset_s = o;
        }
        Ok(OpenOptions {
            hash,
            hash_thread: false,
            inflate_thread: false,
            parse_thread: false,
            columns,
        })
    }

    /// The flow configuration, or a message for a bad value.
    pub(crate) fn config(&self) -> Result<FlowConfig, String> {
        let mut cfg = FlowConfig::default();
        if let Some(s) = &self.idle_timeout {
            parse_idle(s, &mut cfg.timeouts)?;
        }
        if let Some(v) = self.active_timeout {
            cfg.timeouts.active = secs(v)?;
        }
        if let Some(v) = self.tcp_close_linger {
            cfg.timeouts.tcp_close_linger = secs(v)?;
        }
        cfg.vlan_in_key = self.vlan_in_key;
        cfg.max_flows = self.max_flows.max(1);
        Ok(cfg)
    }

    /// The pipeline for a run over all inputs (export templates persist across inputs).
    pub(crate) fn pipeline(&self) -> Result<Pipeline, String> {
        self.pipeline_with(self.config()?)
    }

    /// The pipeline for `cfg` with these options' pairing and filters.
    pub(crate) fn pipeline_with(&self, cfg: FlowConfig) -> Result<Pipeline, String> {
        let mut p = Pipeline::new(cfg).filter(self.filter()?);
        if self.pair_exports {
            p = p.pair_exports(120, 1 << 20);
        }
        if let Some(expr) = &self.bpf {
            p = p.raw_filter(bpf_filter(expr)?);
        }
        Ok(p)
    }

    /// The cores a run may use: `--threads`, or every core.
    pub(crate) fn cores(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Worker threads for a run over `inputs` inputs.
    pub(crate) fn threads(&self, inputs: usize) -> usize {
        self.cores().clamp(1, inputs.max(1))
    }

    /// Whether each input gets two threads (decoding on one, flows and judging on the
    /// other): when every input has two cores, or three when a busy helper thread comes
    /// first ([`run_input`] says which): the hash's for a capture whose SHA-256 is
    /// computed (`hashed`), or the one that decompresses it ([`FlowOpts::open_for`]). One
    /// hashed capture split on two cores made three busy threads share them, 8–20 % slower
    /// than its worker and helper alone (benches/README.md, twelfth session).
    pub(crate) fn split(&self, inputs: usize, hashed: bool) -> Split {
        let cores = |n: usize| self.cores() >= n * inputs.max(1);
        Split {
            hashed,
            two: cores(2),
            three: cores(3),
        }
    }

    /// `open` for a run over `inputs` inputs: inputs are hashed on a helper thread only when
    /// a core is left over once every input has its worker (`--threads 1` uses one core),
    /// and a compressed input is decompressed, or a JSON log's lines parsed, on one when
    /// every input has a second core.
    pub(crate) fn open_for(&self, open: &OpenOptions, inputs: usize) -> OpenOptions {
        OpenOptions {
            hash_thread: self.cores() > self.threads(inputs),
            inflate_thread: self.cores() >= 2 * inputs.max(1),
            parse_thread: self.cores() >= 2 * inputs.max(1),
            ..open.clone()
        }
    }

    /// The time and host filter.
    pub(crate) fn filter(&self) -> Result<Filter, String> {
        if let (Some(f), Some(t)) = (self.from, self.to) {
            if f >= t {
                return Err("--from must be before --to".into());
            }
        }
        Ok(Filter {
            from: self.from,
            to: self.to,
            nets: self.host.clone(),
        })
    }
}

/// A BPF filter as a pipeline test; a link type the expression cannot be compiled for is
/// reported once and its packets are left out.
#[cfg(feature = "libpcap")]
fn bpf_filter(expr: &str) -> Result<flowcore::pipeline::RawFilter, String> {
    let mut f = flowcore::input::libpcap::BpfFilter::new(expr)?;
    Ok(Box::new(move |p| match f.matches(p) {
        Ok(keep) => keep,
        Err(e) => {
            eprintln!("flowcli: warning: {e}; its packets are left out (counted as filtered)");
            false
        }
    }))
}

#[cfg(not(feature = "libpcap"))]
fn bpf_filter(_expr: &str) -> Result<flowcore::pipeline::RawFilter, String> {
    Err("--bpf needs libpcap: this flowcli was built without the `libpcap` feature (cargo build --features flowcli/libpcap)".into())
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
    let result = match cli.command {
        Command::Flows(args) => run_flows(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Query(args) => query::run(args),
        Command::Extract(args) => extract::run(args),
        Command::Capture(args) => capture::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into memory first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "flowcli", &mut script);
            io::stdout().write_all(&script).map(|()| EXIT_OK)
        }
        Command::Manpage { dir } => manpage(dir),
        Command::Ruleset(cmd) => rules::run(cmd),
        Command::Explain(args) => rules::explain(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("flowcli: cannot write output: {e}");
            ExitCode::from(EXIT_OUTPUT)
        }
    }
}

fn run_flows(args: FlowsArgs) -> io::Result<u8> {
    let mut pipeline = match args.flow.pipeline() {
        Ok(c) => c,
        Err(m) => {
            eprintln!("flowcli: {m}");
            return Ok(EXIT_INPUT);
        }
    };
    let stdout = io::stdout();
    let format = match args.format {
        Some(Format::Table) => FlowFormat::Table,
        Some(Format::Json) => FlowFormat::Json,
        Some(Format::Ndjson) => FlowFormat::Ndjson,
        Some(Format::Csv) => FlowFormat::Csv,
        Some(Format::Parquet) => FlowFormat::Parquet,
        Some(Format::Ecs) => FlowFormat::Ecs,
        None if args.output.is_none() && stdout.is_terminal() => FlowFormat::Table,
        None => FlowFormat::Ndjson,
    };
    if format == FlowFormat::Parquet && args.output.is_none() && stdout.is_terminal() {
        eprintln!("flowcli: Parquet is binary: give --output FILE or redirect standard output");
        return Ok(EXIT_INPUT);
    }
    let sink: Sink = match &args.output {
        Some(path) => match AtomicFile::create(path) {
            Ok(f) => Sink::File(f),
            Err(e) => {
                eprintln!("flowcli: cannot write {}: {e}", path.display());
                return Ok(EXIT_OUTPUT);
            }
        },
        None => Sink::Stdout(stdout),
    };
    let mut out = io::BufWriter::with_capacity(1 << 16, sink);
    if args.csv_bom && format == FlowFormat::Csv {
        // Japanese Excel opens a CSV file as Shift_JIS unless it starts with a UTF-8 BOM.
        out.write_all(b"\xEF\xBB\xBF")?;
    }
    let mut writer = FlowWriter::new(format, out);
    writer.set_threads(args.flow.cores());
    let mut summaries: Vec<InputSummary> = Vec::new();
    // The JSON document names each input's SHA-256; the streams carry only flows.
    let open = match args
        .flow
        .open_options(matches!(format, FlowFormat::Json) && !args.no_digest)
    {
        Ok(o) => o,
        Err(m) => {
            eprintln!("flowcli: {m}");
            return Ok(EXIT_INPUT);
        }
    };
    let Some(specs) = input_specs(&args.inputs) else {
        return Ok(EXIT_INPUT);
    };
    let threads = args.flow.threads(specs.len());
    let split = args.flow.split(specs.len(), open.hash);
    let open = args.flow.open_for(&open, specs.len());
    let ui = progress::start(&specs, args.quiet);
    pipeline = progress::with_progress(pipeline, &ui);
    let ui_ref = &ui;
    let errors = if threads > 1 && !specs.iter().any(|s| s.path().as_os_str() == "-") {
        // Inputs in parallel, each into its own list of records, written in input order;
        // an input with flow exports is run again here, in order, by the shared pipeline.
        for s in &specs {
            writer.add_input(&flowcore::input::path_name(s.path()));
        }
        let flow = &args.flow;
        each_capture_parallel(
            &specs,
            &open,
            threads,
            |id, mut reader| {
                let mut recs = Collected::default();
                let summary = match flow.pipeline() {
                    Ok(p) => run_input(
                        &mut progress::with_progress(p.leave_exports(true), ui_ref),
                        &mut reader,
                        id,
                        split,
                        &mut recs,
                    ),
                    Err(_) => unreachable_pipeline(),
                };
                (summary, recs.batches())
            },
            |id, (summary, recs)| {
                let mut rows = Rows {
                    writer: &mut writer,
                    err: None,
                };
                let summary = if summary.left_for_exports {
                    let path = specs[id as usize].path();
                    match CaptureReader::open_opts(path, &open) {
                        Ok(mut reader) => pipeline.run(&mut reader, id, &mut rows),
                        Err(e) => {
                            eprintln!("flowcli: error: {e}");
                            return Ok(());
                        }
                    }
                } else {
                    // Formatted on every core: the last inputs' rows would otherwise be
                    // formatted here alone, after the workers are done.
                    for batch in recs {
                        rows.flows(batch);
                    }
                    summary
                };
                progress::input_done(ui_ref, &summary, args.quiet);
                summaries.push(summary);
                rows.err.map_or(Ok(()), Err)
            },
        )?
    } else {
        each_capture(&specs, &open, |mut reader| {
            let id = writer.add_input(reader.name());
            let mut rows = Rows {
                writer: &mut writer,
                err: None,
            };
            let summary = run_input(&mut pipeline, &mut reader, id, split, &mut rows);
            progress::input_done(ui_ref, &summary, args.quiet);
            summaries.push(summary);
            rows.err.map_or(Ok(()), Err)
        })?
    };
    if let Some(u) = ui {
        u.finish();
    }
    let mut rows = Rows {
        writer: &mut writer,
        err: None,
    };
    let stats = pipeline.finish(&mut rows);
    if let Some(e) = rows.err {
        return Err(e);
    }
    report_exports(&stats, args.quiet);
    writer.set_context(run_context(stats, args.generated_at));
    let sink = writer.finish(&summaries, &errors)?;
    if let Sink::File(f) = sink.into_inner().map_err(|e| e.into_error())? {
        f.commit()?;
    }
    Ok(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT
    })
}

/// An input's flow records as a parallel worker collects them for the writer: in batches
/// that are never copied to grow (one vector for the whole input was copied at each
/// doubling, and its fresh pages were a third of the run's page faults). The batches of
/// flows that end together arrive whole and are kept as they are.
#[derive(Default)]
struct Collected {
    done: Vec<Vec<FlowRecord>>,
    cur: Vec<FlowRecord>,
}

/// Records per batch a [`Collected`] fills one at a time (about 1.2 MB).
const COLLECT_BATCH: usize = 4096;

impl Collected {
    fn batches(mut self) -> Vec<Vec<FlowRecord>> {
        if !self.cur.is_empty() {
            self.done.push(self.cur);
        }
        self.done
    }
}

impl FlowSink for Collected {
    fn flow(&mut self, f: FlowRecord) {
        if self.cur.len() == self.cur.capacity() {
            if !self.cur.is_empty() {
                self.done.push(std::mem::take(&mut self.cur));
            }
            self.cur.reserve_exact(COLLECT_BATCH);
        }
        self.cur.push(f);
    }

    fn flows(&mut self, records: Vec<FlowRecord>) {
        if !self.cur.is_empty() {
            self.done.push(std::mem::take(&mut self.cur));
        }
        self.done.push(records);
    }
}

/// `flows`' sink: records go to the writer, and the first write error is kept (the input
/// still runs to its accounting; the error is returned after). Records handed over
/// together (those that end with an input, or a parallel worker's) are formatted on the
/// run's cores ([`FlowWriter::write_all`]).
struct Rows<'a, W: Write> {
    writer: &'a mut FlowWriter<W>,
    err: Option<io::Error>,
}

impl<W: Write> FlowSink for Rows<'_, W> {
    fn flow(&mut self, f: FlowRecord) {
        if self.err.is_none() {
            self.err = self.writer.write(&f).err();
        }
    }

    fn flows(&mut self, records: Vec<FlowRecord>) {
        if self.err.is_none() {
            self.err = self.writer.write_all(records).err();
        }
    }
}

/// Opens every input (as [`input_specs`] listed them) in turn and hands each capture to
/// `f`. Unreadable inputs are reported on stderr and returned as messages; non-captures
/// found inside directories are skipped with a warning.
pub(crate) fn each_capture(
    specs: &[InputSpec],
    opts: &OpenOptions,
    mut f: impl FnMut(CaptureReader) -> io::Result<()>,
) -> io::Result<Vec<String>> {
    let mut errors = Vec::new();
    for spec in specs {
        match CaptureReader::open_opts(spec.path(), opts) {
            Ok(r) => f(r)?,
            Err(e) => open_failed(spec, e, &mut errors),
        }
    }
    Ok(errors)
}

/// Reports an input that could not be opened: a warning for a non-capture found in a
/// directory, an error (kept in `errors`) otherwise.
fn open_failed(spec: &InputSpec, e: InputError, errors: &mut Vec<String>) {
    match e {
        e @ InputError::NotCapture { .. } if matches!(spec, InputSpec::FoundInDir(_)) => {
            eprintln!("flowcli: warning: skipping {e}");
        }
        e => {
            eprintln!("flowcli: error: {e}");
            errors.push(e.to_string());
        }
    }
}

/// `flowcli manpage [DIR]`.
fn manpage(dir: Option<PathBuf>) -> io::Result<u8> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match dir {
        Some(d) => match clap_mangen::generate_to(cmd, &d) {
            Ok(()) => Ok(EXIT_OK),
            Err(e) => {
                eprintln!("flowcli: cannot write manual pages to {}: {e}", d.display());
                Ok(EXIT_OUTPUT)
            }
        },
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            io::stdout().write_all(&page).map(|()| EXIT_OK)
        }
    }
}

/// Width of the terminal on stdout, if it is one: `COLUMNS` when set, else asked of the
/// terminal.
pub(crate) fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(c);
    }
    terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0))
}

/// Display width of a string: East Asian wide characters take two columns.
pub(crate) fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// Wraps lines longer than `width` display columns (ANSI colour codes take none), at a
/// space when there is one near the end, continuing with an indent. Nothing is cut.
pub(crate) fn fit_lines(text: &str, width: usize) -> String {
    let width = width.max(40);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let mut col = 0;
        let mut piece = String::new();
        let mut last_space: Option<usize> = None;
        let mut in_escape = false;
        for c in body.chars() {
            piece.push(c);
            if in_escape {
                in_escape = c != 'm';
                continue;
            }
            if c == '\x1b' {
                in_escape = true;
                continue;
            }
            col += display_width(c.encode_utf8(&mut [0; 4]));
            if c == ' ' {
                last_space = Some(piece.len());
            }
            if col >= width {
                let cut = match last_space {
                    Some(i) if i > piece.len().saturating_sub(24) && i < piece.len() => i,
                    _ => piece.len(),
                };
                let rest = piece.split_off(cut);
                out.push_str(piece.trim_end());
                out.push_str("\n      ");
                col = 6 + display_width(&rest);
                piece = rest;
                last_space = None;
            }
        }
        out.push_str(&piece);
        out.push_str(nl);
    }
    out
}

/// Cuts `s` to at most `w` display columns, marking a cut with `…`.
#[cfg_attr(not(feature = "frame"), allow(dead_code))]
pub(crate) fn cut_to(s: &str, w: usize) -> String {
    if display_width(s) <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = display_width(c.encode_utf8(&mut [0; 4]));
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

#[cfg_attr(not(feature = "frame"), allow(dead_code))]
/// Aligned text columns. With a `width`, the widest columns are narrowed (cells cut with
/// `…`) until a line fits.
pub(crate) fn text_table(names: &[String], rows: &[Vec<String>], width: Option<usize>) -> String {
    let mut w: Vec<usize> = names.iter().map(|n| display_width(n)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(display_width(c));
        }
    }
    if let Some(max) = width {
        let gaps = 2 * w.len().saturating_sub(1);
        while w.iter().sum::<usize>() + gaps > max {
            let (i, &widest) = w
                .iter()
                .enumerate()
                .max_by_key(|(_, x)| **x)
                .unwrap_or((0, &0));
            if widest <= 6 {
                break;
            }
            w[i] = widest - 1;
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let c = cut_to(c, w[i]);
            l.push_str(&c);
            l.extend(std::iter::repeat_n(
                ' ',
                w[i].saturating_sub(display_width(&c)),
            ));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(names, &mut out);
    let rule: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
    line(&rule, &mut out);
    for r in rows {
        line(r, &mut out);
    }
    out
}

/// Whether an input is run on two threads ([`FlowOpts::split`]), by how it is read.
#[derive(Clone, Copy)]
pub(crate) struct Split {
    /// The inputs are hashed.
    hashed: bool,
    /// Every input has two cores.
    two: bool,
    /// Every input has three.
    three: bool,
}

/// Runs one input through `pipeline` on this thread, or on two when `split` says so for
/// how it is read (the records reach `out` in the same order either way).
pub(crate) fn run_input(
    pipeline: &mut Pipeline,
    reader: &mut CaptureReader,
    id: u32,
    split: Split,
    out: &mut (impl FlowSink + Send),
) -> InputSummary {
    // A helper thread with much to do takes the second core: decompressing, parsing a
    // JSON log's lines, or hashing a capture (SHA-256 is about half the work of reading
    // one). Another flow log's or an export file's hash is light next to parsing its
    // records: its input is split on two.
    let capture = matches!(reader.format(), CaptureFormat::Pcap | CaptureFormat::Pcapng);
    let busy_helper = reader.inflates_ahead() || reader.parses_ahead() || (split.hashed && capture);
    if (busy_helper && split.three) || (!busy_helper && split.two) {
        pipeline.run_threaded(reader, id, out)
    } else {
        pipeline.run(reader, id, out)
    }
}

/// A worker's pipeline is built from options the main thread already built one from.
pub(crate) fn unreachable_pipeline() -> ! {
    unreachable!("flow options were validated before the workers started")
}

/// The inputs of a run, directories expanded (`None` after printing the error).
pub(crate) fn input_specs(inputs: &[PathBuf]) -> Option<Vec<InputSpec>> {
    match collect_inputs_noting(inputs) {
        Ok((specs, skipped)) => {
            for s in skipped {
                eprintln!("flowcli: warning: skipping {s}");
            }
            Some(specs)
        }
        Err(e) => {
            eprintln!("flowcli: error: {e}");
            None
        }
    }
}

/// Like [`each_capture`], with `threads` workers: each input is opened and handed to
/// `work` on a worker (its number is the input's position in `specs`), and the results reach
/// `consume` on this thread in input order. Returns the messages of unreadable inputs.
pub(crate) fn each_capture_parallel<R: Send>(
    specs: &[InputSpec],
    opts: &OpenOptions,
    threads: usize,
    work: impl Fn(u32, CaptureReader) -> R + Sync,
    mut consume: impl FnMut(u32, R) -> io::Result<()>,
) -> io::Result<Vec<String>> {
    let mut errors = Vec::new();
    let mut result = Ok(());
    flowcore::pipeline::in_order(
        specs,
        threads,
        |i, spec| CaptureReader::open_opts(spec.path(), opts).map(|r| work(i as u32, r)),
        |i, r| match r {
            _ if result.is_err() => {}
            Ok(r) => result = consume(i as u32, r),
            Err(e) => open_failed(&specs[i], e, &mut errors),
        },
    );
    result.map(|()| errors)
}

/// Export decoder totals of the run (unless quiet, and only when there were exports).
pub(crate) fn report_exports(s: &flowcore::input::export::ExportStats, quiet: bool) {
    if quiet || s.datagrams == 0 {
        return;
    }
    eprintln!(
        "exports: {} datagrams, {} records, {} templates ({} withdrawn, {} refused), {} options records, {} data sets decoded after their template, {} undecodable, {} sFlow flow samples, {} counter samples skipped, {} malformed",
        s.datagrams,
        s.records,
        s.templates,
        s.template_withdrawals,
        s.templates_refused,
        s.options_records,
        s.pending_decoded,
        s.undecodable_sets,
        s.sflow_samples,
        s.sflow_counter_samples,
        s.malformed
    );
}

/// Damage warning (always) and the accounting line (unless quiet) of one input.
pub(crate) fn report_input(summary: &InputSummary, quiet: bool) {
    for w in &summary.export_warnings {
        eprintln!(
            "flowcli: warning: {}: at byte {}: {}",
            summary.name, w.offset, w.what
        );
    }
    if let Some(d) = &summary.damage {
        eprintln!(
            "flowcli: warning: {}: {d}; the {} packets before it were used",
            summary.name, summary.packets_read
        );
    }
    if !quiet {
        eprintln!("{}", accounting_line(summary));
    }
}

pub(crate) fn accounting_line(s: &InputSummary) -> String {
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
    if s.export_datagrams > 0 {
        line.push_str(&format!(
            "; {} export datagrams, {} export records",
            s.export_datagrams, s.export_records
        ));
    }
    if s.fragments.fragments > 0 {
        line.push_str(&format!(
            "; {} fragments ({} orphaned)",
            s.fragments.fragments, s.fragments.orphaned
        ));
    }
    let _ = io::stderr().flush();
    line
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn long_lines_wrap_to_the_width_and_lose_nothing() {
        let line = format!(
            "\x1b[1;31mHIGH\x1b[0m {} マイナンバー利用事務系 {}\nshort\n",
            "word ".repeat(30),
            "x".repeat(70)
        );
        let out = fit_lines(&line, 60);
        for l in out.lines() {
            let visible: String = {
                let mut s = String::new();
                let mut esc = false;
                for c in l.chars() {
                    if c == '\x1b' {
                        esc = true;
                    } else if esc {
                        esc = c != 'm';
                    } else {
                        s.push(c);
                    }
                }
                s
            };
            assert!(display_width(&visible) <= 60, "{l:?}");
        }
        let squash = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(squash(&out), squash(&line));
        assert!(out.ends_with("\nshort\n"));
    }

    #[test]
    fn tables_narrow_their_widest_columns_to_fit() {
        let names = vec!["rule".to_string(), "message".to_string()];
        let rows = vec![vec!["LG-01".to_string(), "あ".repeat(50)]];
        let wide = text_table(&names, &rows, None);
        assert!(wide.lines().nth(2).unwrap().ends_with(&"あ".repeat(50)));
        let narrow = text_table(&names, &rows, Some(40));
        assert!(narrow.lines().all(|l| display_width(l) <= 40), "{narrow}");
        assert!(narrow.lines().nth(2).unwrap().ends_with('…'));
    }
}
