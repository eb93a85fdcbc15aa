//! Bearer tokens: a small trait of our own over azure_identity's credentials,
//! cached for the run (the CLI credential runs `az` on every call), and the
//! caller's object id read from the token's claims.

use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use futures::future::BoxFuture;
use time::OffsetDateTime;

use crate::azure::cloud::{Auth, Cloud};
use crate::error::{Error, Result};

/// Anything that can hand out an ARM token for a scope.
pub trait TokenSource: Send + Sync {
    fn fetch<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<(String, OffsetDateTime)>>;
}

/// An azure_identity credential as a token source.
struct Credential(Arc<dyn TokenCredential>, Auth);

impl TokenSource for Credential {
    fn fetch<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<(String, OffsetDateTime)>> {
        Box::pin(async move {
            let t =
                self.0.get_token(&[scope], None).await.map_err(|e| {
                    Error::Auth(sign_in_advice(self.1, &e.to_string(), az_on_path()))
                })?;
            Ok((t.token.secret().to_string(), t.expires_on))
        })
    }
}

fn az_on_path() -> bool {
    crate::os::Host::detect().which("az").is_some()
}

/// What to do when no token can be had, in arcfix's words (never as an
/// answer from Azure: no request was sent), then the credential's own words
/// whole, on one line: the Azure CLI's message with the command it asks for
/// (`az login --scope https://…`) and the SDK's troubleshooting link; secrets
/// masked, control characters escaped.
pub fn sign_in_advice(auth: Auth, detail: &str, az_installed: bool) -> String {
    let detail = crate::text::one_line(&crate::redact::redact(detail, &[]));
    let detail = without_sdk_prefix(&detail);
    let others = "or choose --auth env / managed-identity";
    match auth {
        Auth::Cli if !az_installed => {
            format!(
                "the Azure CLI (`az`) is not installed or not on PATH: install it and run `az login` ({others})"
            )
        }
        Auth::Cli => format!(
            "could not get a token from the Azure CLI: run `az login` ({others}); the CLI said: {detail}"
        ),
        Auth::Env => format!(
            "could not get a token with the service principal or workload identity from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE): {detail}"
        ),
        Auth::ManagedIdentity => format!(
            "could not get a token from this machine's managed identity (is it an Azure VM or Arc server with an identity?): {detail}"
        ),
        Auth::Static => format!("could not use the token in ARCFIX_TOKEN: {detail}"),
    }
}

/// The credential's message without the SDK's "AzureCliCredential
/// authentication failed." before it: arcfix has said that in its words.
fn without_sdk_prefix(detail: &str) -> &str {
    match detail.split_once(" authentication failed.") {
        Some((name, rest)) if name.ends_with("Credential") && !name.contains(' ') => {
            rest.trim_start()
        }
        _ => detail,
    }
}

/// A credential that could not be set up: every fetch says why.
pub struct NoToken(pub String);

impl TokenSource for NoToken {
    fn fetch<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<(String, OffsetDateTime)>> {
        Box::pin(async move { Err(Error::Auth(self.0.clone())) })
    }
}

/// Where `--auth static` reads its token.
pub const STATIC_TOKEN_VAR: &str = "ARCFIX_TOKEN";

/// A fixed token (the simulator's), valid for an hour.
pub struct StaticToken(pub String);

impl TokenSource for StaticToken {
    fn fetch<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<(String, OffsetDateTime)>> {
        Box::pin(async move {
            Ok((
                self.0.clone(),
                OffsetDateTime::now_utc() + time::Duration::hours(1),
            ))
        })
    }
}

/// The credential the user chose. Only `ManagedIdentity` ever talks to a
/// metadata address, and only when a token is first needed.
pub fn source(auth: Auth, cloud: Cloud) -> Result<Box<dyn TokenSource>> {
    let auth_err = |e: azure_core::Error| Error::Auth(crate::text::one_line(&e.to_string()));
    // Entra's authority host follows the cloud.
    let client_options = || azure_core::http::ClientOptions {
        cloud: Some(Arc::new(cloud.authority())),
        ..Default::default()
    };
    let cred: Arc<dyn TokenCredential> = match auth {
        Auth::Cli => azure_identity::AzureCliCredential::new(None).map_err(auth_err)?,
        Auth::Env => {
            let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
            match (
                var("AZURE_TENANT_ID"),
                var("AZURE_CLIENT_ID"),
                var("AZURE_CLIENT_SECRET"),
                var("AZURE_FEDERATED_TOKEN_FILE"),
            ) {
                (Some(tenant), Some(client), Some(secret), _) => {
                    azure_identity::ClientSecretCredential::new(
                        &tenant,
                        client,
                        Secret::new(secret),
                        Some(azure_identity::ClientSecretCredentialOptions {
                            client_options: client_options(),
                        }),
                    )
                    .map_err(auth_err)?
                }
                (Some(_), Some(_), None, Some(_)) => {
                    azure_identity::WorkloadIdentityCredential::new(Some(
                        azure_identity::WorkloadIdentityCredentialOptions {
                            credential_options: azure_identity::ClientAssertionCredentialOptions {
                                client_options: client_options(),
                            },
                            ..Default::default()
                        },
                    ))
                    .map_err(auth_err)?
                }
                _ => {
                    return Err(Error::Auth(
                        "--auth env needs AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET (service principal) or AZURE_FEDERATED_TOKEN_FILE (workload identity)".into(),
                    ));
                }
            }
        }
        Auth::ManagedIdentity => {
            let options = std::env::var("AZURE_CLIENT_ID")
                .ok()
                .filter(|v| !v.is_empty())
                .map(|id| azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id: Some(azure_identity::UserAssignedId::ClientId(id)),
                    ..Default::default()
                });
            azure_identity::ManagedIdentityCredential::new(options).map_err(auth_err)?
        }
        // Only ever for a loopback endpoint: `Config` refuses any other.
        Auth::Static => {
            return match std::env::var(STATIC_TOKEN_VAR)
                .ok()
                .filter(|t| !t.trim().is_empty())
            {
                Some(token) => Ok(Box::new(StaticToken(token.trim().to_string()))),
                None => Err(Error::Auth(format!(
                    "--auth static needs the token in {STATIC_TOKEN_VAR} (`arcfix demo --serve` prints it)"
                ))),
            };
        }
    };
    Ok(Box::new(Credential(cred, auth)))
}

/// One token per run, fetched on first use and again only when it expires.
pub struct Tokens {
    source: Box<dyn TokenSource>,
    scope: String,
    cache: tokio::sync::Mutex<Option<(String, OffsetDateTime)>>,
}

impl Tokens {
    pub fn new(source: Box<dyn TokenSource>, scope: &str) -> Tokens {
        Tokens {
            source,
            scope: scope.to_string(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn token(&self) -> Result<String> {
        let mut cache = self.cache.lock().await;
        if let Some((t, exp)) = cache.as_ref()
            && *exp - OffsetDateTime::now_utc() > time::Duration::minutes(2)
        {
            return Ok(t.clone());
        }
        let fresh = self.source.fetch(&self.scope).await?;
        let t = fresh.0.clone();
        *cache = Some(fresh);
        Ok(t)
    }
}

/// A token's claims that arcfix reads (no signature check: the token is our
/// own, fresh from Entra; this only names the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub idtyp: Option<String>,
}

impl Claims {
    pub fn from_token(token: &str) -> Option<Claims> {
        let payload = token.split('.').nth(1)?;
        serde_json::from_slice(&base64url(payload)?).ok()
    }
    /// `User`, or `ServicePrincipal` for app tokens.
    pub fn principal_type(&self) -> &'static str {
        if self.idtyp.as_deref() == Some("app")
            || (self.upn.is_none() && self.unique_name.is_none() && self.appid.is_some())
        {
            "ServicePrincipal"
        } else {
            "User"
        }
    }
    pub fn display_name(&self) -> String {
        self.upn
            .clone()
            .or_else(|| self.unique_name.clone())
            .or_else(|| self.oid.clone())
            .unwrap_or_else(|| "<you>".into())
    }
}

fn base64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// What `az account get-access-token` prints when the sign-in has lapsed,
    /// as azure_identity's AzureCliCredential reports it (its stderr whole,
    /// then the troubleshooting link).
    const AZ_LAPSED: &str = "AzureCliCredential authentication failed. ERROR: AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2026-11-30T08:12:44.0000000Z and the maximum allowed lifetime for this request is 43200. Trace ID: 5b0e8f4c-1f5e-4a55-9a43-1c1f0b7a2e00 Correlation ID: 0d9b7e8c-3c4b-4d7e-8f4f-8e5a2c1b9f11 Timestamp: 2026-12-07 07:10:00Z\nInteractive authentication is needed. Please run:\naz login --scope https://management.core.windows.net//.default\n\nTo troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot#azure-cli";

    #[test]
    fn the_clis_sign_in_error_is_said_whole_on_one_line() {
        let said = sign_in_advice(Auth::Cli, AZ_LAPSED, true);
        assert_eq!(
            said,
            "could not get a token from the Azure CLI: run `az login` (or choose --auth env / managed-identity); \
             the CLI said: ERROR: AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency \
             checks by conditional access. The token was issued on 2026-11-30T08:12:44.0000000Z and the maximum \
             allowed lifetime for this request is 43200. Trace ID: 5b0e8f4c-1f5e-4a55-9a43-1c1f0b7a2e00 \
             Correlation ID: 0d9b7e8c-3c4b-4d7e-8f4f-8e5a2c1b9f11 Timestamp: 2026-12-07 07:10:00Z Interactive \
             authentication is needed. Please run: az login --scope https://management.core.windows.net//.default \
             To troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot#azure-cli"
        );
        // Still one line of safe text, a token masked.
        let hostile = "AzureCliCredential authentication failed. \u{1b}[2Jgot Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln\r\nfake line";
        let said = sign_in_advice(Auth::Cli, hostile, true);
        assert!(
            !said.contains('\u{1b}') && !said.contains('\n') && !said.contains('\r'),
            "{said}"
        );
        assert!(!said.contains("eyJ"), "{said}");
        // Another credential's prefix goes the same way; a message without one is kept.
        let env = sign_in_advice(
            Auth::Env,
            "ClientSecretCredential authentication failed. AADSTS7000215: Invalid client secret.",
            true,
        );
        assert!(
            env.ends_with("AZURE_FEDERATED_TOKEN_FILE): AADSTS7000215: Invalid client secret."),
            "{env}"
        );
        assert!(
            sign_in_advice(Auth::Cli, "no prefix here", true)
                .ends_with("the CLI said: no prefix here")
        );
    }

    struct Counting(AtomicU32, i64);
    impl TokenSource for Counting {
        fn fetch<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<(String, OffsetDateTime)>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let life = self.1;
            Box::pin(async move {
                Ok((
                    format!("t{n}"),
                    OffsetDateTime::now_utc() + time::Duration::seconds(life),
                ))
            })
        }
    }

    #[tokio::test]
    async fn one_token_per_run_refreshed_only_when_expiring() {
        let t = Tokens::new(Box::new(Counting(AtomicU32::new(0), 3600)), "s");
        assert_eq!(t.token().await.unwrap(), "t0");
        assert_eq!(t.token().await.unwrap(), "t0");
        let t = Tokens::new(Box::new(Counting(AtomicU32::new(0), 30)), "s");
        assert_eq!(t.token().await.unwrap(), "t0");
        assert_eq!(t.token().await.unwrap(), "t1");
    }

    #[test]
    fn reads_claims_from_a_jwt() {
        // {"oid":"abc","upn":"ann@contoso.com"}
        let token = "eyJhbGciOiJub25lIn0.eyJvaWQiOiJhYmMiLCJ1cG4iOiJhbm5AY29udG9zby5jb20ifQ.";
        let c = Claims::from_token(token).unwrap();
        assert_eq!(c.oid.as_deref(), Some("abc"));
        assert_eq!(c.display_name(), "ann@contoso.com");
        assert_eq!(c.principal_type(), "User");
        assert!(Claims::from_token("not-a-jwt").is_none());
        assert!(Claims::from_token("a.!!!.c").is_none());
    }
}
