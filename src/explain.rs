//! Error text -> known problems.
