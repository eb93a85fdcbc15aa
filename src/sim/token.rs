//! Unsigned JWT-shaped bearer tokens: made for tests and the demo, read back
//! by the simulator to learn who calls (the `oid` claim, as ARM does).

use serde_json::{Value, json};

/// A token the simulator accepts for principal `oid`: `header.payload.signature`,
/// each part base64url without padding. It is not signed (the signature part
/// says so) and lives one hour; the claims are the ones ARM and the client read.
pub fn fake_token(oid: &str, upn: &str, tenant: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    fake_token_with(oid, upn, tenant, now + 3600)
}

/// [`fake_token`] with a chosen expiry (unix seconds), to test expired tokens.
pub fn fake_token_with(oid: &str, upn: &str, tenant: &str, exp: i64) -> String {
    let mut claims = base_claims(oid, tenant, exp);
    claims["upn"] = json!(upn);
    encode(&claims)
}

/// An app-only token for a service principal: `appid` and `idtyp: app`
/// instead of `upn`, as Entra issues for client credentials.
pub fn fake_app_token(oid: &str, app_id: &str, tenant: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = base_claims(oid, tenant, now + 3600);
    claims["appid"] = json!(app_id);
    claims["idtyp"] = json!("app");
    encode(&claims)
}

fn base_claims(oid: &str, tenant: &str, exp: i64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "aud": "https://management.core.windows.net/",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now.min(exp) - 60,
        "nbf": now.min(exp) - 60,
        "exp": exp,
        "oid": oid,
        "tid": tenant,
        "ver": "1.0",
    })
}

fn encode(claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "none", "kid": "arcfix-sim"});
    format!(
        "{}.{}.{}",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes()),
        base64url_encode(b"arcfix-sim-unsigned")
    )
}

/// The claims of a JWT-shaped token, or `None` when it is not three base64url
/// parts with a JSON object in the middle. Nothing is verified: the simulator
/// trusts its own tokens.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64url_decode(payload)?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.is_object().then_some(value)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub(crate) fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | ((*b as u32) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes base64url, with or without padding; standard-alphabet `+` and `/`
/// are accepted too, since some encoders emit them.
pub(crate) fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone trailing sextet cannot encode a byte.
    (text.len() % 4 != 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{base64url_decode, base64url_encode, claims, fake_token};

    #[test]
    fn base64url_round_trips() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "\u{ff}\u{fe}?>",
        ] {
            let e = base64url_encode(s.as_bytes());
            assert!(!e.contains('=') && !e.contains('+') && !e.contains('/'));
            assert_eq!(base64url_decode(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(base64url_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url_decode("Zm9vYg==").unwrap(), b"foob");
        assert!(base64url_decode("a").is_none());
        assert!(base64url_decode("a*b").is_none());
    }

    #[test]
    fn tokens_carry_the_claims_the_client_reads() {
        let t = fake_token("oid-1", "a@b.example", "tid-1");
        assert_eq!(t.split('.').count(), 3);
        let c = claims(&t).unwrap();
        assert_eq!(c["oid"], "oid-1");
        assert_eq!(c["upn"], "a@b.example");
        assert_eq!(c["tid"], "tid-1");
        assert!(c["exp"].as_i64().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp());
        let app = claims(&super::fake_app_token("oid-2", "app-2", "tid-1")).unwrap();
        assert_eq!(
            (app["appid"].as_str(), app["idtyp"].as_str()),
            (Some("app-2"), Some("app"))
        );
        assert!(app.get("upn").is_none());
        assert!(claims("not.a-token").is_none());
        assert!(claims("a.b.c.d").is_none());
    }
}
