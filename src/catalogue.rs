//! The catalogue of known problems, `plans/`, embedded at build time.
