//! The id of every known problem, one constant each (build.rs makes them from
//! `plans/`): checks and steps name a problem through these, never by
//! retyping it. The catalogue (`plans/<id>.toml`) holds what a person reads
//! about each; a test fails when a file says a problem is detected
//! (`known = true`) and no check names its constant.

include!(concat!(env!("OUT_DIR"), "/problems.rs"));
