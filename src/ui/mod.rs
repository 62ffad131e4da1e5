//! The top of nothing: what people see. Text rendering, the catalogs, the sanitiser for
//! untrusted strings, and the trace sink. Imports nothing of hako above it.

pub mod evidence;
pub mod i18n;
pub mod markdown;
pub mod render;
pub mod sanitize;
pub mod wrap;
