//! `arcfix demo` (placeholder until the simulator lands).
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::render::text::Paint;
pub async fn run(_c: &Config, _p: &Paint) -> Result<ExitCode> {
    Ok(ExitCode::Ok)
}
