//! The one error type of arcfix: every failure ends here, with its exit code.

use std::fmt;

pub mod arm;

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
    Azure(#[from] crate::error::arm::ArmError),
    #[error("{0}")]
    Declined(String),
    /// The machine named is not in Azure (ARM answered 404).
    #[error("Arc machine not found: {id} ({}: {})", cause.code, crate::text::one_line(&cause.message))]
    MachineNotFound {
        id: String,
        cause: crate::error::arm::ArmError,
    },
    /// ARM refused to show the machine (403 AuthorizationFailed). It says
    /// the same for a resource group or machine name that does not exist
    /// when the caller may not read the whole subscription: both are said.
    #[error(
        "cannot read Arc machine {id}: {} ({}: {}); if the caller has the rights, check the names: when you may not read the whole subscription, ARM answers a misspelled resource group ('{resource_group}') or machine ('{name}') this way too (list them with az resource list --resource-type {resource_type} -o table)",
        cause.status,
        cause.code,
        crate::text::one_line(&cause.message)
    )]
    MachineDenied {
        id: String,
        resource_group: String,
        name: String,
        /// Its type (`Microsoft.HybridCompute/machines`, …), to list its kind.
        resource_type: &'static str,
        cause: crate::error::arm::ArmError,
    },
    /// Something awaited did not end in time.
    #[error("{what} did not finish within {}", seconds(*limit))]
    TimedOut {
        what: String,
        limit: std::time::Duration,
    },
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

/// `600 s`; long limits (a quarter of an hour or more) in whole minutes.
fn seconds(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s >= 900 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
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

    #[test]
    fn errors_carry_their_data_and_say_it_once() {
        use super::Error;
        use crate::error::arm::ArmError;
        let not_json =
            ArmError::invalid_answer(200, "GET", "/x", None, "the response is not JSON: eof");
        let wrong_shape = ArmError::invalid_answer(200, "GET", "/x", None, "invalid type");
        for e in [&not_json, &wrong_shape] {
            assert!(e.is_invalid_answer());
            assert!(
                e.to_string()
                    .starts_with("unexpected answer from ARM to GET /x (200): "),
                "{e}"
            );
        }
        let cases = [
            (
                Error::TimedOut {
                    what: "the run command".into(),
                    limit: std::time::Duration::from_secs(2),
                },
                "the run command did not finish within 2 s",
                ExitCode::Error,
            ),
            (
                Error::TimedOut {
                    what: "dnf".into(),
                    limit: std::time::Duration::from_secs(900),
                },
                "dnf did not finish within 15 minutes",
                ExitCode::Error,
            ),
            (
                Error::MachineNotFound {
                    id: "/subscriptions/s/m".into(),
                    cause: ArmError::from_response(
                        404,
                        r#"{"code":"ResourceNotFound","message":"gone\nnow"}"#,
                        "GET",
                        "/m",
                        None,
                    ),
                },
                "Arc machine not found: /subscriptions/s/m (ResourceNotFound: gone now)",
                ExitCode::Error,
            ),
            (
                Error::Internal("x".into()),
                "internal error (a bug in arcfix, please report it): x",
                ExitCode::Error,
            ),
            (Error::Usage("u".into()), "u", ExitCode::Usage),
        ];
        for (e, text, code) in cases {
            assert_eq!(e.to_string(), text);
            assert_eq!(e.exit_code(), code);
        }
    }
}
