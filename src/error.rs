//! The one error type of arcfix: every failure ends here, with its exit code.

use std::fmt;

/// Process exit codes, as the contract fixes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Nothing found / everything fixed.
    Ok = 0,
    /// A runtime error: bad input, authentication, Azure unreachable, not found.
    Error = 1,
    /// `check` found problems, `plan` has steps, `explain` matched nothing.
    Found = 2,
    /// `apply`: a step failed or manual steps remain.
    Incomplete = 3,
    /// Command-line usage error.
    Usage = 64,
    /// Stopped by Ctrl-C, after the report.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Merges the outcome of two independent pieces of work: the worse one wins.
    pub fn merge(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

/// Everything that can stop a command. The message is one line, safe to print.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Input(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// No token could be had; the message says what to do.
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Azure(#[from] crate::azure::error::ArmError),
    #[error("{0}")]
    Declined(String),
    #[error("{0}")]
    Other(String),
    /// A bug in arcfix: something its own code should never produce.
    #[error("internal error (a bug in arcfix, please report it): {0}")]
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            _ => ExitCode::Error,
        }
    }

    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    pub fn input(message: impl fmt::Display) -> Error {
        Error::Input(message.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn merge_keeps_the_worse_outcome() {
        assert_eq!(ExitCode::Ok.merge(ExitCode::Found), ExitCode::Found);
        assert_eq!(
            ExitCode::Incomplete.merge(ExitCode::Found),
            ExitCode::Incomplete
        );
        assert_eq!(ExitCode::Ok.merge(ExitCode::Ok), ExitCode::Ok);
        assert_eq!(
            ExitCode::Error.merge(ExitCode::Incomplete),
            ExitCode::Incomplete
        );
    }
}
