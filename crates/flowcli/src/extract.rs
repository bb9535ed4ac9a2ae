//! `flowcli extract`: the packets of selected flows, written to a capture as evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use flowcore::policy::{Analyzer, Verdict};
use flowcore::report::capture::{copy_packets, CaptureKind, CaptureWriter, CopyError};
use flowcore::report::{FlowFormat, FlowWriter};

use crate::analyze::load_ruleset;
use crate::{
    each_capture, each_capture_parallel, input_specs, report_input, unreachable_pipeline,
    AtomicFile, FlowOpts, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT,
};

#[derive(clap::Args)]
pub(crate) struct ExtractArgs {
    /// Capture or flow-export files, or directories (walked recursively, sorted by path).
    /// Standard input cannot be used: the inputs are read twice.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The site file (needed for --finding).
    #[arg(long, value_name = "SITE.toml")]
    ruleset: Option<PathBuf>,
    /// The flows of a finding: its `id` from an `analyze` report, or a rule id (e.g. LG-01)
    /// for every finding of that rule. Repeat for several.
    #[arg(long, value_name = "ID|RULE")]
    finding: Vec<String>,
    /// The flow with this Community ID (as in `flows` and `analyze` output). Repeat for
    /// several.
    #[arg(long = "flow", value_name = "COMMUNITY_ID")]
    community_ids: Vec<String>,
    /// The capture to write (pcap, or pcapng when the packets have several link types or
    /// times pcap cannot hold). Written atomically. Records of flow exports go to the same
    /// name with the extension `.ndjson`.
    #[arg(long, short, value_name = "PATH")]
    output: PathBuf,
    #[command(flatten)]
    flow: FlowOpts,
    /// No per-input accounting lines on stderr (warnings and errors are still printed).
    #[arg(long, short)]
    quiet: bool,
}

/// What pass one selected from one input.
#[derive(Default)]
struct Selected {
    packets: Vec<u64>,
    flows: u64,
    link_types: Vec<u16>,
    first_ts: i64,
    last_ts: i64,
}

pub(crate) fn run(args: ExtractArgs) -> io::Result<u8> {
    if args.inputs.iter().any(|p| p.as_os_str() == "-") {
        eprintln!("flowcli: extract reads its inputs twice and cannot use standard input; save it to a file first");
        return Ok(EXIT_INPUT);
    }
    let rs = match &args.ruleset {
        Some(p) => match load_ruleset(p) {
            Some(rs) => Some(rs),
            None => return Ok(EXIT_INPUT),
        },
        None if !args.finding.is_empty() => {
            eprintln!("flowcli: --finding needs the site file the findings came from: --ruleset SITE.toml");
            return Ok(EXIT_INPUT);
        }
        None => None,
    };
    let mut cfg = match args.flow.config() {
        Ok(c) => c,
        Err(m) => {
            eprintln!("flowcli: {m}");
            return Ok(EXIT_INPUT);
        }
    };
    cfg.track_packets = true;
    let (mut pipeline, open) = match args
        .flow
        .pipeline_with(cfg)
        .and_then(|p| Ok((p, args.flow.open_options(false)?)))
    {
        Ok(p) => p,
        Err(m) => {
            eprintln!("flowcli: {m}");
            return Ok(EXIT_INPUT);
        }
    };
    let findings: BTreeSet<String> = args
        .finding
        .iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let cids: BTreeSet<String> = args
        .community_ids
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let select_all = findings.is_empty() && cids.is_empty();

    // Pass one: assemble and judge every flow, keep the packet numbers of the selected ones.
    let sel = Selector {
        findings,
        cids,
        select_all,
    };
    let mut st = State {
        analyzer: rs.as_ref().map(Analyzer::new),
        selected: BTreeMap::new(),
        records: Vec::new(),
        files: Vec::new(),
        paths: Vec::new(),
    };
    let Some(specs) = input_specs(&args.inputs) else {
        return Ok(EXIT_INPUT);
    };
    let threads = args.flow.threads(specs.len());
    let errors = if threads > 1 {
        // Inputs in parallel (selection depends on each flow alone), merged in input order;
        // an input with flow exports is run again here, in order, by the shared pipeline.
        st.files = specs
            .iter()
            .map(|s| flowcore::input::path_name(s.path()))
            .collect();
        st.paths = specs.iter().map(|s| s.path().to_path_buf()).collect();
        let files = &st.files.clone();
        let (flow, rs, sel) = (&args.flow, &rs, &sel);
        each_capture_parallel(
            &specs,
            &open,
            threads,
            |id, mut reader| {
                let mut mine = State {
                    analyzer: rs.as_ref().map(Analyzer::new),
                    selected: BTreeMap::new(),
                    records: Vec::new(),
                    files: files.clone(),
                    paths: Vec::new(),
                };
                let summary = match flow.pipeline_with(cfg) {
                    Ok(p) => p
                        .leave_exports(true)
                        .run(&mut reader, id, &mut |f| sel.take(f, &mut mine)),
                    Err(_) => unreachable_pipeline(),
                };
                (summary, mine.selected, mine.records)
            },
            |id, (summary, selected, records)| {
                let summary = if summary.left_for_exports {
                    // By its path: its name is for reading, not for opening.
                    let path = specs[id as usize].path();
                    let mut reader = match flowcore::input::CaptureReader::open_opts(path, &open) {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("flowcli: error: {e}");
                            return Ok(());
                        }
                    };
                    pipeline.run(&mut reader, id, &mut |f| sel.take(f, &mut st))
                } else {
                    st.selected.extend(selected);
                    st.records.extend(records);
                    summary
                };
                finish_input(&summary, id, &mut st, args.quiet);
                Ok(())
            },
        )?
    } else {
        each_capture(&specs, &open, |mut reader| {
            let id = st.files.len() as u32;
            st.files.push(reader.name().to_string());
            // Standard input is refused before: every reader here was opened from a path.
            let path = reader
                .path()
                .map_or_else(|| PathBuf::from(reader.name()), Path::to_path_buf);
            st.paths.push(path);
            let summary = pipeline.run(&mut reader, id, &mut |f| sel.take(f, &mut st));
            finish_input(&summary, id, &mut st, args.quiet);
            Ok(())
        })?
    };
    pipeline.finish(&mut |f| sel.take(f, &mut st));
    let State {
        mut selected,
        records,
        files,
        paths,
        ..
    } = st;
    let n_records = records.len();
    let n_flows: u64 = selected.values().map(|s| s.flows).sum();
    let n_packets: u64 = selected.values().map(|s| s.packets.len() as u64).sum();
    if n_packets == 0 && n_records == 0 {
        eprintln!("flowcli: nothing matched: no flow of the inputs was selected (nothing written)");
        return Ok(if errors.is_empty() {
            EXIT_OUTPUT
        } else {
            EXIT_INPUT
        });
    }

    // Pass two: copy the selected packets, input by input, in file order.
    if n_packets > 0 {
        let mut link_types: Vec<u16> = selected
            .values()
            .flat_map(|s| s.link_types.clone())
            .collect();
        link_types.sort_unstable();
        link_types.dedup();
        let first = selected.values().map(|s| s.first_ts).min().unwrap_or(0);
        let last = selected.values().map(|s| s.last_ts).max().unwrap_or(0);
        let kind = CaptureKind::choose(&link_types, first, last);
        match write_capture(&args.output, kind, &files, &paths, &mut selected) {
            Ok(()) => {
                if !args.quiet {
                    eprintln!(
                        "flowcli: wrote {n_packets} packets of {n_flows} flows to {} ({})",
                        args.output.display(),
                        match kind {
                            CaptureKind::Pcap { link_type } =>
                                format!("pcap, link type {link_type}"),
                            CaptureKind::Pcapng => format!("pcapng, link types {link_types:?}"),
                        }
                    );
                }
            }
            Err(m) => {
                eprintln!("flowcli: {m}; nothing written");
                return Ok(EXIT_INPUT);
            }
        }
    }
    if n_records > 0 {
        let path = records_path(&args.output);
        let mut w = FlowWriter::new(FlowFormat::Ndjson, Vec::new());
        for f in &files {
            w.add_input(f);
        }
        for r in &records {
            w.write(r)?;
        }
        let body = w.finish(&[], &[])?;
        if let Err(e) = AtomicFile::write(&path, &body) {
            eprintln!("flowcli: cannot write {}: {e}", path.display());
            return Ok(EXIT_INPUT);
        }
        eprintln!(
            "flowcli: {n_records} selected flows came from flow exports, which hold no packets: wrote the records as NDJSON to {}",
            path.display()
        );
    }
    Ok(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT
    })
}

/// Reports an input and records its link types and times with its selection.
fn finish_input(
    summary: &flowcore::pipeline::InputSummary,
    id: u32,
    st: &mut State<'_>,
    quiet: bool,
) {
    report_input(summary, quiet);
    if let Some(s) = st.selected.get_mut(&id) {
        s.link_types = summary.link_types.keys().copied().collect();
        s.first_ts = summary.first_ts.unwrap_or(0);
        s.last_ts = summary.last_ts.unwrap_or(0);
    }
}

/// What to select.
struct Selector {
    findings: BTreeSet<String>,
    cids: BTreeSet<String>,
    select_all: bool,
}

/// Pass one's state.
struct State<'r> {
    analyzer: Option<Analyzer<'r>>,
    selected: BTreeMap<u32, Selected>,
    records: Vec<flowcore::flow::FlowRecord>,
    /// The inputs' names, as reports write them.
    files: Vec<String>,
    /// Their paths, to read them again.
    paths: Vec<PathBuf>,
}

impl Selector {
    /// Judges one flow and keeps it if selected.
    fn take(&self, f: flowcore::flow::FlowRecord, st: &mut State<'_>) {
        let name = st.files.get(f.input as usize).map_or("", String::as_str);
        let by_finding = match &mut st.analyzer {
            Some(a) => match a.observe(&f, name) {
                Verdict::Violation { rule, .. } if !self.findings.is_empty() => {
                    self.findings
                        .contains(&a.rule_id(rule).to_ascii_lowercase())
                        || self.findings.contains(&a.finding_id_of(rule, &f))
                }
                _ => false,
            },
            None => false,
        };
        if !(self.select_all || by_finding || self.cids.contains(&f.community_id())) {
            return;
        }
        if f.packet_indices.is_empty() {
            // A flow-export record (or sFlow samples): no packets to copy.
            st.records.push(f);
        } else {
            let s = st.selected.entry(f.input).or_default();
            s.flows += 1;
            s.packets.extend_from_slice(&f.packet_indices);
        }
    }
}

/// `evidence.pcap` → `evidence.ndjson`.
fn records_path(out: &Path) -> PathBuf {
    out.with_extension("ndjson")
}

fn write_capture(
    path: &Path,
    kind: CaptureKind,
    files: &[String],
    paths: &[PathBuf],
    selected: &mut BTreeMap<u32, Selected>,
) -> Result<(), String> {
    let cant = |e: io::Error| format!("cannot write {}: {e}", path.display());
    let file = AtomicFile::create(path).map_err(cant)?;
    let mut w =
        CaptureWriter::new(io::BufWriter::with_capacity(1 << 20, file), kind).map_err(cant)?;
    for (input, s) in selected.iter_mut() {
        let name = &files[*input as usize];
        s.packets.sort_unstable();
        s.packets.dedup();
        let mut reader = flowcore::input::CaptureReader::open(&paths[*input as usize])
            .map_err(|e| format!("cannot read {name} again: {e}"))?;
        let n = match copy_packets(&mut reader, &s.packets, &mut w) {
            Ok(n) => n,
            Err(CopyError::Io(e)) => return Err(cant(e)),
            Err(CopyError::Damage(d)) => {
                return Err(format!("{name}: {d} before the last selected packet"))
            }
        };
        if n != s.packets.len() as u64 {
            return Err(format!(
                "{name}: found {n} of the {} selected packets when reading it again (did it change?)",
                s.packets.len()
            ));
        }
    }
    let buf = w.finish().map_err(cant)?;
    let file = buf.into_inner().map_err(|e| cant(e.into_error()))?;
    file.commit().map_err(cant)
}
