// No unsafe code, except one prefetch hint in `prefetch` (allowed there, with its reason).
#![deny(unsafe_code)]
#![warn(missing_docs)]
//! flowcore reads network captures, assembles bidirectional flows and (in later layers)
//! attributes them to the segments of a three-tier municipal network.
//!
//! The pipeline is a chain of small layers, each in its own module, none reaching back up:
//! [`input`] (bytes → packets) → [`decode`] (packets → summaries) → [`flow`] (summaries →
//! flow records) → [`segment`] (endpoints → segments and zones) → [`policy`] (flows →
//! verdicts and findings) → [`report`] (table, JSON, NDJSON, CSV). [`pipeline`] wires the
//! packet path for one input.
//!
//! ```no_run
//! use flowcore::{flow::FlowConfig, input::CaptureReader, pipeline::flows_from_capture};
//!
//! let mut reader = CaptureReader::open("capture.pcap.gz".as_ref())?;
//! let summary = flows_from_capture(&mut reader, 0, &FlowConfig::default(), &mut |flow| {
//!     println!("{} -> {} {} packets", flow.src_ip, flow.dst_ip, flow.packets());
//! });
//! assert_eq!(summary.packets_read, summary.packets_decoded + summary.packets_skipped());
//! # Ok::<(), flowcore::input::InputError>(())
//! ```
//!
//! Judging a night's inputs against a site's policy: one [`pipeline::Pipeline`] keeps the
//! flow-export templates from input to input, as a collector does, and the analyzer's
//! [sink](policy::Analyzer::sink) judges flow records one by one and export records a
//! batch at a time:
//!
//! ```no_run
//! use flowcore::{flow::FlowConfig, input::CaptureReader, pipeline::Pipeline};
//! use flowcore::policy::{Analyzer, Ruleset};
//!
//! let rs = Ruleset::load("rulesets/ome-city.toml".as_ref()).map_err(|errs| errs[0].to_string())?;
//! let mut analyzer = Analyzer::new(&rs);
//! let mut pipeline = Pipeline::new(FlowConfig::default());
//! let files = ["night.pcap".to_string(), "netflow.pcap".to_string()];
//! for (input, name) in files.iter().enumerate() {
//!     let mut reader = CaptureReader::open(name.as_ref()).map_err(|e| e.to_string())?;
//!     let summary = pipeline.run(&mut reader, input as u32, &mut analyzer.sink(name));
//!     if let Some(damage) = summary.damage {
//!         eprintln!("{name}: {damage:?}");
//!     }
//! }
//! // Ends the run: export data still missing its template is counted as undecodable.
//! let exports = pipeline.finish(&mut analyzer.sink(&files[1]));
//! eprintln!("{} export records, {} sets undecodable", exports.records, exports.undecodable_sets);
//! for f in analyzer.finish(&files).findings {
//!     println!("{} {} {} -> {} {}", f.severity.as_str(), f.rule_id, f.src.ip, f.dst.ip, f.service);
//! }
//! # Ok::<(), String>(())
//! ```
//!
//! A collector judging flow exports as they arrive: the decoder hands out each data set's
//! records in batches, which the analyzer judges without building a flow record for each.
//!
//! ```no_run
//! use flowcore::input::export::{detect, DatagramContext, ExportDecoder, ExportItem, TemplateLimits};
//! use flowcore::policy::{Analyzer, Ruleset};
//!
//! let rs = Ruleset::load("rulesets/ome-city.toml".as_ref()).map_err(|errs| errs[0].to_string())?;
//! let mut analyzer = Analyzer::new(&rs);
//! let mut decoder = ExportDecoder::new(TemplateLimits::default());
//! let socket = std::net::UdpSocket::bind("0.0.0.0:2055").map_err(|e| e.to_string())?;
//! let mut buf = vec![0u8; 65535];
//! for index in 1..=1_000_000 {
//!     let (len, from) = socket.recv_from(&mut buf).map_err(|e| e.to_string())?;
//!     let Some(kind) = detect(&buf[..len]) else { continue };
//!     let ctx = DatagramContext { exporter: from.ip(), port: from.port(), capture_ts: 0, index, offset: 0 };
//!     let warnings = decoder.decode(kind, ctx, &buf[..len], &mut |item| {
//!         if let ExportItem::Records(records) = item {
//!             analyzer.observe_exports(records, 0, "udp:2055");
//!         }
//!     });
//!     for w in warnings {
//!         eprintln!("datagram {index} from {from}: {}", w.what);
//!     }
//! }
//! let analysis = analyzer.finish(&["udp:2055".into()]);
//! println!("{} flows, {} violating", analysis.flows, analysis.violating_flows);
//! # Ok::<(), String>(())
//! ```

pub mod decode;
pub mod filter;
pub mod flow;
pub mod input;
pub mod pipeline;
pub mod policy;
mod prefetch;
pub mod report;
pub mod segment;
mod text;
pub mod time;
