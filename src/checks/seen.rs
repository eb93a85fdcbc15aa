//! A fact as its read left it: there, absent, or unknown with why. Only the
//! first two are grounds for a verdict: "could not read" is never "not there".

/// What a check may conclude from one read.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen<T> {
    There(T),
    Absent,
    Unknown(Why),
}

/// Why a fact is unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// Only because the resource provider is not registered yet: the fact can
    /// be read once it is (the steps that depend on it are then decided by
    /// their re-check).
    UntilRegistered,
    /// The read failed, or the answer did not say (the words say which; they
    /// are also in the report's "not checked" list).
    Unread(String),
    /// Not read in this run: nothing the chosen options check needs it.
    NotAsked,
}

impl<T> Seen<T> {
    /// How the fact enters the observations (and the plan's fingerprint).
    pub fn word(&self) -> &'static str {
        match self {
            Seen::There(_) => "there",
            Seen::Absent => "absent",
            Seen::Unknown(Why::UntilRegistered) => "unknown-until-registered",
            Seen::Unknown(Why::Unread(_)) => "unknown",
            Seen::Unknown(Why::NotAsked) => "not-read",
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Seen::Absent)
    }

    /// Unknown only until the provider is registered.
    pub fn is_pending(&self) -> bool {
        matches!(self, Seen::Unknown(Why::UntilRegistered))
    }

    /// The value, when it was seen.
    pub fn there(&self) -> Option<&T> {
        match self {
            Seen::There(t) => Some(t),
            _ => None,
        }
    }
}
