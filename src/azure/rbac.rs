//! Azure RBAC evaluation, exactly as ARM does it: an action is allowed when one
//! permission entry has a matching `actions` pattern and no matching
//! `notActions` pattern in that same entry; data actions likewise, apart.
//! Patterns use `*` wildcards and compare case-insensitively. The simulator
//! enforces permissions with the same code the client uses to predict them.

use serde::{Deserialize, Serialize};

/// One entry of `Microsoft.Authorization/permissions` (one per role granted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// Whether `action` (a control-plane action) is allowed by any entry.
pub fn allows(perms: &[Permission], action: &str) -> bool {
    perms.iter().any(|p| {
        p.actions.iter().any(|a| matches(a, action))
            && !p.not_actions.iter().any(|a| matches(a, action))
    })
}

/// Whether `data_action` is allowed by any entry.
pub fn allows_data(perms: &[Permission], data_action: &str) -> bool {
    perms.iter().any(|p| {
        p.data_actions.iter().any(|a| matches(a, data_action))
            && !p.not_data_actions.iter().any(|a| matches(a, data_action))
    })
}

/// Wildcard match, `*` standing for any run of characters, ignoring case. A
/// `/*/` segment also matches a single `/` (`machines/*/read` grants
/// `machines/read`, as the login roles rely on).
pub fn matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action) || (pattern.contains("/*/") && glob(&pattern.replace("/*/", "/"), action))
}

fn glob(pattern: &str, action: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let a: Vec<char> = action.to_ascii_lowercase().chars().collect();
    // Iterative glob with backtracking to the last star.
    let (mut pi, mut ai) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ai < a.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ai;
            pi += 1;
        } else if pi < p.len() && p[pi] == a[ai] {
            pi += 1;
            ai += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ai = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Built-in roles the tool names or grants, with their real permission blocks
/// (the parts that matter for SSH).
pub struct BuiltInRole {
    pub name: &'static str,
    pub guid: &'static str,
    pub actions: &'static [&'static str],
    pub not_actions: &'static [&'static str],
    pub data_actions: &'static [&'static str],
}

impl BuiltInRole {
    pub fn permission(&self) -> Permission {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Permission {
            actions: v(self.actions),
            not_actions: v(self.not_actions),
            data_actions: v(self.data_actions),
            not_data_actions: vec![],
        }
    }
}

pub const OWNER: BuiltInRole = BuiltInRole {
    name: "Owner",
    guid: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    actions: &["*"],
    not_actions: &[],
    data_actions: &[],
};
pub const CONTRIBUTOR: BuiltInRole = BuiltInRole {
    name: "Contributor",
    guid: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    actions: &["*"],
    not_actions: &[
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action",
        "Microsoft.Purview/consents/write",
        "Microsoft.Purview/consents/delete",
        "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
        "Microsoft.Subscription/cancel/action",
        "Microsoft.Subscription/enable/action",
    ],
    data_actions: &[],
};
pub const READER: BuiltInRole = BuiltInRole {
    name: "Reader",
    guid: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    actions: &["*/read"],
    not_actions: &[],
    data_actions: &[],
};
pub const USER_ACCESS_ADMINISTRATOR: BuiltInRole = BuiltInRole {
    name: "User Access Administrator",
    guid: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
    not_actions: &[],
    data_actions: &[],
};
pub const VM_LOCAL_USER_LOGIN: BuiltInRole = BuiltInRole {
    name: "Virtual Machine Local User Login",
    guid: "602da2ba-a5c2-41da-b01d-5360126ab525",
    actions: &[
        "Microsoft.HybridCompute/machines/*/read",
        "Microsoft.HybridConnectivity/endpoints/listCredentials/action",
    ],
    not_actions: &[],
    data_actions: &[],
};
pub const VM_USER_LOGIN: BuiltInRole = BuiltInRole {
    name: "Virtual Machine User Login",
    guid: "fb879df8-f326-4884-b1cf-06f3ad86be52",
    actions: &[
        "Microsoft.Network/publicIPAddresses/read",
        "Microsoft.Network/virtualNetworks/read",
        "Microsoft.Network/loadBalancers/read",
        "Microsoft.Network/networkInterfaces/read",
        "Microsoft.Compute/virtualMachines/*/read",
        "Microsoft.HybridCompute/machines/*/read",
        "Microsoft.HybridConnectivity/endpoints/listCredentials/action",
    ],
    not_actions: &[],
    data_actions: &[
        "Microsoft.Compute/virtualMachines/login/action",
        "Microsoft.HybridCompute/machines/login/action",
    ],
};
pub const VM_ADMINISTRATOR_LOGIN: BuiltInRole = BuiltInRole {
    name: "Virtual Machine Administrator Login",
    guid: "1c0163c0-47e6-4577-8991-ea5c82e286e4",
    actions: VM_USER_LOGIN.actions,
    not_actions: &[],
    data_actions: &[
        "Microsoft.Compute/virtualMachines/login/action",
        "Microsoft.Compute/virtualMachines/loginAsAdmin/action",
        "Microsoft.HybridCompute/machines/login/action",
        "Microsoft.HybridCompute/machines/loginAsAdmin/action",
    ],
};

pub const BUILT_IN_ROLES: &[&BuiltInRole] = &[
    &OWNER,
    &CONTRIBUTOR,
    &READER,
    &USER_ACCESS_ADMINISTRATOR,
    &VM_LOCAL_USER_LOGIN,
    &VM_USER_LOGIN,
    &VM_ADMINISTRATOR_LOGIN,
];

/// Looks a built-in role up by name or GUID (or a role definition id ending in it).
pub fn role(name_or_id: &str) -> Option<&'static BuiltInRole> {
    let guid = name_or_id.rsplit('/').next().unwrap_or(name_or_id);
    BUILT_IN_ROLES
        .iter()
        .copied()
        .find(|r| r.name.eq_ignore_ascii_case(name_or_id) || r.guid.eq_ignore_ascii_case(guid))
}

/// Whether `id` is a role definition id as ARM gives them in role
/// assignments, `[/subscriptions/{guid}]/providers/Microsoft.Authorization/roleDefinitions/{guid}`:
/// only such an id is looked up (`role`) or read (it becomes a request path).
pub fn is_role_definition_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    let rest = match parts.as_slice() {
        ["", sub, guid, rest @ ..]
            if sub.eq_ignore_ascii_case("subscriptions") && crate::target::is_guid(guid) =>
        {
            rest
        }
        ["", rest @ ..] => rest,
        _ => return false,
    };
    matches!(rest, [p, ns, defs, guid]
        if p.eq_ignore_ascii_case("providers")
            && ns.eq_ignore_ascii_case("Microsoft.Authorization")
            && defs.eq_ignore_ascii_case("roleDefinitions")
            && crate::target::is_guid(guid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_definition_ids_are_checked_before_use() {
        let g = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
        assert!(is_role_definition_id(&format!(
            "/subscriptions/00000000-1111-2222-3333-444444444444/providers/Microsoft.Authorization/roleDefinitions/{g}"
        )));
        assert!(is_role_definition_id(&format!(
            "/providers/microsoft.authorization/roledefinitions/{g}"
        )));
        for bad in [
            format!("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/{g}"),
            format!(
                "/subscriptions/00000000-1111-2222-3333-444444444444/../../providers/Microsoft.Authorization/roleDefinitions/{g}"
            ),
            format!("/providers/Microsoft.Authorization/roleDefinitions/../../x/{g}"),
            format!("https://evil/providers/Microsoft.Authorization/roleDefinitions/{g}"),
            "/providers/Microsoft.Authorization/roleDefinitions/not-a-guid".into(),
            String::new(),
        ] {
            assert!(!is_role_definition_id(&bad), "{bad}");
        }
    }

    #[test]
    fn wildcards_match_like_arm() {
        assert!(matches("*", "Microsoft.HybridConnectivity/endpoints/write"));
        assert!(matches("*/read", "Microsoft.HybridCompute/machines/read"));
        assert!(!matches("*/read", "Microsoft.HybridCompute/machines/write"));
        assert!(matches(
            "Microsoft.HybridCompute/machines/*/read",
            "microsoft.hybridcompute/machines/extensions/read"
        ));
        assert!(matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/read"
        ));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("", "") && !matches("", "x"));
    }

    #[test]
    fn not_actions_subtract_within_the_same_entry_only() {
        let contributor = [CONTRIBUTOR.permission()];
        assert!(allows(
            &contributor,
            "Microsoft.HybridConnectivity/endpoints/write"
        ));
        assert!(!allows(
            &contributor,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        // A second role granting it puts it back.
        let both = [
            CONTRIBUTOR.permission(),
            USER_ACCESS_ADMINISTRATOR.permission(),
        ];
        assert!(allows(
            &both,
            "Microsoft.Authorization/roleAssignments/write"
        ));
    }

    #[test]
    fn data_actions_are_apart_from_actions() {
        let owner = [OWNER.permission()];
        assert!(!allows_data(
            &owner,
            "Microsoft.HybridCompute/machines/login/action"
        ));
        let login = [VM_USER_LOGIN.permission()];
        assert!(allows_data(
            &login,
            "Microsoft.HybridCompute/machines/login/action"
        ));
        assert!(!allows(
            &login,
            "Microsoft.HybridCompute/machines/login/action"
        ));
        assert!(allows(
            &[VM_LOCAL_USER_LOGIN.permission()],
            "Microsoft.HybridCompute/machines/read"
        ));
    }

    #[test]
    fn roles_by_name_or_id() {
        assert_eq!(role("contributor").unwrap().guid, CONTRIBUTOR.guid);
        assert_eq!(
            role("/providers/Microsoft.Authorization/roleDefinitions/602da2ba-a5c2-41da-b01d-5360126ab525").unwrap().name,
            "Virtual Machine Local User Login"
        );
        assert!(role("Nobody").is_none());
    }
}
