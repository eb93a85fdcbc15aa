//! The Azure CLI's current subscription (`az account show`), the one `az`
//! itself uses when a command gets no `--subscription`. arcfix asks for it
//! only with `--auth cli`, only when a target needs a subscription and none
//! was given and `AZURE_SUBSCRIPTION_ID` is not set.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};

/// How long `az account show` may take (it reads a local file; a minute
/// would mean something hangs).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The Azure CLI's current subscription, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzAccount {
    /// A GUID, lower case.
    pub id: String,
    /// Its display name, safe to print.
    pub name: String,
}

/// The fields of `az account show -o json` arcfix reads.
#[derive(Deserialize)]
struct Shown {
    id: Option<String>,
    name: Option<String>,
}

/// `az account show`: `None` when the Azure CLI is not installed; an
/// authentication error (exit 1) when it cannot say (not signed in).
pub fn current() -> Result<Option<AzAccount>> {
    let Some(az) = crate::os::Host::detect().az_program() else {
        return Ok(None);
    };
    let (ok, stdout, stderr) = run(&az, &["account", "show", "--output", "json"])?;
    if !ok {
        return Err(Error::Auth(format!(
            "no subscription was given, and the Azure CLI has no current one: run `az login` (or `az account set --subscription ID`), or give --subscription or AZURE_SUBSCRIPTION_ID; `az account show` said: {}",
            crate::text::one_line(stderr.trim())
        )));
    }
    parse(&stdout).map(Some)
}

/// The account `az account show -o json` printed, or why it cannot be used.
pub fn parse(json: &str) -> Result<AzAccount> {
    let bad = |why: &str| {
        Error::Auth(format!(
            "`az account show` printed something arcfix cannot use ({why}): give --subscription or set AZURE_SUBSCRIPTION_ID"
        ))
    };
    let shown: Shown = serde_json::from_str(json).map_err(|_| bad("not its JSON account"))?;
    let id = shown
        .id
        .filter(|id| crate::target::is_guid(id))
        .ok_or_else(|| bad("no subscription id that is a GUID"))?;
    let name = shown.name.unwrap_or_default();
    let name = crate::text::one_line(&name);
    Ok(AzAccount {
        id: id.to_ascii_lowercase(),
        name: if name.is_empty() { id.clone() } else { name },
    })
}

/// Runs `program args`, with no input and a time limit: (exit 0, stdout,
/// stderr).
fn run(program: &str, args: &[&str]) -> Result<(bool, String, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("cannot run {program}"), e))?;
    let start = Instant::now();
    // The outputs are small (one account); they are read once it has ended.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Auth(format!(
                    "`az account show` did not answer within {} s: give --subscription or set AZURE_SUBSCRIPTION_ID",
                    TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(Error::io("cannot wait for az", e)),
        }
    };
    let read = |r: Option<&mut dyn Read>| {
        let mut s = String::new();
        if let Some(r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    };
    let stdout = read(child.stdout.as_mut().map(|s| s as &mut dyn Read));
    let stderr = read(child.stderr.as_mut().map(|s| s as &mut dyn Read));
    Ok((status.success(), stdout, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_az_shows_is_read_and_checked() {
        let a = parse(r#"{"environmentName":"AzureCloud","id":"6F1C0A52-54B8-4E5C-8E5B-2D1A3C4B5E6F","isDefault":true,"name":"Contoso Prod","state":"Enabled","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","user":{"name":"ana@contoso.com","type":"user"}}"#).unwrap();
        assert_eq!(a.id, "6f1c0a52-54b8-4e5c-8e5b-2d1a3c4b5e6f");
        assert_eq!(a.name, "Contoso Prod");
        // A name with a line break or escape cannot reach the terminal as it is.
        let odd =
            parse(r#"{"id":"6f1c0a52-54b8-4e5c-8e5b-2d1a3c4b5e6f","name":"Prod\u001b[2J\nx"}"#)
                .unwrap();
        assert!(
            !odd.name.contains('\u{1b}') && !odd.name.contains('\n'),
            "{odd:?}"
        );
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"name":"Contoso"}"#,
            r#"{"id":"../../x","name":"Contoso"}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, Error::Auth(_)), "{bad}: {e:?}");
            assert!(e.to_string().contains("--subscription"), "{e}");
        }
    }
}
