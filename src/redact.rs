//! Secrets masked before text is shown: the one function for a pasted log
//! (`explain`) and for what ssh and the proxy printed (`--connect`).

use std::sync::LazyLock;

use base64::Engine as _;
use regex::{Captures, Regex};

/// What a masked secret reads as.
pub const MASK: &str = "[redacted]";

/// `text` with every secret masked, in the forms they take in logs:
/// - `secrets` arcfix holds (the relay's access key): as they are,
///   percent-encoded (either case of hex), JSON-escaped and in base64;
/// - `"accessKey": "…"` and the relay's other credential fields, also inside
///   escaped JSON (`\"accessKey\":\"…\"`) and as `accessKey=…`;
/// - shared access signatures: `sig=…`, `sig%3D…`, and whatever follows
///   `SharedAccessSignature`;
/// - bearer tokens (`Bearer …`) and JWT-shaped strings (`eyJ….….…`);
/// - base64 blobs of JSON (`eyJ…`, such as `SSHPROXY_RELAY_INFO`) and any
///   base64 run that decodes to relay credentials, percent-encoded or not.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        for form in forms(secret) {
            if out.contains(&form) {
                out = out.replace(&form, MASK);
            }
        }
    }
    static FIELD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?i)((?:accessKey|serviceConfigurationToken|primaryKey|secondaryKey|sasKey|SharedAccessKey)(?:\\?")?\s*[:=]\s*(?:\\?")?)[^"\\\s,;&}]+"#,
        )
        .expect("valid")
    });
    static SAS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(^|[^a-z])(sig(?:=|%3D))[^&\s;,'\x22\\]+").expect("valid")
    });
    static SAS_WORD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(SharedAccessSignature)(\s+|%20|\+)[^\s'\x22\\,;]+").expect("valid")
    });
    static BEARER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(Bearer)(\s+|%20|\+)[A-Za-z0-9\-._~+/%]+=*").expect("valid")
    });
    static JWT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*").expect("valid")
    });
    static BASE64: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:[A-Za-z0-9+/_-]|%2[BbFf]){24,}(?:=|%3[Dd]){0,2}").expect("valid")
    });
    // Each pattern only where its word is (a pasted log may be megabytes).
    let lower = out.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&[
        "accesskey",
        "serviceconfigurationtoken",
        "primarykey",
        "secondarykey",
        "saskey",
        "sharedaccesskey",
    ]) {
        out = FIELD
            .replace_all(&out, |c: &Captures| format!("{}{MASK}", &c[1]))
            .into_owned();
    }
    if has(&["sharedaccesssignature"]) {
        out = SAS_WORD
            .replace_all(&out, |c: &Captures| format!("{}{}{MASK}", &c[1], &c[2]))
            .into_owned();
    }
    if has(&["sig=", "sig%3d"]) {
        out = SAS
            .replace_all(&out, |c: &Captures| format!("{}{}{MASK}", &c[1], &c[2]))
            .into_owned();
    }
    if has(&["bearer"]) {
        out = BEARER
            .replace_all(&out, |c: &Captures| format!("{}{}{MASK}", &c[1], &c[2]))
            .into_owned();
    }
    if out.contains("eyJ") {
        out = JWT.replace_all(&out, MASK).into_owned();
    }
    let mut masked = String::with_capacity(out.len());
    let mut last = 0;
    for m in BASE64.find_iter(&out) {
        let run = m.as_str();
        if run.starts_with("eyJ") || holds_credentials(run) {
            masked.push_str(&out[last..m.start()]);
            masked.push_str(MASK);
            last = m.end();
        }
    }
    masked.push_str(&out[last..]);
    masked
}

/// The spellings of one secret in a log.
fn forms(secret: &str) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let lower_hex = lower_percent_hex(&encoded);
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let b64_url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let mut v = vec![
        secret.to_string(),
        encoded,
        lower_hex,
        secret.replace('/', "\\/"),
        b64.trim_end_matches('=').to_string(),
        b64_url,
    ];
    v.sort();
    v.dedup();
    // Longest first: a form inside another is masked with it.
    v.sort_by_key(|f| std::cmp::Reverse(f.len()));
    v.retain(|f| f.len() >= 4);
    v
}

fn lower_percent_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hex_left = 0;
    for c in s.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a base64 run (standard or URL-safe, percent-encoded or not, cut
/// anywhere) holds relay credentials or a signature: whether it holds the
/// base64 of a credential's field name at any of its three alignments (no
/// decoding: a pasted log may hold many runs).
fn holds_credentials(run: &str) -> bool {
    static SIGNS: LazyLock<Vec<String>> = LazyLock::new(|| {
        let mut v = Vec::new();
        for word in [
            "accessKey",
            "SharedAccess",
            "serviceConfigurationToken",
            "namespaceName",
            "\"relay\"",
        ] {
            for shift in 0..3usize {
                let mut bytes = vec![0u8; shift];
                bytes.extend_from_slice(word.as_bytes());
                let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
                // Only the characters made of the word's bits alone.
                let first = (8 * shift).div_ceil(6);
                let end = 8 * (shift + word.len()) / 6;
                v.push(enc[first..end].to_string());
            }
        }
        v
    });
    // The standard alphabet, without padding, in one pass.
    let bytes = run.as_bytes();
    let mut plain = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (
                    bytes[i + 1].to_ascii_uppercase(),
                    bytes[i + 2].to_ascii_uppercase(),
                ) {
                    (b'2', b'B') => plain.push('+'),
                    (b'2', b'F') => plain.push('/'),
                    _ => {}
                }
                i += 3;
                continue;
            }
            b'=' | b'%' => {}
            b'-' => plain.push('+'),
            b'_' => plain.push('/'),
            c => plain.push(c as char),
        }
        i += 1;
    }
    SIGNS.iter().any(|s| plain.contains(s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Zm9vYmFyS2V5/with+slash=";

    fn relay_blob() -> String {
        let doc = serde_json::json!({"relay": {"namespaceName": "ns", "accessKey": "s3cr3t-relay-key-value", "expiresOn": 1}});
        base64::engine::general_purpose::STANDARD.encode(doc.to_string())
    }

    #[test]
    fn each_form_of_a_secret_is_masked() {
        let blob = relay_blob();
        let cases: Vec<(String, &str)> = vec![
            (
                r#"{"relay":{"accessKey":"s3cr3t-relay-key-value","namespaceName":"ns"}}"#.into(),
                "s3cr3t-relay-key-value",
            ),
            (
                r#"{"message":"{\"accessKey\": \"s3cr3t-relay-key-value\"}"}"#.into(),
                "s3cr3t-relay-key-value",
            ),
            ("accessKey=s3cr3t-relay-key-value;x=1".into(), "s3cr3t-relay-key-value"),
            (
                "wss://ns.servicebus.windows.net/$hc/x?sb-hc-action=connect&sb-hc-token=SharedAccessSignature sr=http%3a%2f%2fns&sig=SIGabc123%2B%2Fxyz&se=1&skn=k".into(),
                "SIGabc123",
            ),
            ("token sig%3DSIGpct%252Babc%26se%3D1".into(), "SIGpct"),
            ("x?sb-hc-token=sr%3Dx%26sig%3DSIGafter26%252B%26se%3D1".into(), "SIGafter26"),
            ("a\\u0026sig=SIGjson\\u0026se=1".into(), "SIGjson"),
            ("Authorization: SharedAccessSignature sr=a&sig=SIGword&se=1".into(), "SIGword"),
            ("Authorization: Bearer abc.def-ghi_jkl".into(), "abc.def-ghi_jkl"),
            (
                "token eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjMifQ.c2lnbmF0dXJlLXBhcnQ end".into(),
                "eyJvaWQiOiIxMjMifQ",
            ),
            (format!("SSHPROXY_RELAY_INFO={blob}"), blob.as_str()),
            (
                // Percent-encoded, and cut in the middle.
                format!(
                    "relay={}",
                    url::form_urlencoded::byte_serialize(&blob.as_bytes()[7..60])
                        .collect::<String>()
                ),
                &blob[8..40],
            ),
        ];
        for (text, secret) in &cases {
            let out = redact(text, &[]);
            assert!(!out.contains(secret), "{text} -> {out}");
            assert!(out.contains(MASK), "{text} -> {out}");
        }
    }

    #[test]
    fn a_known_secret_is_masked_in_every_spelling() {
        let secrets = vec![KEY.to_string()];
        let pct: String = url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
        for text in [
            format!("key {KEY} seen"),
            format!("key {pct} seen"),
            format!("key {} seen", pct.to_ascii_lowercase()),
            format!("key {} seen", KEY.replace('/', "\\/")),
            format!("key {b64} seen"),
        ] {
            let out = redact(&text, &secrets);
            assert!(!out.contains("Zm9vYmFyS2V5"), "{text} -> {out}");
            assert!(!out.contains(&b64[..20]), "{text} -> {out}");
        }
    }

    #[test]
    fn ordinary_log_text_is_left_alone() {
        for text in [
            "kex_exchange_identification: Connection closed by remote host",
            "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01",
            "(AuthorizationFailed) The client 'ada@contoso.com' does not have authorization to perform action 'Microsoft.HybridConnectivity/endpoints/listCredentials/action'",
            "response=ok usage=1 case=2 design=3",
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
        ] {
            assert_eq!(redact(text, &[]), text);
        }
    }
}
