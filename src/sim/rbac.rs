//! The simulator's own Azure RBAC: the built-in role definitions as Microsoft
//! publishes them (`tests/data/roles/*.json`, see its SOURCES.md), and a
//! matcher written apart from the client's, so that the simulator is an
//! independent oracle for what the client predicts.
//!
//! ARM's rule: an action is allowed when one permission block has a matching
//! `actions` pattern and no matching `notActions` pattern in that same block
//! (data actions likewise, with `dataActions` / `notDataActions`, never mixed
//! with control-plane actions). Patterns compare ignoring ASCII case; `*`
//! stands for any run of characters, and a `/*/` segment also for no segment
//! (`machines/*/read` grants `machines/read`, which the login roles need to
//! "view Virtual Machines in the portal", as their descriptions say).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// One block of a role definition's `permissions`, and one entry of the
/// permissions API's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// A built-in role definition in the docs' published (flattened) form.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleDefinition {
    pub role_name: String,
    /// The role's GUID.
    pub name: String,
    pub description: String,
    pub role_type: String,
    pub assignable_scopes: Vec<String>,
    pub permissions: Vec<Permission>,
}

const ROLE_FILES: &[(&str, &str)] = &[
    (
        "owner.json",
        include_str!("../../tests/data/roles/owner.json"),
    ),
    (
        "contributor.json",
        include_str!("../../tests/data/roles/contributor.json"),
    ),
    (
        "reader.json",
        include_str!("../../tests/data/roles/reader.json"),
    ),
    (
        "user-access-administrator.json",
        include_str!("../../tests/data/roles/user-access-administrator.json"),
    ),
    (
        "virtual-machine-local-user-login.json",
        include_str!("../../tests/data/roles/virtual-machine-local-user-login.json"),
    ),
    (
        "virtual-machine-user-login.json",
        include_str!("../../tests/data/roles/virtual-machine-user-login.json"),
    ),
    (
        "virtual-machine-administrator-login.json",
        include_str!("../../tests/data/roles/virtual-machine-administrator-login.json"),
    ),
    (
        "resource-policy-contributor.json",
        include_str!("../../tests/data/roles/resource-policy-contributor.json"),
    ),
    (
        "azure-connected-machine-resource-administrator.json",
        include_str!("../../tests/data/roles/azure-connected-machine-resource-administrator.json"),
    ),
];

static ROLES: LazyLock<Vec<RoleDefinition>> = LazyLock::new(|| {
    ROLE_FILES
        .iter()
        .map(|(file, text)| {
            // Data compiled in and checked by the tests: a broken file is a bug.
            serde_json::from_str(text).unwrap_or_else(|e| panic!("tests/data/roles/{file}: {e}"))
        })
        .collect()
});

/// Every built-in role the simulator knows.
pub(crate) fn roles() -> &'static [RoleDefinition] {
    &ROLES
}

/// A role by display name (ignoring case), by GUID, or by a role definition
/// id ending in its GUID.
pub(crate) fn role(name_or_id: &str) -> Option<&'static RoleDefinition> {
    let last = name_or_id.rsplit('/').next().unwrap_or_default();
    roles()
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name_or_id) || r.name.eq_ignore_ascii_case(last))
}

/// Whether a control-plane `action` is allowed by the blocks.
pub(crate) fn allows(blocks: &[Permission], action: &str) -> bool {
    blocks
        .iter()
        .any(|b| granted(&b.actions, &b.not_actions, action))
}

/// Whether a data-plane `data_action` is allowed by the blocks. (The simulator
/// refuses no data action itself: logins happen on the server; its tests and
/// the differential test use this.)
#[cfg(test)]
pub(crate) fn allows_data(blocks: &[Permission], data_action: &str) -> bool {
    blocks
        .iter()
        .any(|b| granted(&b.data_actions, &b.not_data_actions, data_action))
}

fn granted(allow: &[String], deny: &[String], action: &str) -> bool {
    allow.iter().any(|p| matches(p, action)) && !deny.iter().any(|p| matches(p, action))
}

/// Whether one pattern matches one action.
pub(crate) fn matches(pattern: &str, action: &str) -> bool {
    wildcard(pattern.as_bytes(), action.as_bytes())
}

fn wildcard(p: &[u8], a: &[u8]) -> bool {
    // `/*/` may stand for a single `/`: drop the `/*` and go on from the next `/`.
    if p.starts_with(b"/*/") && wildcard(&p[2..], a) {
        return true;
    }
    match p.split_first() {
        None => a.is_empty(),
        Some((b'*', rest)) => (0..=a.len()).any(|skip| wildcard(rest, &a[skip..])),
        Some((c, rest)) => a
            .split_first()
            .is_some_and(|(d, more)| c.eq_ignore_ascii_case(d) && wildcard(rest, more)),
    }
}

/// The simulator's own GUID check (8-4-4-4-12 hex digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_arm_evaluates_them() {
        let yes = [
            ("*", "Microsoft.HybridConnectivity/endpoints/write"),
            ("*/read", "Microsoft.HybridCompute/machines/read"),
            ("*/READ", "microsoft.hybridcompute/machines/read"),
            (
                "Microsoft.HybridCompute/machines/*/read",
                "Microsoft.HybridCompute/machines/extensions/read",
            ),
            (
                "Microsoft.HybridCompute/machines/*/read",
                "Microsoft.HybridCompute/machines/read",
            ),
            (
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/roleAssignments/write",
            ),
            (
                "Microsoft.Authorization/*",
                "Microsoft.Authorization/roleAssignments/write",
            ),
            ("a*b*c", "aXXbYYc"),
            ("", ""),
        ];
        for (p, a) in yes {
            assert!(matches(p, a), "{p} should match {a}");
        }
        let no = [
            ("*/read", "Microsoft.HybridCompute/machines/write"),
            (
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/roleAssignments/read",
            ),
            (
                "Microsoft.HybridCompute/machines/*/read",
                "Microsoft.HybridCompute/machinesread",
            ),
            ("Microsoft.Support/*", "Microsoft.SupportX/tickets/read"),
            ("a*b*c", "aXXbYY"),
            ("", "x"),
            ("x", ""),
        ];
        for (p, a) in no {
            assert!(!matches(p, a), "{p} should not match {a}");
        }
    }

    #[test]
    fn the_published_roles_load_with_their_ids() {
        let names: Vec<(&str, &str)> = roles()
            .iter()
            .map(|r| (r.role_name.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
                ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
                ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
                (
                    "User Access Administrator",
                    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
                ),
                (
                    "Virtual Machine Local User Login",
                    "602da2ba-a5c2-41da-b01d-5360126ab525"
                ),
                (
                    "Virtual Machine User Login",
                    "fb879df8-f326-4884-b1cf-06f3ad86be52"
                ),
                (
                    "Virtual Machine Administrator Login",
                    "1c0163c0-47e6-4577-8991-ea5c82e286e4"
                ),
                (
                    "Resource Policy Contributor",
                    "36243c78-bf99-498c-9df9-86d9f8d28608"
                ),
                (
                    "Azure Connected Machine Resource Administrator",
                    "cd570a14-e51a-42ad-bac8-bafd67325302"
                ),
            ]
        );
        for r in roles() {
            assert_eq!(r.role_type, "BuiltInRole");
            assert_eq!(r.assignable_scopes, ["/"]);
            assert_eq!(r.permissions.len(), 1, "{}", r.role_name);
            assert!(is_guid(&r.name));
        }
        assert_eq!(
            role("contributor").unwrap().name,
            "b24988ac-6180-42a0-ab88-20f7382dd24c"
        );
        assert_eq!(
            role("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/602DA2BA-A5C2-41DA-B01D-5360126AB525")
                .unwrap()
                .role_name,
            "Virtual Machine Local User Login"
        );
        assert!(role("Janitor").is_none());
    }

    #[test]
    fn not_actions_subtract_within_their_own_block_only() {
        let p = |r: &str| role(r).unwrap().permissions.clone();
        let contributor = p("Contributor");
        assert!(allows(
            &contributor,
            "Microsoft.HybridConnectivity/register/action"
        ));
        assert!(!allows(
            &contributor,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        let both = [contributor, p("User Access Administrator")].concat();
        assert!(allows(
            &both,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        let owner = p("Owner");
        assert!(!allows_data(
            &owner,
            "Microsoft.HybridCompute/machines/login/action"
        ));
        let login = p("Virtual Machine User Login");
        assert!(allows_data(
            &login,
            "Microsoft.HybridCompute/machines/login/action"
        ));
        assert!(!allows(
            &login,
            "Microsoft.HybridCompute/machines/login/action"
        ));
        assert!(!allows_data(
            &login,
            "Microsoft.HybridCompute/machines/loginAsAdmin/action"
        ));
    }

    #[test]
    fn guids_are_8_4_4_4_12_hex() {
        assert!(is_guid("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"));
        assert!(!is_guid("0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d"));
        assert!(!is_guid("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4g"));
        assert!(!is_guid("not-a-guid"));
    }
}
