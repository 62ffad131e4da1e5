//! The walk: the runner (`runner.rs`), its JSON lines (`json.rs`) and the look-around shell
//! (`look.rs`).

pub mod json;
pub mod look;
mod runner;

pub use runner::*;
