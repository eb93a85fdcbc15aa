//! Tests of the simulator over HTTP: response shapes against the official ARM
//! examples (copied byte for byte under `tests/data/arm`), and behaviour.

mod behaviour;
mod compute;
mod fixtures;
mod groups;
mod insights;
mod policy;
mod policy_checks;
mod rbac;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::sim::{Scenario, Sim};

pub(super) const SUB: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
pub(super) const MACHINE: &str = "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/resourceGroups/arc-demo/providers/Microsoft.HybridCompute/machines/web-01";
pub(super) const HC: &str = "api-version=2023-03-15";
pub(super) const HC24: &str = "api-version=2024-12-01";
pub(super) const COMPUTE: &str = "api-version=2025-01-13";
pub(super) const AUTHZ: &str = "api-version=2022-04-01";
pub(super) const RESOURCES: &str = "api-version=2021-04-01";

/// The endpoint id of the scenario machine.
pub(super) fn endpoint() -> String {
    format!("{MACHINE}/providers/Microsoft.HybridConnectivity/endpoints/default")
}

pub(super) struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running simulator with a client acting as the scenario's caller.
pub(super) struct T {
    pub sim: Sim,
    pub http: reqwest::Client,
    pub token: String,
}

impl T {
    pub async fn builtin(name: &str) -> T {
        T::start(Scenario::builtin(name).unwrap()).await
    }

    pub async fn start(scenario: Scenario) -> T {
        let sim = Sim::start(scenario).await.unwrap();
        let token = sim.caller_token();
        // Loopback must never go through a proxy from the environment.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        T { sim, http, token }
    }

    /// `path` includes its query; `token` None sends no Authorization header.
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let url = format!("{}{}", self.sim.base_url().trim_end_matches('/'), path);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.send_as(Some(&self.token.clone()), method, path, body)
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send("PUT", path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> Resp {
        self.send("POST", path, body).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }
}
