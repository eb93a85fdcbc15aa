//! `arcfix explain` and `arcfix rules` as a user runs them.

use crate::harness::Sandbox;

/// The ten ids of the contract, whose meaning never changes.
const CONTRACT_IDS: [&str; 10] = [
    "client-binaries-missing",
    "ps-module-version-mismatch",
    "arcproxy-not-installed",
    "proxy-not-executable",
    "ssh-port-not-enabled",
    "sshd-not-running",
    "endpoint-permission-missing",
    "login-role-missing",
    "entra-extension-missing",
    "rp-not-registered",
];

#[test]
fn a_pasted_log_on_stdin_finds_each_problem_most_specific_first() {
    let log = "\x1b[33mWARNING\x1b[0m: something\r\n\
               OpenSSH_9.2p1 Debian, OpenSSL 3.0.11\r\n\
               {\"level\":\"fatal\",\"msg\":\"sshproxy: error connecting to the address: 503 connection to localhost:22 failed: dial tcp [::1]:22: connectex: No connection could be made because the target machine actively refused it.. websocket: bad handshake\",\"proxyVersion\":\"1.3.022941\"}\r\n\
               Request for Azure Relay Information Failed: (NoRegisteredProviderFound) Code: NoRegisteredProviderFound\r\n";
    let out = Sandbox::new()
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(log.as_bytes())
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["schema_version"], 1);
    let ids: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"sshd-not-running") && ids.contains(&"rp-not-registered"),
        "{ids:?}"
    );
    let first = &v["matches"][0];
    for key in ["id", "title", "fix", "commands"] {
        assert!(!first[key].is_null(), "{key} missing: {first}");
    }
}

#[test]
fn text_from_arguments_prints_the_fix_and_commands() {
    let out = Sandbox::new()
        .cmd()
        .args(&["explain", "Failed to create ssh key file with error: [Errno 2] No such file or directory: 'ssh-keygen'."])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.stdout.contains("client-binaries-missing"), "{out:?}");
    assert!(out.stdout.contains("--ssh-client-folder"), "{out:?}");
}

#[test]
fn nothing_known_exits_2_with_an_empty_list() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(&["explain", "-o", "json", "all is well"])
        .run();
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(out.json()["matches"], serde_json::json!([]));
    let text = s.cmd().args(&["explain", "all is well"]).run();
    assert_eq!(text.status, 2);
    assert!(text.stdout.contains("No known problem matches"), "{text:?}");
}

#[test]
fn non_utf8_input_is_a_one_line_error() {
    let out = Sandbox::new()
        .cmd()
        .args(&["explain"])
        .stdin(&[b'o', b'k', 0xff, 0xfe, b'\n'])
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(
        out.stderr,
        "arcfix: error: standard input is not UTF-8 text (invalid byte at offset 2)\n"
    );
}

#[test]
fn a_known_failure_that_is_none_of_the_ten_is_named_as_such() {
    let out = Sandbox::new()
        .cmd()
        .args(&[
            "explain",
            "-o",
            "json",
            "ssh: connect to host 10.0.0.5 port 22: Connection timed out",
        ])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    let m = &out.json()["matches"][0];
    assert_eq!(m["known"], false, "{m}");
    assert!(!CONTRACT_IDS.contains(&m["id"].as_str().unwrap()), "{m}");
}

#[test]
fn rules_lists_every_contract_id() {
    let out = Sandbox::new().cmd().args(&["rules", "-o", "json"]).run();
    assert_eq!(out.status, 0);
    let ids: Vec<String> = out.json()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    for id in CONTRACT_IDS {
        assert!(ids.iter().any(|i| i == id), "{id} missing from rules");
    }
    let text = Sandbox::new().cmd().args(&["rules"]).run();
    assert!(text.stdout.contains("rp-not-registered"));
}

#[test]
fn a_non_utf8_argument_is_bad_input() {
    use std::os::unix::ffi::OsStrExt;
    let s = Sandbox::new();
    let mut c = s.cmd().command();
    c.arg("explain")
        .arg(std::ffi::OsStr::from_bytes(&[b'x', 0xff]));
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "arcfix: error: the text to explain is not UTF-8\n"
    );
}

/// UTF-16 with a byte-order mark, as Windows PowerShell 5.1's `>` writes it.
fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in text.encode_utf16() {
        out.extend_from_slice(&if little_endian {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        });
    }
    out
}

#[test]
fn what_administrators_paste_is_understood() {
    let s = Sandbox::new();
    let ids = |input: &[u8]| -> Vec<String> {
        let out = s.cmd().args(&["explain", "-o", "json"]).stdin(input).run();
        out.json()["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let log = "ssh_exchange_identification: Connection closed by remote host\r\n";
    for bytes in [
        utf16(log, true),
        utf16(log, false),
        [&[0xEF, 0xBB, 0xBF][..], log.as_bytes()].concat(),
    ] {
        assert_eq!(
            ids(&bytes).first().map(String::as_str),
            Some("sshd-not-running")
        );
    }
    // The old and the new wording of the same failure.
    assert!(
        ids(b"kex_exchange_identification: Connection closed by remote host")
            .contains(&"sshd-not-running".into())
    );
    // The relay wrappers without their code, and the CLI's dynamic install.
    assert_eq!(
        ids(b"Failed to get Arc relay information")[0],
        "relay-information-unavailable"
    );
    assert_eq!(
        ids(b"Unable to retrieve relay information. Failed with error: (AuthorizationFailed) x")[0],
        "login-role-missing"
    );
    assert_eq!(
        ids(b"The command requires the extension ssh. Do you want to install it now?")[0],
        "az-ssh-extension-not-installed"
    );
    // Permission denied (publickey) also names the causes outside Azure, without a fix.
    let out = s
        .cmd()
        .args(&[
            "explain",
            "-o",
            "json",
            "arcfix-probe@web-01: Permission denied (publickey).",
        ])
        .run();
    let m = out.json()["matches"].as_array().unwrap().clone();
    let key = m
        .iter()
        .find(|x| x["id"] == "ssh-key-not-accepted")
        .unwrap_or_else(|| panic!("{m:?}"));
    assert_eq!(key["known"], false);
    assert!(m.iter().any(|x| x["id"] == "login-role-missing"));
    // A broken UTF-16 text is a one-line error.
    let out = s.cmd().args(&["explain"]).stdin(&[0xFF, 0xFE, 0x41]).run();
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("UTF-16"), "{out:?}");
}

#[test]
fn explain_on_a_terminal_says_how_to_paste() {
    let s = Sandbox::new();
    let Some(out) = s.cmd().args(&["explain"]).in_terminal("\u{4}") else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    assert!(out.stdout.contains("then press Ctrl-D"), "{out:?}");
}

#[test]
fn secrets_in_a_pasted_log_are_masked_in_text_and_json() {
    use base64::Engine as _;
    let blob = base64::engine::general_purpose::STANDARD.encode(
        r#"{"relay":{"namespaceName":"ns","accessKey":"BlobKeySecret0123456789","expiresOn":1}}"#,
    );
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJKd3RTZWNyZXQwMTIzIn0.Snd0U2lnU2VjcmV0MDEyMzQ1";
    let bearer = "eyJhbGciOiJub25lIn0.eyJvaWQiOiJCZWFyZXJTZWNyZXQifQ.QmVhcmVyU2lnU2VjcmV0";
    // Each secret beside an error text explain knows, so its line is what `seen:` quotes.
    let log = format!(
        "sshproxy: 404 There are no listeners connected for the endpoint {{\"relay\":{{\"accessKey\":\"RelayKeySecret0123456789\",\"namespaceName\":\"ns\"}}}}\n\
         \n\
         404 Endpoint does not exist: wss://ns.servicebus.windows.net/$hc/x?sb-hc-token=sr%3Dx%26sig%3DPctSigSecret0123%252B%26se%3D1\n\
         \n\
         Failed to run ssh command with error: Authorization: SharedAccessSignature sr=x&sig=PlainSigSecret0123&se=1&skn=k\n\
         \n\
         AADSTS50076: sent Authorization: Bearer {bearer}\n\
         \n\
         ssh: Could not resolve hostname x; token {jwt}\n\
         \n\
         Failed to find the PowerShell module Az.Ssh.ArcProxy installed in this machine; SSHPROXY_RELAY_INFO={blob}\n\
         \n\
         Client is not authorized to create a default connectivity endpoint https://x/?sv=1&sig=UrlSigSecret0123&se=1\n"
    );
    let secrets = [
        "RelayKeySecret0123456789",
        "PctSigSecret0123",
        "PlainSigSecret0123",
        "eyJvaWQiOiJCZWFyZXJTZWNyZXQifQ",
        "QmVhcmVyU2lnU2VjcmV0",
        "eyJzdWIiOiJKd3RTZWNyZXQwMTIzIn0",
        &blob[..24],
        &blob[30..60],
        "UrlSigSecret0123",
    ];
    // The short answer quotes no line; -v quotes every one, and so does JSON.
    let short = Sandbox::new()
        .cmd()
        .args(&["explain"])
        .stdin(log.as_bytes())
        .run();
    assert_eq!(short.status, 0, "{short:?}");
    for s in secrets {
        assert!(
            !short.stdout.contains(s) && !short.stderr.contains(s),
            "{s} shown: {short:?}"
        );
    }
    for json in [false, true] {
        let args: &[&str] = if json {
            &["explain", "-o", "json"]
        } else {
            &["explain", "-v"]
        };
        let out = Sandbox::new().cmd().args(args).stdin(log.as_bytes()).run();
        assert_eq!(out.status, 0, "{out:?}");
        for s in secrets {
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s),
                "{s} shown (json: {json}): {out:?}"
            );
        }
        // Every line was quoted: each is a known error of its own, with its excerpt.
        assert!(out.stdout.matches("[redacted]").count() >= 7, "{out:?}");
        if json {
            let masked = out.json()["matches"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["evidence"].as_str().unwrap().contains("[redacted]"))
                .count();
            assert_eq!(masked, 7, "{out:?}");
        }
    }
}

/// Rows on an 80-column screen (what a pipe gets): what a person reads.
fn rows(text: &str) -> usize {
    text.lines()
        .map(|l| l.chars().count().div_ceil(80).max(1))
        .sum()
}

#[test]
fn a_common_error_gets_a_short_answer_and_v_gets_all_of_it() {
    let s = Sandbox::new();
    let short = s
        .cmd()
        .args(&["explain", "Permission denied (publickey)."])
        .run();
    assert_eq!(short.status, 0, "{short:?}");
    assert!(
        rows(&short.stdout) <= 15,
        "{} rows: {short:?}",
        rows(&short.stdout)
    );
    assert!(
        short
            .stdout
            .starts_with("3 known problems match, the most likely first:\n"),
        "{short:?}"
    );
    // The headline (id and title), what it means, and the command to act on.
    for want in [
        "1. login-role-missing: Missing role to read the machine or to connect",
        "No role lets you read or log in to the machine; once granted, sign in again.",
        "   fix: $ arcfix apply --id <machine id> --grant-roles",
        "2. entra-extension-missing: ",
        "1 more match (ssh-key-not-accepted): run again with -v",
    ] {
        assert!(short.stdout.contains(want), "{want}: {short:?}");
    }
    assert!(!short.stdout.contains("seen:"), "{short:?}");

    let full = s
        .cmd()
        .args(&["explain", "-v", "Permission denied (publickey)."])
        .run();
    assert_eq!(full.status, 0, "{full:?}");
    for want in [
        "3. ssh-key-not-accepted: ",
        "   seen:      Permission denied (publickey).",
        "az role assignment create --assignee <user> --role \"Virtual Machine Administrator Login\" --scope <machine id>",
        "ssh-copy-id -i <key>.pub <user>@<server>",
        "arcfix apply --id <machine id> --grant-roles",
        "https://learn.microsoft.com/azure/azure-arc/servers/ssh-arc-troubleshoot",
    ] {
        assert!(full.stdout.contains(want), "{want}: {full:?}");
    }
    assert!(rows(&full.stdout) > 3 * rows(&short.stdout), "{full:?}");

    // Programs still get every match, complete, plus the short answer's fields.
    let json = s
        .cmd()
        .args(&["explain", "-o", "json", "Permission denied (publickey)."])
        .run();
    let v = json.json();
    assert_eq!(v["matches"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(
        v["matches"][0]["commands"].as_array().unwrap().len(),
        5,
        "{v}"
    );
    assert!(v["matches"][0]["summary"].is_string(), "{v}");
    assert!(v.get("not_arc").is_none(), "{v}");
}

#[test]
fn an_openssh_error_is_explained_as_no_arc_problem_exit_2() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(&["explain", "Host key verification failed."])
        .run();
    // Not a finding: 2, as for any text without a known problem.
    assert_eq!(out.status, 2, "{out:?}");
    for want in [
        "Not an Arc problem: OpenSSH's own error, which arcfix does not check or fix.\n",
        "Host key verification failed.\n",
        "could not verify the server's host key",
        "ssh-keygen -R <arc enabled server name>",
        "No Arc problem matches this text",
    ] {
        assert!(out.stdout.contains(want), "{want}: {out:?}");
    }
    assert!(rows(&out.stdout) <= 15, "{out:?}");

    let json = s
        .cmd()
        .args(&["explain", "-o", "json", "Host key verification failed."])
        .run();
    assert_eq!(json.status, 2, "{json:?}");
    let v = json.json();
    assert_eq!(v["matches"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["not_arc"][0]["name"], "host-key-verification-failed",
        "{v}"
    );
    assert_eq!(
        v["not_arc"][0]["evidence"], "Host key verification failed.",
        "{v}"
    );
    assert!(!CONTRACT_IDS.contains(&v["not_arc"][0]["name"].as_str().unwrap()));

    // Through Arc, a timeout is none of OpenSSH's own errors to explain.
    let arc = s
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(b"debug1: Executing proxy command: exec /home/u/.clientsshproxy/sshProxy_linux_amd64_1_3_026973 -p 22\nConnection timed out during banner exchange\n")
        .run();
    assert_eq!(arc.status, 2, "{arc:?}");
    assert_eq!(
        arc.json(),
        serde_json::json!({"schema_version": 1, "matches": []})
    );
}

#[test]
fn a_log_with_an_arc_problem_and_an_openssh_error_lists_the_arc_problem_first() {
    // What ssh prints for a changed host key, then the relay's refusal.
    let log = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
               @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
               @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
               IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
               Offending ED25519 key in /home/u/.ssh/known_hosts:4\n\
               Host key for web-01 has changed and you have requested strict checking.\n\
               Host key verification failed.\n\
               \n\
               ERROR: Request for Azure Relay Information Failed: (NoRegisteredProviderFound) Code: NoRegisteredProviderFound\n";
    let s = Sandbox::new();
    let out = s.cmd().args(&["explain"]).stdin(log.as_bytes()).run();
    assert_eq!(out.status, 0, "{out:?}");
    let arc = out
        .stdout
        .find("1. rp-not-registered: ")
        .expect("the Arc problem");
    let ssh = out
        .stdout
        .find("Also in this text, not an Arc problem")
        .expect("the OpenSSH error");
    assert!(arc < ssh, "{out:?}");
    assert!(
        out.stdout
            .contains("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"),
        "{out:?}"
    );
    // The changed key says it all: "verification failed" is not said again.
    assert!(
        !out.stdout
            .contains("could not verify the server's host key"),
        "{out:?}"
    );

    let v = s
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(log.as_bytes())
        .run()
        .json();
    assert_eq!(v["matches"][0]["id"], "rp-not-registered", "{v}");
    let names: Vec<&str> = v["not_arc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host-key-changed"], "{v}");
}

/// The real reports of tests/data/real_reports.txt: (line, expected, text).
fn real_reports() -> Vec<(usize, String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real_reports.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(n, l)| {
            let (want, text) = l.split_once('\t').expect("expected<TAB>text");
            let text = text.replace("\\n", "\n").replace("\\\\", "\\");
            (n + 1, want.to_string(), text)
        })
        .collect()
}

#[test]
fn real_reports_from_public_threads_are_each_recognised_and_unrelated_logs_claim_nothing() {
    let s = Sandbox::new();
    let reports = real_reports();
    // Each family of issue 19's point 6, and the unrelated logs, is there.
    for want in [
        "az-ssh-extension-broken",
        "pwsh-missing",
        "client-binaries-missing",
        "login-role-missing",
        "ssh-key-not-accepted",
        "arc-connection-closed",
        "notice:az-ssh-2-0-4-notice",
        "-",
    ] {
        assert!(
            reports.iter().any(|(_, w, _)| w == want),
            "no case for {want}"
        );
    }
    let mut failures = Vec::new();
    for (line, want, text) in &reports {
        let out = s
            .cmd()
            .args(&["explain", "-o", "json"])
            .stdin(text.as_bytes())
            .run();
        let v = out.json();
        let first = |key: &str, field: &str| -> Option<String> {
            v[key][0][field].as_str().map(str::to_string)
        };
        let matched = first("matches", "id");
        let ok = match want.as_str() {
            // Unrelated: no problem and no SSH client error (a harmless notice may be said).
            "-" => matched.is_none() && v.get("not_arc").is_none() && out.status == 2,
            n if n.starts_with("notice:") => {
                matched.is_none()
                    && first("notices", "name").as_deref() == Some(&n["notice:".len()..])
                    && out.status == 2
            }
            id => matched.as_deref() == Some(id) && out.status == 0,
        };
        if !ok {
            failures.push(format!("line {line}: want {want}, got {v}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn connection_closed_by_unknown_port_65535_names_what_to_check_not_one_cause() {
    let s = Sandbox::new();
    let out = s
        .cmd()
        .args(&["explain", "Connection closed by UNKNOWN port 65535"])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    for want in [
        "1. arc-connection-closed: ",
        "this line alone does not say why",
        "fix: $ arcfix check --id <machine id> --remote --connect",
    ] {
        assert!(out.stdout.contains(want), "{want}: {out:?}");
    }
    // A stale service configuration is one possibility among several, not the answer.
    assert!(
        !out.stdout.contains("1. service-config-outdated"),
        "{out:?}"
    );
    let all = s
        .cmd()
        .args(&[
            "explain",
            "-o",
            "json",
            "Connection closed by UNKNOWN port 65535",
        ])
        .run()
        .json();
    let ids: Vec<&str> = all["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "arc-connection-closed",
            "sshd-not-running",
            "service-config-outdated"
        ],
        "{all}"
    );
    assert_eq!(all["matches"][0]["known"], false, "{all}");
    // A proxy error beside it names the cause, and comes first.
    let log = "{\"level\":\"fatal\",\"msg\":\"sshproxy: error connecting to the address: 503 connection to localhost:22 failed: dial tcp 127.0.0.1:22: connect: connection refused. websocket: bad handshake\"}\nConnection closed by UNKNOWN port 65535\n";
    let v = s
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(log.as_bytes())
        .run()
        .json();
    assert_eq!(v["matches"][0]["id"], "sshd-not-running", "{v}");
}

const MAY_2025: &str = "WARNING: On May 21st 2025, any ssh arc commands on versions <2.0.4 will no longer work. Please upgrade to az ssh version >=2.0.4\n";

#[test]
fn the_may_2025_notice_is_harmless_on_2_0_4_and_later_reading_the_installed_version() {
    // 2.0.9 installed (Azure/azure-cli#33539): harmless, and the version is named.
    let s = Sandbox::new();
    s.az_ssh_extension("2.0.9");
    let out = s.cmd().args(&["explain"]).stdin(MAY_2025.as_bytes()).run();
    assert_eq!(out.status, 2, "a notice is no problem: {out:?}");
    for want in [
        "Harmless notice, not a problem:",
        "On May 21st 2025, any ssh commands connecting to ARC machines on versions <2.0.4 will no longer work.",
        "whatever its version",
        "The Azure CLI ssh extension on this machine is 2.0.9, 2.0.4 or later: the notice does not apply to it.",
        "No Arc problem matches this text",
    ] {
        assert!(out.stdout.contains(want), "{want}: {out:?}");
    }
    assert!(!out.stdout.contains("az-ssh-extension-outdated"), "{out:?}");
    let v = s
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(MAY_2025.as_bytes())
        .run()
        .json();
    assert_eq!(v["matches"], serde_json::json!([]), "{v}");
    assert_eq!(v["notices"][0]["name"], "az-ssh-2-0-4-notice", "{v}");
    assert!(v["notices"][0]["check"].is_null(), "{v}");
    assert!(
        v["notices"][0]["evidence"]
            .as_str()
            .unwrap()
            .starts_with("WARNING: On May 21st 2025"),
        "{v}"
    );

    // Older than 2.0.4 here: the problem it names, with its fix.
    let old = Sandbox::new();
    old.az_ssh_extension("2.0.3");
    let v = old
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(MAY_2025.as_bytes())
        .run();
    assert_eq!(v.status, 0, "{v:?}");
    let v = v.json();
    assert_eq!(v["matches"][0]["id"], "az-ssh-extension-outdated", "{v}");
    assert!(v.get("notices").is_none(), "{v}");

    // No extension here: what to run where it was printed, and what the answer means.
    let none = Sandbox::new();
    let out = none
        .cmd()
        .args(&["explain"])
        .stdin(MAY_2025.as_bytes())
        .run();
    assert_eq!(out.status, 2, "{out:?}");
    for want in [
        "No Azure CLI ssh extension is installed on this machine",
        "2.0.4 or later, it is harmless; older, run az extension update --name ssh.",
        "check: $ az extension show --name ssh --query version",
    ] {
        assert!(out.stdout.contains(want), "{want}: {out:?}");
    }

    // A folder without a readable version: the same question, never a claim.
    let unread = Sandbox::new();
    unread.write("home/.azure/cliextensions/ssh/README", "no metadata\n");
    let v = unread
        .cmd()
        .args(&["explain", "-o", "json"])
        .stdin(MAY_2025.as_bytes())
        .run()
        .json();
    assert_eq!(v["matches"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["notices"][0]["check"], "az extension show --name ssh --query version",
        "{v}"
    );
    assert!(
        v["notices"][0]["here"]
            .as_str()
            .unwrap()
            .starts_with("The installed version could not be read here"),
        "{v}"
    );
}

#[test]
fn a_notice_beside_a_problem_comes_after_it_and_v_shows_where_it_was_seen() {
    let s = Sandbox::new();
    s.az_ssh_extension("2.0.6");
    let log = format!(
        "{MAY_2025}\nERROR: Request for Azure Relay Information Failed: (NoRegisteredProviderFound) Code: NoRegisteredProviderFound\n"
    );
    let out = s.cmd().args(&["explain"]).stdin(log.as_bytes()).run();
    assert_eq!(out.status, 0, "{out:?}");
    let problem = out
        .stdout
        .find("1. rp-not-registered: ")
        .expect("the problem");
    let notice = out
        .stdout
        .find("Also in this text, harmless notices (not problems):")
        .expect("the notice");
    assert!(problem < notice, "{out:?}");
    let full = s.cmd().args(&["explain", "-v"]).stdin(log.as_bytes()).run();
    for want in [
        "   seen:      WARNING: On May 21st 2025",
        "   here:      The Azure CLI ssh extension on this machine is 2.0.6",
    ] {
        assert!(full.stdout.contains(want), "{want}: {full:?}");
    }
}
