#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! flowcore: capture files → packets → bidirectional flows.
pub mod input;
pub mod time;
