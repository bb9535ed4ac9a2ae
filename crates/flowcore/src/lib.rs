#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! flowcore reads network captures, assembles bidirectional flows and (in later layers)
//! attributes them to the segments of a three-tier municipal network.
//!
//! The pipeline is a chain of small layers, each in its own module, none reaching back up:
//! [`input`] (bytes → packets) → [`decode`] (packets → summaries) → [`flow`] (summaries →
//! flow records) → [`report`] (records → table, JSON, NDJSON, CSV). [`pipeline`] wires the
//! first three for one input.
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

pub mod decode;
pub mod flow;
pub mod input;
pub mod pipeline;
pub mod policy;
pub mod report;
pub mod segment;
pub mod time;
