//! A hostile ARM on loopback: a proxy in front of the simulator that rewrites
//! its answers (links to another host, redirects, failures), and a listener on
//! another loopback address (127.0.0.2) that records whether a token arrived.
//! Each test attacks the real binary.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;

use crate::azure::Azure;
use crate::harness::Output;

/// One answer on its way back to arcfix, open to rewriting.
pub struct Answer {
    pub method: String,
    pub path: String,
    /// The request's query string (without `?`).
    pub query: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

type Tamper = dyn Fn(&mut Answer) + Send + Sync;

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    tamper: Box<Tamper>,
}

/// Starts the hostile proxy in front of `az`'s simulator; returns its base URL.
pub fn hostile(az: &Azure, tamper: impl Fn(&mut Answer) + Send + Sync + 'static) -> String {
    let proxy = Arc::new(Proxy {
        upstream: az.sim().base_url().trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap(),
        tamper: Box::new(tamper),
    });
    az.rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/")
    })
}

async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let pq = parts
        .uri
        .path_and_query()
        .map(|x| x.as_str().to_string())
        .unwrap_or_default();
    let mut out = p
        .http
        .request(parts.method.clone(), format!("{}{pq}", p.upstream));
    for (k, v) in parts.headers.iter() {
        if k != "host" {
            out = out.header(k, v);
        }
    }
    let resp = out.body(bytes.to_vec()).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| *k != "content-length" && *k != "transfer-encoding")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let text = resp.bytes().await.unwrap_or_default();
    let mut answer = Answer {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        status,
        headers,
        body: serde_json::from_slice(&text).ok(),
    };
    (p.tamper)(&mut answer);
    let mut r = Response::new(Body::from(
        answer.body.map(|b| b.to_string()).unwrap_or_default(),
    ));
    *r.status_mut() = axum::http::StatusCode::from_u16(answer.status).unwrap();
    for (k, v) in answer.headers {
        r.headers_mut().append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    r
}

/// Answers 404 to the subscription-scope permissions API (which the published
/// spec does not list), so that arcfix falls back to the role assignments.
pub fn refuse_subscription_permissions(a: &mut Answer) {
    if a.path
        .ends_with("/providers/Microsoft.Authorization/permissions")
        && a.path.split('/').count() == 6
    {
        a.status = 404;
        a.body = Some(serde_json::json!({"error": {"code": "NotFound", "message": "no"}}));
    }
}

/// A listener on 127.0.0.2 that records every request it receives.
pub struct Thief {
    pub port: u16,
    got: Arc<Mutex<Vec<String>>>,
}

impl Thief {
    pub fn start(az: &Azure) -> Thief {
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        let port = az.rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let mut buf = vec![0u8; 16384];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    let body = r#"{"value":[],"status":"Succeeded"}"#;
                    let _ = sock
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                                .as_bytes(),
                        )
                        .await;
                }
            });
            port
        });
        // A link to the thief that resolves onto the endpoint itself
        // (`http:127.0.0.2:PORT/x`) reaches the simulator as this path.
        az.foreign
            .lock()
            .unwrap()
            .push(format!("/127.0.0.2:{port}/"));
        Thief { port, got }
    }

    /// Whether anything reached it, and whether it carried a token.
    pub fn connections(&self) -> usize {
        self.got.lock().unwrap().len()
    }
    pub fn tokens(&self) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.to_ascii_lowercase().contains("authorization:"))
            .count()
    }
}

/// Every way a link may name the thief's host.
fn spellings(port: u16) -> Vec<String> {
    vec![
        format!("HTTP://127.0.0.2:{port}/x"),
        format!("Http://127.0.0.2:{port}/x"),
        format!(" http://127.0.0.2:{port}/x"),
        format!("http://127.0.0.2:{port}/x"),
        format!("//127.0.0.2:{port}/x"),
        format!("http:127.0.0.2:{port}/x"),
    ]
}

fn no_secret(az: &Azure, out: &Output) {
    assert!(
        !out.stdout.contains(&az.token) && !out.stderr.contains(&az.token),
        "the token was printed: {out:?}"
    );
}

#[test]
fn a_next_link_to_another_host_never_gets_the_token() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let thief = Thief::start(&az);
    for link in spellings(thief.port) {
        let l = link.clone();
        let endpoint = hostile(&az, move |a| {
            if a.path
                .ends_with("/providers/Microsoft.Authorization/permissions")
                && let Some(b) = a.body.as_mut()
            {
                b["nextLink"] = Value::String(l.clone());
            }
        });
        let out = az.run_at(&endpoint, &["check", "--checks", "azure", "--id", &id]);
        assert_eq!(thief.tokens(), 0, "{link}: the token reached 127.0.0.2");
        assert_eq!(
            thief.connections(),
            0,
            "{link}: a request reached 127.0.0.2"
        );
        no_secret(&az, &out);
        // Either the link was refused (the permissions are unread: exit 1), or it
        // resolved onto the endpoint itself (`http:host/x` is relative to an http base).
        if link.trim_start().to_ascii_lowercase().starts_with("http:1") {
            continue;
        }
        assert_eq!(out.status, 1, "{link}: {out:?}");
        assert!(
            out.stdout.contains("another host") || out.stderr.contains("another host"),
            "{link}: {out:?}"
        );
        assert!(!out.stdout.contains("no problems found"), "{link}: {out:?}");
    }
}

#[test]
fn a_role_definition_id_on_another_host_never_gets_the_token() {
    // The provider is unregistered, so arcfix reads whether the caller may register it.
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let thief = Thief::start(&az);
    for link in spellings(thief.port) {
        let l = link.clone();
        let endpoint = hostile(&az, move |a| {
            // The subscription's permissions refused, so the assignments are read.
            refuse_subscription_permissions(a);
            if a.path
                .ends_with("/providers/Microsoft.Authorization/roleAssignments")
                && let Some(list) = a.body.as_mut().and_then(|b| b["value"].as_array_mut())
            {
                for ra in list {
                    ra["properties"]["roleDefinitionId"] = Value::String(l.clone());
                }
            }
        });
        az.sim().clear_log();
        let out = az.run_at(&endpoint, &["plan", "--checks", "azure", "--id", &id]);
        assert_eq!(
            thief.connections(),
            0,
            "{link}: a request reached 127.0.0.2"
        );
        no_secret(&az, &out);
        // The tampered list was read, and its foreign id never followed.
        assert!(
            az.sim()
                .requests()
                .iter()
                .any(|r| r.path.ends_with("/roleAssignments") && r.query.contains("assignedTo")),
            "{link}: {out:?}"
        );
        assert!(
            out.stdout.contains("register-hybridconnectivity"),
            "{out:?}"
        );
    }
}

#[test]
fn async_operation_and_location_links_to_another_host_never_get_the_token() {
    let az = Azure::edited("demo", |v| {
        let web = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        web["server"]["sshd_running"] = false.into();
    });
    let id = az.machine(0);
    let thief = Thief::start(&az);
    for header in ["Azure-AsyncOperation", "Location"] {
        for link in spellings(thief.port) {
            let (h, l) = (header.to_string(), link.clone());
            let endpoint = hostile(&az, move |a| {
                if a.method == "PUT" && a.path.to_ascii_lowercase().contains("/runcommands/") {
                    a.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&h));
                    a.headers.push((h.clone(), l.clone()));
                    a.status = 201;
                }
            });
            let out = az.run_at(
                &endpoint,
                &[
                    "apply", "--yes", "--checks", "server", "--remote", "--id", &id,
                ],
            );
            assert_eq!(
                thief.connections(),
                0,
                "{header} {link}: a request reached 127.0.0.2: {out:?}"
            );
            no_secret(&az, &out);
            if header == "Azure-AsyncOperation"
                && !link.trim_start().to_ascii_lowercase().starts_with("http:1")
            {
                // The probe's operation could not be followed: the server is
                // not checked (an error), saying why.
                assert_eq!(out.status, 1, "{header} {link}: {out:?}");
                assert!(out.stdout.contains("another host"), "{link}: {out:?}");
            }
        }
    }
}

#[test]
fn a_redirect_to_another_host_is_an_error_not_an_answer() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let thief = Thief::start(&az);
    let port = thief.port;
    let endpoint = hostile(&az, move |a| {
        if a.method == "GET" && a.path.to_ascii_lowercase().ends_with("/machines/web-01") {
            a.status = 307;
            a.headers
                .push(("Location".into(), format!("http://127.0.0.2:{port}/m")));
            a.body = None;
        }
    });
    let out = az.run_at(&endpoint, &["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("redirect (307)"), "{out:?}");
    assert_eq!(thief.connections(), 0);
    no_secret(&az, &out);
}

#[test]
fn a_failed_read_never_ends_in_a_tick() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let healthy = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert_eq!(healthy.status, 0, "{healthy:?}");
    assert!(
        healthy.stdout.contains("✓ no problems found in azure"),
        "{healthy:?}"
    );
    let cases: [(&str, u16, &str); 4] = [
        (
            "/providers/Microsoft.Authorization/permissions",
            500,
            "InternalServerError",
        ),
        (
            "/providers/Microsoft.Authorization/permissions",
            403,
            "AuthorizationFailed",
        ),
        (
            "/providers/Microsoft.Authorization/permissions",
            429,
            "SubscriptionRequestsThrottled",
        ),
        (
            "/providers/Microsoft.HybridConnectivity",
            500,
            "InternalServerError",
        ),
    ];
    for (suffix, status, code) in cases {
        let endpoint = hostile(&az, move |a| {
            if a.method == "GET" && a.path.ends_with(suffix) {
                a.status = status;
                a.headers.push(("Retry-After".into(), "0".into()));
                a.body = Some(serde_json::json!({"error": {"code": code, "message": "no"}}));
            }
        });
        let out = az.run_at(&endpoint, &["check", "--checks", "azure", "--id", &id]);
        assert_eq!(out.status, 1, "{suffix} {status}: {out:?}");
        assert!(!out.stdout.contains('✓'), "{suffix} {status}: {out:?}");
        assert!(
            out.stdout.contains("azure not checked — could not read"),
            "{out:?}"
        );
        assert!(out.stdout.contains(code), "{out:?}");
        let json = az.run_at(
            &endpoint,
            &["check", "--checks", "azure", "--id", &id, "-o", "json"],
        );
        assert_eq!(json.status, 1, "{json:?}");
        let v = json.json();
        assert_eq!(v["checked"], serde_json::json!([]), "{v}");
        let nc = v["not_checked"].as_array().unwrap();
        assert!(
            nc.iter()
                .any(|n| n["side"] == "azure" && n["error"] == true),
            "{v}"
        );
        assert_eq!(v["machines"][0]["status"], "error", "{v}");
        // The same for plan and a dry run: no "nothing to fix".
        let plan = az.run_at(&endpoint, &["plan", "--checks", "azure", "--id", &id]);
        assert_eq!(plan.status, 1, "{plan:?}");
        assert!(!plan.stdout.contains('✓'), "{plan:?}");
    }
}

#[test]
fn dot_names_and_endpoints_with_credentials_send_nothing() {
    let az = Azure::builtin("healthy");
    let sub = az.machine(0).split('/').nth(2).unwrap().to_string();
    for (rg, name) in [
        ("arc-demo", ".."),
        ("arc-demo", "."),
        ("arc-demo", "web-01."),
        ("..", "web-01"),
    ] {
        let out = az.run(&[
            "check",
            "--checks",
            "azure",
            "--subscription",
            &sub,
            "--resource-group",
            rg,
            "--machine",
            name,
        ]);
        // A malformed option value: a usage error.
        assert_eq!(out.status, 64, "{rg}/{name}: {out:?}");
        assert!(out.stderr.contains("must not end with '.'"), "{out:?}");
    }
    let id = az.machine(0).replace("/machines/web-01", "/machines/..");
    let out = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 64, "{out:?}");
    assert!(az.sim().requests().is_empty(), "{:?}", az.sim().requests());

    let base = az.sim().base_url().replace("http://", "http://me:hunter2@");
    let out = az
        .sandbox
        .cmd()
        .args(&["check", "--checks", "azure", "--id", &az.machine(0)])
        .env("ARCFIX_ARM_ENDPOINT", &base)
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("user name or password"), "{out:?}");
    assert!(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"));
    assert!(az.sim().requests().is_empty());

    // An endpoint that is not the cloud's own: one warning before anything is sent
    // (0.0.0.0 is this machine, refused at once: nothing leaves it).
    let out = az
        .sandbox
        .cmd()
        .args(&["check", "--checks", "azure", "--id", &az.machine(0)])
        .env("ARCFIX_ARM_ENDPOINT", "https://0.0.0.0:9/")
        .env("ARCFIX_RETRY_SCALE", "0.01")
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    let warnings = out.stderr.matches("is not management.azure.com").count();
    assert_eq!(warnings, 1, "{out:?}");
    assert!(!out.stderr.contains(&az.token));
}

/// Whether some line of `text` starts (column 0) with `start`.
fn line_starting(text: &str, start: &str) -> bool {
    text.lines().any(|l| l.starts_with(start))
}

#[test]
fn an_extension_name_that_walks_up_the_path_aims_no_write_at_another_machine() {
    // OTHER sits beside web-01, without the extension.
    let az = Azure::edited("healthy", |v| {
        let machines = &mut v["subscriptions"][0]["resource_groups"][0]["machines"];
        let mut other = machines[0].clone();
        other["name"] = "OTHER".into();
        other["extensions"] = serde_json::json!([]);
        machines.as_array_mut().unwrap().push(other);
    });
    let id = az.machine(0);
    assert!(id.ends_with("/web-01"), "{id}");
    let endpoint = hostile(&az, |a| {
        if a.method == "GET"
            && a.path
                .to_ascii_lowercase()
                .ends_with("/machines/web-01/extensions")
            && let Some(list) = a.body.as_mut().and_then(|b| b["value"].as_array_mut())
        {
            for e in list {
                e["name"] = "../../OTHER/extensions/AADSSHLoginForLinux".into();
                e["properties"]["provisioningState"] = "Failed".into();
            }
        }
    });
    for args in [
        &[
            "apply", "--yes", "--checks", "azure", "--login", "entra", "--id", &id,
        ][..],
        &["plan", "--checks", "azure", "--login", "entra", "--id", &id],
    ] {
        let out = az.run_at(&endpoint, args);
        let elsewhere: Vec<String> = az
            .writes()
            .into_iter()
            .filter(|w| !w.to_ascii_lowercase().contains("/machines/web-01"))
            .collect();
        assert!(
            elsewhere.is_empty(),
            "{args:?}: wrote {elsewhere:?}: {out:?}"
        );
        assert!(
            !out.stdout.contains('✓'),
            "{args:?}: a ✓ from an answer that was not valid: {out:?}"
        );
        assert_eq!(out.status, 1, "{args:?}: {out:?}");
        assert!(
            out.stdout.contains("invalid resource name"),
            "{args:?}: the answer is reported as invalid: {out:?}"
        );
    }
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn a_shown_command_quotes_a_hostile_location_for_the_shell() {
    const HOSTILE: &str = "x;touch arcfix-pwned;#$(touch arcfix-pwned2)";
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let endpoint = hostile(&az, |a| {
        if a.method == "GET"
            && a.path.to_ascii_lowercase().ends_with("/machines/web-01")
            && let Some(b) = a.body.as_mut()
        {
            b["location"] = HOSTILE.into();
        }
    });
    let out = az.run_at(
        &endpoint,
        &[
            "plan", "--checks", "azure", "--login", "entra", "--id", &id, "-o", "json",
        ],
    );
    assert_eq!(out.status, 2, "{out:?}");
    let step = out
        .steps()
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .unwrap()
                .starts_with("install-entra-extension")
        })
        .unwrap_or_else(|| panic!("no extension step: {out:?}"));
    let command = step["command"].as_str().unwrap().to_string();
    assert!(
        command.contains("--location 'x;touch arcfix-pwned;#$(touch arcfix-pwned2)'"),
        "{command}"
    );
    // Typed into sh as shown: one argument, nothing run.
    let dir = tempfile::tempdir().unwrap();
    let az_echo = dir.path().join("az");
    std::fs::write(
        &az_echo,
        "#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az_echo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ran = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .current_dir(dir.path())
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .output()
        .unwrap();
    let words: Vec<String> = String::from_utf8_lossy(&ran.stdout)
        .lines()
        .map(String::from)
        .collect();
    let at = words.iter().position(|w| w == "--location").unwrap();
    assert_eq!(words[at + 1], HOSTILE, "{words:?}");
    assert!(!dir.path().join("arcfix-pwned").exists());
    assert!(!dir.path().join("arcfix-pwned2").exists());
    // The text view shows the same quoted line.
    let text = az.run_at(
        &endpoint,
        &["plan", "--checks", "azure", "--login", "entra", "--id", &id],
    );
    assert!(
        text.stdout
            .contains("--location 'x;touch arcfix-pwned;#$(touch arcfix-pwned2)'"),
        "{text:?}"
    );
}

#[test]
fn a_subscription_id_that_is_not_a_guid_never_reaches_a_request() {
    let az = Azure::builtin("healthy");
    let endpoint = hostile(&az, |a| {
        if a.method == "GET"
            && a.path == "/subscriptions"
            && let Some(list) = a.body.as_mut().and_then(|b| b["value"].as_array_mut())
        {
            for s in list {
                s["subscriptionId"] = "../../evil".into();
                s["id"] = "/subscriptions/../../evil".into();
            }
        }
        // Resource Graph refused: the machines are listed per subscription, in a path.
        if a.method == "POST" && a.path.contains("Microsoft.ResourceGraph") {
            a.status = 403;
            a.body = Some(
                serde_json::json!({"error": {"code": "AuthorizationFailed", "message": "no"}}),
            );
        }
    });
    let out = az.run_at(
        &endpoint,
        &[
            "check",
            "--checks",
            "azure",
            "--subscription",
            "Contoso Arc (simulated)",
        ],
    );
    for r in az.sim().requests() {
        let body = r.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
        assert!(
            !r.path.contains("evil") && !body.contains("evil"),
            "the id reached a request: {r:?}"
        );
    }
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("not a GUID"), "{out:?}");
    assert!(!out.stdout.contains('✓'), "{out:?}");
}

#[test]
fn line_breaks_and_bidi_controls_from_azure_cannot_forge_a_line() {
    const FORGED: &str = "Disconnected\n✓ no problems found in azure\u{202e}";
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let endpoint = hostile(&az, |a| {
        if a.method == "GET"
            && a.path.to_ascii_lowercase().ends_with("/machines/web-01")
            && let Some(b) = a.body.as_mut()
        {
            b["properties"]["status"] = FORGED.into();
            b["properties"]["agentVersion"] = "1.47\n✓ no problems found\u{202e}".into();
        }
    });
    for args in [
        &["check", "--checks", "azure", "--id", &id][..],
        &["check", "--checks", "azure", "--id", &id, "-v"],
        &["plan", "--checks", "azure", "--id", &id, "-vv"],
    ] {
        let out = az.run_at(&endpoint, args);
        assert_eq!(out.status, 2, "{args:?}: {out:?}");
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !line_starting(text, "✓"),
                "{args:?}: a forged line: {out:?}"
            );
            assert!(!text.contains('\u{202e}'), "{args:?}: {out:?}");
        }
        // Shown, escaped, where the status is reported.
        assert!(
            out.stdout
                .contains("Disconnected\\n✓ no problems found in azure\\u{202e}"),
            "{args:?}: {out:?}"
        );
    }

    // An error code in a `-v` log line: one line, the forged ones never at column 0.
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let endpoint = hostile(&az, |a| {
        refuse_subscription_permissions(a);
        if a.status == 404
            && a.path
                .ends_with("/providers/Microsoft.Authorization/permissions")
        {
            a.status = 403;
            a.body = Some(serde_json::json!({"error": {
                "code": "Denied\n✓ no problems found in azure\n2026-12-07T00:00:00.000000Z  INFO forged\u{202e}",
                "message": "no\r\n✓ no problems found"
            }}));
        }
    });
    let out = az.run_at(
        &endpoint,
        &["check", "--checks", "azure", "--id", &id, "-v"],
    );
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.stderr.contains("Denied\\n✓ no problems found"),
        "{out:?}"
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!line_starting(text, "✓"), "a forged line: {out:?}");
        assert!(
            !line_starting(text, "2026-12-07T00:00:00"),
            "a forged log line: {out:?}"
        );
        assert!(!text.contains('\u{202e}'), "{out:?}");
    }
}

/// `policy apply`: an assignment whose identity's principal id is not a GUID
/// never aims a role assignment (it would go into a filter and a write), and
/// `policy status` prints no terminal control or forged id from Azure.
#[test]
fn a_policy_identity_or_state_from_azure_steers_no_write_and_no_terminal() {
    let az = Azure::builtin("policy");
    let sub = az.sim().scenario().subscriptions[0].id.clone();
    let endpoint = hostile(&az, |a| {
        let Some(body) = a.body.as_mut() else { return };
        if a.path.ends_with("/policyAssignments/arcfix-ssh") && body["identity"].is_object() {
            body["identity"]["principalId"] = Value::from("x' or principalId ne 'y");
        }
        if a.path.ends_with("/remediations")
            && let Some(list) = body["value"].as_array_mut()
        {
            list.push(serde_json::json!({
                "name": "arcfix-ssh-endpoint-1\u{1b}[2J",
                "properties": {
                    "policyAssignmentId": format!("/subscriptions/{}/providers/Microsoft.Authorization/policyAssignments/arcfix-ssh", a.path.split('/').nth(2).unwrap_or_default()),
                    "policyDefinitionReferenceId": "arcfix-ssh-endpoint\u{202e}",
                    "provisioningState": "Succeeded\u{1b}[2J\u{202e}",
                    "createdOn": "2026-12-07T00:00:00Z"
                }
            }));
        }
        if a.path.ends_with("/queryResults")
            && let Some(list) = body["value"].as_array_mut()
        {
            list.push(serde_json::json!({
                "resourceId": "/subscriptions/x/../../evil\u{1b}[31m",
                "complianceState": "NonCompliant",
                "policyDefinitionReferenceId": "arcfix-ssh-endpoint"
            }));
        }
    });
    let out = az.run_at(
        &endpoint,
        &[
            "policy",
            "apply",
            "--subscription",
            &sub,
            "--location",
            "eastus",
            "--yes",
        ],
    );
    assert_eq!(out.status, 3, "{out:?}");
    assert!(out.stdout.contains("is not a GUID"), "{out:?}");
    let writes = az.writes();
    assert!(
        writes
            .iter()
            .any(|w| w.contains("/policyAssignments/arcfix-ssh")),
        "{writes:#?}"
    );
    assert!(
        !writes.iter().any(|w| w.contains("/roleAssignments/")),
        "{writes:#?}"
    );
    // The remediations wait for the roles: none started.
    assert!(
        !writes.iter().any(|w| w.contains("/remediations/")),
        "{writes:#?}"
    );
    let status = az.run_at(&endpoint, &["policy", "status", "--subscription", &sub]);
    assert!(
        status.stdout.contains("arcfix-ssh-endpoint-1"),
        "{status:?}"
    );
    assert!(!status.stdout.contains('\u{1b}'), "{status:?}");
    assert!(!status.stdout.contains('\u{202e}'), "{status:?}");
    assert!(!status.stdout.contains("evil"), "{status:?}");
    let ids = az.run_at(
        &endpoint,
        &[
            "policy",
            "status",
            "--subscription",
            &sub,
            "--query",
            "non_compliant[].id",
            "-o",
            "tsv",
        ],
    );
    assert!(!ids.stdout.contains("evil"), "{ids:?}");
    no_secret(&az, &out);
}
