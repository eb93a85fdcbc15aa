//! A Microsoft Entra token endpoint for service principals in the scenario
//! (client credentials with a secret), answering as login.microsoftonline.com
//! does, including its `AADSTS` errors.

use serde_json::json;

use crate::sim::arm::{Incoming, parse_query};
use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::world::{World, new_guid, now};

fn aad_error(status: u16, error: &str, code: u32, description: &str) -> ArmResult {
    let trace = new_guid();
    let correlation = new_guid();
    Ok(Reply::with(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}",
                now()
            ),
            "error_codes": [code],
            "timestamp": now(),
            "trace_id": trace,
            "correlation_id": correlation,
        }),
    ))
}

pub(crate) fn token(world: &World, tenant: &str, inc: &Incoming) -> ArmResult {
    if inc.method != "POST" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            "The token endpoint accepts POST only.",
        ));
    }
    if !tenant.eq_ignore_ascii_case(&world.tenant) {
        return aad_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
        );
    }
    let form = parse_query(&String::from_utf8_lossy(&inc.raw_body));
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("client_credentials") {
        return aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type; arcfix-sim supports 'client_credentials'.",
        );
    }
    let scope = field("scope").unwrap_or_default();
    if !scope.ends_with("/.default") {
        return aad_error(
            400,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input \
                 parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    let client_id = field("client_id").unwrap_or_default();
    let Some(sp) = world.principals.iter().find(|p| {
        p.client_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(client_id))
            && p.principal_type == "ServicePrincipal"
    }) else {
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                world.tenant
            ),
        );
    };
    if field("client_secret").is_none() || field("client_secret") != sp.client_secret.as_deref() {
        return aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
             value, not the client secret ID.",
        );
    }
    let access_token = crate::sim::token::fake_app_token(&sp.oid, client_id, &world.tenant);
    Ok(Reply::ok(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    })))
}
