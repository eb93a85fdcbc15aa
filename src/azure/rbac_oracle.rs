//! The simulator is an oracle independent of the client: it decides with its
//! own matcher and Microsoft's published role definitions (`sim::rbac`), and
//! this differential test checks that the client's `azure::rbac` (which arcfix
//! uses to predict what the caller may do) agrees with it: on a table of cases
//! with known answers, on every built-in role × every action arcfix asks
//! about, on pairs of roles, and on wildcard patterns made from those actions.
//! It lives with the client: the simulator, tests included, imports no product code.

use std::path::Path;

use crate::azure::rbac as client;
use crate::sim::rbac as sim;

/// Every RBAC action string the product's checks name (`"Microsoft.X/…"`
/// literals in `src/checks` and `src/azure`, role tables aside), read from
/// the source so that a new action is compared as soon as it is used.
fn actions_arcfix_asks_about() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let literal = regex::Regex::new(r#""(Microsoft\.[A-Za-z]+(?:/[A-Za-z*]+)+)""#).unwrap();
    let mut found: Vec<String> = Vec::new();
    for dir in ["checks", "checks/azure", "azure"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .filter(|p| p.file_name().is_some_and(|n| n != "rbac.rs"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for c in literal.captures_iter(&text) {
                let a = c[1].to_string();
                let is_action = ["/read", "/write", "/delete", "/action"]
                    .iter()
                    .any(|v| a.to_ascii_lowercase().ends_with(v));
                if is_action && !a.contains('*') && !found.contains(&a) {
                    found.push(a);
                }
            }
        }
    }
    found
}

/// More actions near the ones arcfix uses, to exercise the patterns' edges.
const NEARBY: &[&str] = &[
    "Microsoft.HybridCompute/machines/extensions/read",
    "Microsoft.HybridCompute/machines/runCommands/read",
    "Microsoft.HybridCompute/machines/write",
    "Microsoft.HybridCompute/register/action",
    "Microsoft.HybridConnectivity/endpoints/read",
    "Microsoft.HybridConnectivity/endpoints/serviceConfigurations/read",
    "Microsoft.HybridConnectivity/endpoints/listManagedProxyDetails/action",
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.Authorization/roleAssignments/delete",
    "Microsoft.Authorization/elevateAccess/Action",
    "Microsoft.Authorization/permissions/read",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/login/action",
    "Microsoft.Compute/virtualMachines/loginAsAdmin/action",
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Support/supportTickets/write",
    "Microsoft.Subscription/cancel/action",
    "microsoft.hybridconnectivity/endpoints/listcredentials/action",
    "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
];

fn all_actions() -> Vec<String> {
    let mut all = actions_arcfix_asks_about();
    all.extend(NEARBY.iter().map(|s| s.to_string()));
    all
}

fn to_client(blocks: &[sim::Permission]) -> Vec<client::Permission> {
    blocks
        .iter()
        .map(|b| serde_json::from_value(serde_json::to_value(b).unwrap()).unwrap())
        .collect()
}

fn block(
    actions: &[&str],
    not_actions: &[&str],
    data: &[&str],
    not_data: &[&str],
) -> sim::Permission {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    sim::Permission {
        actions: v(actions),
        not_actions: v(not_actions),
        data_actions: v(data),
        not_data_actions: v(not_data),
    }
}

/// Both decide the same for control-plane and data-plane use of `action`;
/// returns the (control, data) answer.
fn agree(blocks: &[sim::Permission], action: &str, what: &str) -> (bool, bool) {
    let theirs = to_client(blocks);
    let control = sim::allows(blocks, action);
    let data = sim::allows_data(blocks, action);
    assert_eq!(
        control,
        client::allows(&theirs, action),
        "allows({action}) differs for {what}"
    );
    assert_eq!(
        data,
        client::allows_data(&theirs, action),
        "allows_data({action}) differs for {what}"
    );
    (control, data)
}

#[test]
fn the_actions_read_from_the_product_are_the_ones_it_checks() {
    let found = actions_arcfix_asks_about();
    for known in [
        "Microsoft.HybridConnectivity/register/action",
        "Microsoft.HybridConnectivity/endpoints/write",
        "Microsoft.HybridConnectivity/endpoints/serviceConfigurations/write",
        "Microsoft.HybridConnectivity/endpoints/listCredentials/action",
        "Microsoft.HybridCompute/machines/read",
        "Microsoft.HybridCompute/machines/login/action",
        "Microsoft.HybridCompute/machines/loginAsAdmin/action",
        "Microsoft.HybridCompute/machines/extensions/write",
        "Microsoft.Authorization/roleAssignments/write",
    ] {
        assert!(
            found.iter().any(|f| f == known),
            "{known} not found in {found:?}"
        );
    }
}

#[test]
fn a_table_of_cases_with_known_answers() {
    const LC: &str = "Microsoft.HybridConnectivity/endpoints/listCredentials/action";
    const LOGIN: &str = "Microsoft.HybridCompute/machines/login/action";
    // One block granting these actions, and nothing else.
    let only = |actions: &[&str]| vec![block(actions, &[], &[], &[])];
    // Contributor's notActions as published.
    let contributor = || {
        vec![block(
            &["*"],
            &["Microsoft.Authorization/*/Write"],
            &[],
            &[],
        )]
    };
    // (blocks, action, allowed as a control-plane action, allowed as a data action)
    let cases: Vec<(Vec<sim::Permission>, &str, bool, bool)> = vec![
        (vec![], LC, false, false),
        (only(&["*"]), LC, true, false),
        (only(&[LC]), LC, true, false),
        (only(&[&LC.to_uppercase()]), LC, true, false),
        (only(&["*/read"]), LC, false, false),
        (
            only(&["*/read"]),
            "Microsoft.HybridCompute/machines/read",
            true,
            false,
        ),
        (only(&["Microsoft.HybridConnectivity/*"]), LC, true, false),
        (
            only(&["Microsoft.HybridConnectivity/endpoints/*/action"]),
            LC,
            true,
            false,
        ),
        (
            only(&["Microsoft.HybridConnectivity/endpoint/*"]),
            LC,
            false,
            false,
        ),
        (
            vec![block(&["*"], &["Microsoft.HybridConnectivity/*"], &[], &[])],
            LC,
            false,
            false,
        ),
        (
            vec![block(&["*"], &["*/action"], &[], &[])],
            LC,
            false,
            false,
        ),
        // A notAction removes only from its own block.
        (
            vec![
                block(&["*"], &["Microsoft.HybridConnectivity/*"], &[], &[]),
                block(&[LC], &[], &[], &[]),
            ],
            LC,
            true,
            false,
        ),
        // Data actions are apart from actions, both ways.
        (vec![block(&[], &[], &[LOGIN], &[])], LOGIN, false, true),
        (only(&[LOGIN]), LOGIN, true, false),
        (vec![block(&[], &[], &["*"], &[LOGIN])], LOGIN, false, false),
        (
            vec![block(&[], &[], &["Microsoft.HybridCompute/*"], &[])],
            "Microsoft.HybridCompute/machines/loginAsAdmin/action",
            false,
            true,
        ),
        (
            vec![block(&[], &[], &[LOGIN], &[])],
            "Microsoft.HybridCompute/machines/loginAsAdmin/action",
            false,
            false,
        ),
        // `/*/` also stands for no segment (the login roles read machines).
        (
            only(&["Microsoft.HybridCompute/machines/*/read"]),
            "Microsoft.HybridCompute/machines/read",
            true,
            false,
        ),
        (
            only(&["Microsoft.HybridCompute/machines/*/read"]),
            "Microsoft.HybridCompute/machines/extensions/read",
            true,
            false,
        ),
        (
            only(&["Microsoft.HybridCompute/machines/*/read"]),
            "Microsoft.HybridCompute/machines/write",
            false,
            false,
        ),
        // Contributor's notActions as published.
        (
            contributor(),
            "Microsoft.Authorization/roleAssignments/write",
            false,
            false,
        ),
        (
            contributor(),
            "Microsoft.HybridConnectivity/register/action",
            true,
            false,
        ),
    ];
    for (i, (blocks, action, control, data)) in cases.iter().enumerate() {
        let got = agree(blocks, action, &format!("case {i}"));
        assert_eq!(got, (*control, *data), "case {i}: {action} with {blocks:?}");
    }
}

#[test]
fn every_published_role_agrees_on_every_action_arcfix_asks_about() {
    let actions = all_actions();
    let mut granted = 0;
    for role in sim::roles() {
        for action in &actions {
            let (control, data) = agree(&role.permissions, action, &role.role_name);
            granted += usize::from(control) + usize::from(data);
        }
    }
    // Not vacuous: some actions are granted and some refused.
    assert!(granted > 0 && granted < sim::roles().len() * actions.len());
    // Pairs of roles held together (notActions of one never cancel the other).
    for a in sim::roles() {
        for b in sim::roles() {
            let both = [a.permissions.clone(), b.permissions.clone()].concat();
            for action in &actions {
                agree(&both, action, &format!("{} + {}", a.role_name, b.role_name));
            }
        }
    }
}

#[test]
fn wildcard_patterns_made_from_the_actions_match_alike() {
    let actions = all_actions();
    let mut patterns: Vec<String> = vec!["*".into(), "*/read".into(), "*/action".into()];
    for a in &actions {
        let segments: Vec<&str> = a.split('/').collect();
        for i in 0..segments.len() {
            let mut star = segments.clone();
            star[i] = "*";
            patterns.push(star.join("/"));
            patterns.push(format!("{}/*", segments[..=i].join("/")));
        }
        patterns.push(a.to_ascii_uppercase());
        patterns.push(format!("{}*", &a[..a.len() / 2]));
    }
    let mut matched = 0;
    for p in &patterns {
        for a in &actions {
            let ours = sim::matches(p, a);
            assert_eq!(ours, client::matches(p, a), "pattern {p} on {a}");
            matched += usize::from(ours);
        }
    }
    assert!(matched > actions.len() && matched < patterns.len() * actions.len());
}

#[test]
fn the_clients_built_in_roles_are_the_published_ones() {
    for theirs in client::BUILT_IN_ROLES {
        let ours = sim::role(theirs.guid)
            .unwrap_or_else(|| panic!("{} ({}) is not published", theirs.name, theirs.guid));
        assert_eq!(ours.role_name, theirs.name);
        assert_eq!(
            to_client(&ours.permissions),
            [theirs.permission()],
            "{}",
            theirs.name
        );
    }
}
