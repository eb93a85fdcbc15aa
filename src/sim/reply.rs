//! What a simulated operation answers: a status, a JSON body, extra headers,
//! and ARM's error envelope in its two shapes.

use serde_json::{Value, json};

/// One answer before the common ARM headers are added.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply::with(200, body)
    }

    pub fn with(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// A status without a body (204, or 200/202 where ARM sends none).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// An ARM error. `bare` selects the unwrapped `{"code","message"}` shape that
/// some HybridCompute errors have, instead of `{"error":{…}}`. Boxed: errors
/// travel through every `Result` in the simulator.
#[derive(Debug, Clone)]
pub(crate) struct ArmError(Box<ErrorParts>);

#[derive(Debug, Clone)]
struct ErrorParts {
    status: u16,
    code: String,
    message: String,
    details: Vec<Value>,
    headers: Vec<(String, String)>,
    bare: bool,
}

pub(crate) type ArmResult = Result<Reply, ArmError>;

impl ArmError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ArmError {
        ArmError(Box::new(ErrorParts {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
            bare: false,
        }))
    }

    pub fn detail(mut self, detail: Value) -> ArmError {
        self.0.details.push(detail);
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> ArmError {
        self.0.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn bare(mut self, bare: bool) -> ArmError {
        self.0.bare = bare;
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ArmError {
        ArmError::new(400, code, message)
    }

    pub fn into_reply(self) -> Reply {
        let e = *self.0;
        let mut inner = json!({"code": e.code, "message": e.message});
        if !e.details.is_empty() {
            inner["details"] = Value::Array(e.details);
        }
        let body = if e.bare {
            inner
        } else {
            json!({ "error": inner })
        };
        Reply {
            status: e.status,
            body: Some(body),
            headers: e.headers,
        }
    }
}

/// ARM's `ResourceNotFound` for `type_and_name` (e.g.
/// `Microsoft.HybridCompute/machines/web-01`) in resource group `rg`.
pub(crate) fn resource_not_found(type_and_name: &str, rg: &str) -> ArmError {
    ArmError::new(
        404,
        "ResourceNotFound",
        format!(
            "The Resource '{type_and_name}' under resource group '{rg}' was not found. \
             For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

/// ARM's `ParentResourceNotFound`: an operation on a child whose parent is missing.
pub(crate) fn parent_not_found(parent: &str) -> ArmError {
    ArmError::new(
        404,
        "ParentResourceNotFound",
        format!(
            "Can not perform requested operation on nested resource. Parent resource '{parent}' not found."
        ),
    )
}
