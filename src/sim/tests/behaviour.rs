//! The simulator behaves as ARM does: registration, the HybridConnectivity
//! state machine, routing and ids, api-versions, authentication, headers,
//! injected faults, and the request log.

use serde_json::json;

use crate::sim::tests::{COMPUTE, HC, MACHINE, RESOURCES, SUB, T, endpoint};
use crate::sim::{
    BucketSpec, GENERATED_PER_GROUP, Knobs, Scenario, UnregisteredError, fake_token_with,
};

#[test]
fn every_builtin_scenario_parses_and_names_its_machines() {
    for name in Scenario::builtin_names() {
        let s = Scenario::builtin(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s.name, *name);
        assert!(!s.machine_ids().is_empty(), "{name} has no machine");
        assert!(!s.description.is_empty(), "{name} has no description");
    }
    assert!(Scenario::builtin("nope").is_none());
    for required in [
        "demo",
        "healthy",
        "reader",
        "wrong-port",
        "disconnected",
        "windows",
    ] {
        assert!(Scenario::builtin_names().contains(&required), "{required}");
    }
}

#[test]
fn scenario_errors_name_the_problem() {
    let base = Scenario::builtin("healthy").unwrap();
    let mut v = serde_json::to_value(&base).unwrap();
    v["role_assignments"][0]["role"] = json!("Janitor");
    assert!(
        Scenario::from_json(&v.to_string())
            .unwrap_err()
            .contains("unknown role 'Janitor'")
    );
    let mut v = serde_json::to_value(&base).unwrap();
    v["caller"] = json!("nobody");
    assert!(
        Scenario::from_json(&v.to_string())
            .unwrap_err()
            .contains("caller 'nobody'")
    );
    let mut v = serde_json::to_value(&base).unwrap();
    v["subscriptions"][0]["resource_groups"][0]["machines"][0]["status"] = json!("Sleeping");
    assert!(
        Scenario::from_json(&v.to_string())
            .unwrap_err()
            .contains("Sleeping")
    );
    assert!(
        Scenario::from_json("{\"name\": 1}")
            .unwrap_err()
            .starts_with("invalid scenario")
    );
    let mut v = serde_json::to_value(&base).unwrap();
    v["surprise"] = json!(true);
    assert!(
        Scenario::from_json(&v.to_string()).is_err(),
        "unknown keys are mistakes"
    );
}

#[tokio::test]
async fn register_goes_registering_then_registered_after_the_polls() {
    let t = T::builtin("demo").await;
    let provider =
        format!("/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity?{RESOURCES}");
    assert_eq!(
        t.get(&provider).await.body["registrationState"],
        "NotRegistered"
    );
    let r = t
        .post(
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}"
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["registrationState"], "Registering");
    assert_eq!(r.body["namespace"], "Microsoft.HybridConnectivity");
    // Still refused while registering.
    assert_eq!(t.get(&format!("{}?{HC}", endpoint())).await.status, 409);
    assert_eq!(
        t.get(&provider).await.body["registrationState"],
        "Registering"
    );
    assert_eq!(
        t.get(&provider).await.body["registrationState"],
        "Registering"
    );
    assert_eq!(
        t.get(&provider).await.body["registrationState"],
        "Registered"
    );
    assert_eq!(
        t.get(&format!("{}?{HC}", endpoint())).await.status,
        404,
        "registered: now just no endpoint"
    );
    // Registering again changes nothing.
    let r = t
        .post(
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}"
            ),
            None,
        )
        .await;
    assert_eq!(r.body["registrationState"], "Registered");
}

#[tokio::test]
async fn register_polls_zero_and_never() {
    let mut s = Scenario::builtin("demo").unwrap();
    s.subscriptions[0].register_polls = Some(0);
    let t = T::start(s.clone()).await;
    let r = t
        .post(
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}"
            ),
            None,
        )
        .await;
    assert_eq!(r.body["registrationState"], "Registered");

    s.subscriptions[0].register_polls = None;
    let t = T::start(s).await;
    t.post(
        &format!(
            "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}"
        ),
        None,
    )
    .await;
    for _ in 0..5 {
        let r = t
            .get(&format!(
                "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity?{RESOURCES}"
            ))
            .await;
        assert_eq!(r.body["registrationState"], "Registering");
    }
}

#[tokio::test]
async fn unregistered_provider_errors_in_both_shapes() {
    let t = T::builtin("demo").await;
    let r = t
        .post(
            &format!("{}/listCredentials?{HC}", endpoint()),
            Some(json!({"serviceName": "SSH"})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "MissingSubscriptionRegistration");
    assert_eq!(
        r.message(),
        "The subscription is not registered to use namespace 'Microsoft.HybridConnectivity'. See \
         https://aka.ms/rps-not-found for how to register subscriptions."
    );
    assert_eq!(
        r.body["error"]["details"][0]["target"],
        "Microsoft.HybridConnectivity"
    );

    let mut s = Scenario::builtin("demo").unwrap();
    s.subscriptions[0].unregistered_error = UnregisteredError::NoRegisteredProviderFound;
    let t = T::start(s).await;
    let r = t.get(&format!("{}?{HC}", endpoint())).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "NoRegisteredProviderFound");
    assert!(r.message().starts_with(
        "No registered resource provider found for location 'eastus' and API version '2023-03-15' for type 'endpoints'."
    ));
    // HybridCompute is registered: machines still answer.
    assert_eq!(t.get(&format!("{MACHINE}?{COMPUTE}")).await.status, 200);
}

#[tokio::test]
async fn connectivity_state_machine_as_az_ssh_arc_sees_it() {
    let mut s = Scenario::builtin("demo").unwrap();
    s.subscriptions[0]
        .providers
        .insert("Microsoft.HybridConnectivity".into(), "Registered".into());
    let t = T::start(s).await;
    let creds = format!("{}/listCredentials?{HC}&expiresin=10800", endpoint());
    let ssh = json!({"serviceName": "SSH"});

    let r = t.post(&creds, Some(ssh.clone())).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    assert_eq!(
        r.message(),
        "The Resource 'Microsoft.HybridCompute/machines/web-01/providers/Microsoft.HybridConnectivity/endpoints/default' \
         under resource group 'arc-demo' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );

    // Endpoint PUT answers 200 even when it creates.
    let r = t
        .put(
            &format!("{}?{HC}", endpoint()),
            json!({"properties": {"type": "default"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        t.put(
            &format!("{}?{HC}", endpoint()),
            json!({"properties": {"type": "default"}})
        )
        .await
        .status,
        200
    );

    let r = t.post(&creds, Some(ssh.clone())).await;
    assert_eq!((r.status, r.code()), (412, "PreconditionFailed"));
    // Without serviceName there is nothing to precondition: relay only.
    assert_eq!(t.post(&creds, None).await.status, 200);

    let config = format!("{}/serviceConfigurations/SSH?{HC}", endpoint());
    let r = t
        .put(
            &config,
            json!({"properties": {"serviceName": "SSH", "port": "22"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["properties"]["port"], 22,
        "a digit string is stored as an integer"
    );
    let r = t
        .put(
            &config,
            json!({"properties": {"serviceName": "SSH", "port": 2222}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["properties"]["port"], 2222);
    let r = t
        .send("PATCH", &config, Some(json!({"properties": {"port": 22}})))
        .await;
    assert_eq!(
        (r.status, r.body["properties"]["port"].as_u64()),
        (200, Some(22))
    );

    let r = t.post(&creds, Some(ssh)).await;
    assert_eq!(r.status, 200);
    let relay = &r.body["relay"];
    assert!(relay["accessKey"].as_str().unwrap().starts_with(
        "SharedAccessSignature sr=http%3A%2F%2Fazgnrelay-eastus-l1.servicebus.windows.net%2F"
    ));
    assert!(
        relay["accessKey"]
            .as_str()
            .unwrap()
            .contains("&sig=SIM-SECRET-")
    );
    assert!(
        relay["serviceConfigurationToken"]
            .as_str()
            .unwrap()
            .starts_with("SIM-SECRET-")
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((relay["expiresOn"].as_i64().unwrap() - now - 10800).abs() < 60);
    assert_eq!(
        t.post(
            &format!("{}/listCredentials?{HC}&expiresin=5", endpoint()),
            None
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn children_of_a_missing_machine_have_no_parent() {
    let t = T::builtin("healthy").await;
    let ghost = MACHINE.replace("web-01", "ghost-01");
    let cases = [
        format!("{ghost}/providers/Microsoft.HybridConnectivity/endpoints/default?{HC}"),
        format!(
            "{ghost}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH?{HC}"
        ),
        format!("{ghost}/extensions/AADSSHLoginForLinux?{COMPUTE}"),
        format!("{ghost}/runCommands/x?{COMPUTE}"),
    ];
    for url in cases {
        let r = t.get(&url).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "ParentResourceNotFound"),
            "{url}"
        );
        assert_eq!(
            r.message(),
            "Can not perform requested operation on nested resource. Parent resource 'ghost-01' not found."
        );
    }
    let r = t.get(&format!("{ghost}?{COMPUTE}")).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    let r = t
        .get(&format!("{}/serviceConfigurations/WAC?{HC}", endpoint()))
        .await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    // ARM refuses before it looks: without rights there, a missing group is a 403.
    let elsewhere = format!("{}?{COMPUTE}", MACHINE.replace("arc-demo", "no-such-rg"));
    assert_eq!(t.get(&elsewhere).await.code(), "AuthorizationFailed");
    let t = T::builtin("demo").await;
    let r = t.get(&elsewhere).await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));
    assert_eq!(
        r.message(),
        "Resource group 'no-such-rg' could not be found."
    );
}

#[tokio::test]
async fn paths_are_case_insensitive_and_ids_canonical() {
    let t = T::builtin("healthy").await;
    let shouty = format!(
        "/SUBSCRIPTIONS/{}/resourcegroups/ARC-DEMO/providers/microsoft.hybridcompute/MACHINES/WEB-01",
        SUB.to_uppercase()
    );
    let r = t.get(&format!("{shouty}?{COMPUTE}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], MACHINE);
    assert_eq!(r.body["name"], "web-01");
    let r = t
        .get(&format!("{shouty}/PROVIDERS/microsoft.hybridconnectivity/ENDPOINTS/DEFAULT/serviceconfigurations/ssh?{HC}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["id"],
        format!("{}/serviceConfigurations/SSH", endpoint())
    );
    let r = t
        .put(
            &format!("{shouty}/providers/Microsoft.HybridConnectivity/endpoints/default?{HC}"),
            json!({"properties": {"type": "default"}}),
        )
        .await;
    assert_eq!(r.body["id"], endpoint());
}

#[tokio::test]
async fn api_versions_are_required_and_checked() {
    let t = T::builtin("healthy").await;
    let r = t.get(MACHINE).await;
    assert_eq!((r.status, r.code()), (400, "MissingApiVersionParameter"));
    let r = t
        .get(&format!("{}?api-version=2027-01-01", endpoint()))
        .await;
    assert_eq!((r.status, r.code()), (400, "NoRegisteredProviderFound"));
    assert!(
        r.message()
            .contains("The supported api-versions are '2023-03-15, 2024-12-01'"),
        "{}",
        r.message()
    );
    assert_eq!(
        t.get(&format!("{}?api-version=2024-12-01", endpoint()))
            .await
            .status,
        200
    );
    assert_eq!(
        t.get(&format!("{MACHINE}?api-version=2022-11-10"))
            .await
            .status,
        200
    );
    let r = t
        .get(&format!("{MACHINE}/runCommands?api-version=2024-07-10"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "NoRegisteredProviderFound"),
        "run commands are GA only in 2025-01-13"
    );
    let r = t
        .get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.HybridCompute?api-version=2019-01-01"
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidApiVersionParameter"));
    let r = t
        .get(&format!(
            "{MACHINE}/providers/Microsoft.Authorization/permissions?api-version=2015-07-01"
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidApiVersionParameter"));
    let r = t
        .post(
            "/providers/Microsoft.ResourceGraph/resources?api-version=2019-04-01",
            Some(json!({"query": "resources"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "NoRegisteredProviderFound"));
    for v in ["2021-03-01", "2022-10-01", "2024-04-01"] {
        let r = t
            .post(
                &format!("/providers/Microsoft.ResourceGraph/resources?api-version={v}"),
                Some(json!({"query": "resources"})),
            )
            .await;
        assert_eq!(r.status, 200, "{v}");
    }
}

#[tokio::test]
async fn authentication_failures_are_401() {
    let t = T::builtin("healthy").await;
    let url = format!("{MACHINE}?{COMPUTE}");
    let r = t.send_as(None, "GET", &url, None).await;
    assert_eq!((r.status, r.code()), (401, "AuthenticationFailed"));
    assert!(r.header("WWW-Authenticate").is_some());
    let r = t.send_as(Some("garbage"), "GET", &url, None).await;
    assert_eq!((r.status, r.code()), (401, "AuthenticationFailed"));
    let tenant = t.sim.scenario().tenant.clone();
    let stranger = crate::sim::fake_token(
        "99999999-9999-4999-8999-999999999999",
        "x@y.example",
        &tenant,
    );
    let r = t.send_as(Some(&stranger), "GET", &url, None).await;
    assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"));
    let expired = fake_token_with(
        &t.sim.scenario().caller,
        "alex@contoso.example",
        &tenant,
        1_000_000_000,
    );
    let r = t.send_as(Some(&expired), "GET", &url, None).await;
    assert_eq!((r.status, r.code()), (401, "ExpiredAuthenticationToken"));
    let other = crate::sim::fake_token(
        &t.sim.scenario().caller,
        "a@b",
        "00000000-0000-4000-8000-000000000000",
    );
    let r = t.send_as(Some(&other), "GET", &url, None).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "InvalidAuthenticationTokenTenant")
    );
    let log = t.sim.requests();
    assert!(!log[0].authorization_present && log[1].authorization_present);
    assert!(log.iter().all(|l| l.status == 401));
}

#[tokio::test]
async fn every_answer_carries_arm_headers() {
    let t = T::builtin("healthy").await;
    let url = format!(
        "{}{MACHINE}?{COMPUTE}",
        t.sim.base_url().trim_end_matches('/')
    );
    let r = t
        .http
        .get(&url)
        .bearer_auth(&t.token)
        .header("x-ms-correlation-request-id", "corr-1")
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    assert_eq!(h["x-ms-correlation-request-id"], "corr-1");
    assert!(h.contains_key("x-ms-request-id"));
    let routing = h["x-ms-routing-request-id"].to_str().unwrap().to_string();
    let parts: Vec<&str> = routing.split(':').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "EASTUS");
    assert_eq!(parts[1].len(), 16);
    assert!(parts[1].ends_with('Z') && parts[1].as_bytes()[8] == b'T');
    let first: u64 = h["x-ms-ratelimit-remaining-subscription-reads"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = t
        .http
        .get(&url)
        .bearer_auth(&t.token)
        .header("x-ms-client-request-id", "cli-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-ms-correlation-request-id"], "cli-2");
    let second: u64 = r.headers()["x-ms-ratelimit-remaining-subscription-reads"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(second < first, "{second} < {first}");
    let r = t
        .put(
            &format!("{}?{HC}", endpoint()),
            json!({"properties": {"type": "default"}}),
        )
        .await;
    assert!(
        r.header("x-ms-ratelimit-remaining-subscription-writes")
            .is_some()
    );
    // Errors too.
    let r = t.get(MACHINE).await;
    assert!(r.header("x-ms-request-id").is_some() && r.header("x-ms-routing-request-id").is_some());
}

#[tokio::test]
async fn throttling_answers_429_with_the_configured_retry_after() {
    let t = T::builtin("healthy").await;
    let url = format!("{MACHINE}?{COMPUTE}");
    t.sim.set_knobs(Knobs {
        throttle_every: 2,
        retry_after: Some("7".into()),
        ..Knobs::default()
    });
    assert_eq!(t.get(&url).await.status, 200);
    let r = t.get(&url).await;
    assert_eq!((r.status, r.code()), (429, "SubscriptionRequestsThrottled"));
    assert_eq!(r.header("Retry-After"), Some("7"));
    let caller = &t.sim.scenario().caller;
    assert_eq!(
        r.message(),
        format!(
            "Number of 'read' requests for subscription '{SUB}' actor '{caller}' exceeded. Please try again after '7' \
             seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional \
             information."
        )
    );
    let date =
        httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(3));
    t.sim.set_knobs(Knobs {
        throttle_every: 1,
        retry_after: Some(date.clone()),
        ..Knobs::default()
    });
    assert_eq!(t.get(&url).await.header("Retry-After"), Some(date.as_str()));
    t.sim.set_knobs(Knobs {
        throttle_every: 1,
        retry_after: None,
        ..Knobs::default()
    });
    let r = t.get(&url).await;
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").is_none());

    // A throttled write changes nothing.
    let r = t
        .put(
            &format!("{}/serviceConfigurations/SSH?{HC}", endpoint()),
            json!({"properties": {"serviceName": "SSH", "port": 2022}}),
        )
        .await;
    assert_eq!(r.status, 429);
    t.sim.set_knobs(Knobs::default());
    assert_eq!(
        t.get(&format!("{}/serviceConfigurations/SSH?{HC}", endpoint()))
            .await
            .body["properties"]["port"],
        22
    );
    let log = t.sim.requests();
    assert_eq!(
        log.iter().filter(|l| l.status == 429).count(),
        4,
        "faulted requests are logged"
    );
}

#[tokio::test]
async fn server_errors_alternate_500_and_503() {
    let t = T::builtin("healthy").await;
    let url = format!("{MACHINE}?{COMPUTE}");
    t.sim.set_knobs(Knobs {
        fail_every: 2,
        retry_after: Some("1".into()),
        ..Knobs::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(t.get(&url).await.status);
    }
    assert_eq!(statuses, [200, 500, 200, 503, 200, 500]);
    t.sim.set_knobs(Knobs {
        fail_every: 1,
        ..Knobs::default()
    });
    let a = t.get(&url).await;
    let b = t.get(&url).await;
    assert_eq!((a.status, a.code()), (500, "InternalServerError"));
    assert_eq!((b.status, b.code()), (503, "ServiceUnavailable"));
}

#[tokio::test]
async fn latency_slows_every_answer() {
    let t = T::builtin("healthy").await;
    t.sim.set_knobs(Knobs {
        latency_ms: 150,
        ..Knobs::default()
    });
    let start = std::time::Instant::now();
    assert_eq!(t.get(&format!("{MACHINE}?{COMPUTE}")).await.status, 200);
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn the_log_records_every_request_and_knows_writes() {
    let t = T::builtin("healthy").await;
    t.get(&format!("{MACHINE}?{COMPUTE}")).await;
    t.post(
        &format!("{}/listCredentials?{HC}", endpoint()),
        Some(json!({"serviceName": "SSH"})),
    )
    .await;
    t.post(
        &format!(
            "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}"
        ),
        None,
    )
    .await;
    t.put(
        &format!("{}?{HC}", endpoint()),
        json!({"properties": {"type": "default"}}),
    )
    .await;
    t.post(
        "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
        Some(json!({"query": "resources"})),
    )
    .await;
    let log = t.sim.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(
        log.iter().map(|l| l.is_write()).collect::<Vec<_>>(),
        [false, false, true, true, false]
    );
    assert_eq!(log[0].path, MACHINE);
    assert_eq!(log[0].query, COMPUTE);
    assert_eq!(log[1].body, Some(json!({"serviceName": "SSH"})));
    assert_eq!(log[3].method, "PUT");
    t.sim.clear_log();
    assert!(t.sim.requests().is_empty());
    // The whole history stays, for the REST spec check of everything sent.
    assert_eq!(t.sim.all_requests(), log);
    t.get(&format!("{MACHINE}?{COMPUTE}")).await;
    assert_eq!(t.sim.requests().len(), 1);
    assert_eq!(t.sim.all_requests().len(), 6);
}

#[tokio::test]
async fn machines_list_by_subscription_pages_with_next_link() {
    let t = T::builtin("fleet").await;
    let mut url =
        format!("/subscriptions/{SUB}/providers/Microsoft.HybridCompute/machines?{COMPUTE}");
    let mut names = Vec::new();
    loop {
        let r = t.get(&url).await;
        assert_eq!(r.status, 200);
        names.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_string()),
        );
        match r.body["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&t.sim.base_url()), "{next}");
                url = next
                    .trim_start_matches(t.sim.base_url().trim_end_matches('/'))
                    .to_string();
            }
            None => break,
        }
    }
    assert_eq!(names, ["web-01", "web-02", "web-03", "db-01", "db-win-01"]);
    let r = t.get(&format!("/subscriptions/{SUB}/resourceGroups/arc-web/providers/Microsoft.HybridCompute/machines?{COMPUTE}")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    assert!(r.body["nextLink"].is_string());
}

#[tokio::test]
async fn resource_graph_trims_to_what_the_caller_reads() {
    let t = T::builtin("reader").await;
    let q = json!({"query": "resources | where type =~ 'microsoft.hybridcompute/machines' | project id, name, status=tostring(properties.status), resourceGroup"});
    let r = t
        .post(
            "/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01",
            Some(q),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["data"],
        json!([{"id": MACHINE, "name": "web-01", "status": "Connected", "resourceGroup": "arc-demo"}])
    );
    let r = t
        .post(
            "/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01",
            Some(json!({"query": "resources | summarize count()"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "BadRequest"));
}

#[tokio::test]
async fn token_endpoint_issues_tokens_for_service_principals() {
    let t = T::builtin("fleet").await;
    let tenant = t.sim.scenario().tenant.clone();
    let url = format!("{}{tenant}/oauth2/v2.0/token", t.sim.base_url());
    let form = |secret: &str| {
        format!(
            "client_id=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d&client_secret={secret}&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
        )
    };
    let send = |body: String| {
        t.http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = send(form("SIM-SECRET-client-secret")).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    let token = v["access_token"].as_str().unwrap().to_string();
    let claims = crate::sim::token_claims(&token).unwrap();
    assert_eq!(
        (claims["appid"].as_str(), claims["idtyp"].as_str()),
        (Some("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"), Some("app"))
    );
    assert!(claims.get("upn").is_none(), "app tokens name no user");
    // The token works against ARM as the service principal (Reader of the subscription).
    let r = t.send_as(Some(&token), "GET", &format!("/subscriptions/{SUB}/resourceGroups/arc-web/providers/Microsoft.HybridCompute/machines/web-01?{COMPUTE}"), None).await;
    assert_eq!(r.status, 200);
    // ARM names an application by its app id.
    let r = t
        .send_as(Some(&token), "PUT", &format!("/subscriptions/{SUB}/resourceGroups/arc-web/providers/Microsoft.HybridCompute/machines/web-01/providers/Microsoft.HybridConnectivity/endpoints/default?{HC}"), Some(json!({"properties": {"type": "default"}})))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.message().starts_with("The client '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' with object id '2c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f'"), "{}", r.message());
    let r = send(form("wrong")).await.unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let t = T::builtin("healthy").await;
    assert_eq!(t.get(&format!("{MACHINE}?{COMPUTE}")).await.status, 200);
    let base = t.sim.base_url();
    let T { sim, http, .. } = t;
    tokio::time::timeout(std::time::Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown is prompt");
    assert!(
        http.get(format!("{base}subscriptions?{RESOURCES}"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_enforced_bucket_counts_down_then_refuses_with_retry_after() {
    let t = T::builtin("healthy").await;
    t.sim.set_knobs(Knobs {
        bucket: Some(BucketSpec::reads(3, 1)),
        ..Knobs::default()
    });
    let url = format!("{MACHINE}?{COMPUTE}");
    let reads = |r: &crate::sim::tests::Resp| {
        r.header("x-ms-ratelimit-remaining-subscription-reads")
            .map(str::to_string)
    };
    let mut left = Vec::new();
    for _ in 0..3 {
        let r = t.get(&url).await;
        assert_eq!(r.status, 200);
        left.push(reads(&r).unwrap());
    }
    assert_eq!(left, ["2", "1", "0"]);
    let r = t.get(&url).await;
    assert_eq!((r.status, r.code()), (429, "SubscriptionRequestsThrottled"));
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert_eq!(reads(&r).as_deref(), Some("0"));
    let caller = &t.sim.scenario().caller;
    assert!(
        r.message().starts_with(&format!(
            "Number of 'read' requests for subscription '{SUB}' actor '{caller}' exceeded. Please try again after '1' seconds"
        )),
        "{}",
        r.message()
    );
    // Writes have their own bucket (ARM's 200), and so has the tenant.
    let w = t
        .put(
            &format!("{}/serviceConfigurations/SSH?{HC}", endpoint()),
            json!({"properties": {"serviceName": "SSH", "port": 22}}),
        )
        .await;
    assert!(w.status < 300, "{}", w.status);
    assert_eq!(
        w.header("x-ms-ratelimit-remaining-subscription-writes"),
        Some("199")
    );
    let s = t.get(&format!("/subscriptions?{RESOURCES}")).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("x-ms-ratelimit-remaining-tenant-reads"), Some("2"));
    // A token is back after a second.
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    assert_eq!(t.get(&url).await.status, 200);
    // Not enforced (the default), the same bucket only counts.
    t.sim.set_knobs(Knobs::default());
    for _ in 0..260 {
        assert_eq!(t.get(&url).await.status, 200);
    }
    let left: u64 = reads(&t.get(&url).await).unwrap().parse().unwrap();
    assert!(left < 200, "{left} left after 261 reads");
}

#[test]
fn a_generated_fleet_is_valid_spread_out_and_mostly_healthy() {
    let s = Scenario::generated(10_000, 3);
    assert_eq!(s.machine_ids().len(), 10_000);
    assert_eq!(s.subscriptions.len(), 3);
    // As valid as a scenario file.
    let again = Scenario::from_json(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(again.machine_ids(), s.machine_ids());
    let groups: Vec<_> = s
        .subscriptions
        .iter()
        .flat_map(|x| &x.resource_groups)
        .collect();
    assert!(
        groups
            .iter()
            .all(|g| (1..=GENERATED_PER_GROUP).contains(&g.machines.len()))
    );
    assert_eq!(
        groups.len(),
        3 * 10_000_usize.div_ceil(3 * GENERATED_PER_GROUP)
    );
    let machines: Vec<_> = groups.iter().flat_map(|g| &g.machines).collect();
    let healthy = machines
        .iter()
        .filter(|m| {
            m.status == "Connected"
                && m.endpoint.as_ref().and_then(|e| e.ssh_port) == Some(22)
                && !m.agent_version.starts_with("1.30.")
        })
        .count();
    assert!((7_800..8_600).contains(&healthy), "{healthy} healthy");
    assert!(machines.iter().any(|m| m.endpoint.is_none()));
    assert!(machines.iter().any(|m| m.status == "Disconnected"));
    assert!(machines.iter().any(|m| m.os_type == "windows"));
}
