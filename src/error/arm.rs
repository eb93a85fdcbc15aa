//! ARM's error envelope turned into a typed error that shows code, message and
//! the correlation id. Both the wrapped `{"error":{…}}` and the bare shape parse.

use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub method: String,
    /// The request path (no query, no host), for the reader.
    pub path: String,
    pub correlation_id: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Wrapped {
    error: Body,
}

impl ArmError {
    /// Builds the error from a response's status and body text.
    pub fn from_response(
        status: u16,
        body: &str,
        method: &str,
        path: &str,
        correlation_id: Option<String>,
    ) -> ArmError {
        let parsed = serde_json::from_str::<Wrapped>(body)
            .map(|w| w.error)
            .or_else(|_| serde_json::from_str::<Body>(body));
        let (code, message) = match parsed {
            Ok(Body {
                code: Some(code),
                message,
            }) => (code, message.unwrap_or_default()),
            _ => (
                default_code(status).to_string(),
                if body.trim().is_empty() {
                    format!("HTTP {status} with no body")
                } else {
                    format!(
                        "HTTP {status}: {}",
                        body.chars().take(200).collect::<String>()
                    )
                },
            ),
        };
        ArmError {
            status,
            code,
            message,
            method: method.to_string(),
            path: path.to_string(),
            correlation_id,
        }
    }

    /// An answer that is not what ARM's API describes (not JSON, or not the
    /// resource's shape): reported this one way, whoever noticed it.
    pub fn invalid_answer(
        status: u16,
        method: &str,
        path: &str,
        correlation_id: Option<String>,
        why: impl fmt::Display,
    ) -> ArmError {
        ArmError {
            status,
            code: INVALID_ANSWER.into(),
            message: why.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            correlation_id,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    pub fn is_invalid_answer(&self) -> bool {
        self.code == INVALID_ANSWER
    }

    /// The endpoint refused the connection or its name does not resolve:
    /// nothing more can be read this run.
    pub fn is_unreachable(&self) -> bool {
        self.status == 0 && self.code == UNREACHABLE
    }
}

/// The code of an endpoint that cannot be reached at all.
pub const UNREACHABLE: &str = "EndpointUnreachable";

/// The code of an answer that is not what the API describes.
const INVALID_ANSWER: &str = "InvalidResponse";

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "AuthenticationFailed",
        403 => "AuthorizationFailed",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        500..=599 => "ServerError",
        _ => "UnexpectedStatus",
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = crate::text::one_line(&self.message);
        if self.code == "SignInRequired" {
            // No request was sent: the sign-in advice alone.
            write!(f, "{message}")?;
        } else if self.is_invalid_answer() {
            write!(
                f,
                "unexpected answer from ARM to {} {} ({}): {}",
                self.method, self.path, self.status, message
            )?;
        } else if self.status == 0 {
            // No answer from Azure: the request failed or was never sent.
            write!(
                f,
                "{} {} failed ({}): {}",
                self.method, self.path, self.code, message
            )?;
        } else {
            write!(
                f,
                "Azure answered {} {} with {} ({}): {}",
                self.method, self.path, self.status, self.code, message
            )?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, " [correlation id {c}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ArmError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrapped_and_bare_bodies() {
        let w = ArmError::from_response(
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'a' with object id 'b' does not have authorization"}}"#,
            "PUT",
            "/x",
            Some("c-1".into()),
        );
        assert_eq!(w.code, "AuthorizationFailed");
        assert!(w.to_string().contains("[correlation id c-1]"));
        let b = ArmError::from_response(
            400,
            r#"{"code":"HCRP400","message":"bad","target":"t"}"#,
            "GET",
            "/x",
            None,
        );
        assert_eq!((b.code.as_str(), b.message.as_str()), ("HCRP400", "bad"));
        let junk = ArmError::from_response(502, "<html>\nbad gateway</html>", "GET", "/x", None);
        assert_eq!(junk.code, "ServerError");
        assert!(!junk.to_string().contains('\n'));
    }
}
