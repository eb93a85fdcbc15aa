//! Values quoted for the shell a person types a shown command into: one
//! function per shell (POSIX `sh`, PowerShell), and `quote` for this
//! machine's. A value from outside (a name Azure listed, a region, a path)
//! is one argument, whatever it holds: never a second command, a variable,
//! a substitution or a glob.

use crate::os::Os;

/// `s` as one argument of POSIX `sh` (bash, zsh, dash): unchanged when it
/// holds only characters no shell reads more into, else in single quotes
/// (inside which nothing is special), each `'` written `'\''`.
pub fn posix(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:,+=@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `s` as one argument of PowerShell: unchanged when it holds only
/// characters PowerShell reads as they are, else in single quotes (a
/// verbatim string: no `$` expansion, no backtick escape), each quote doubled,
/// the typographic single quotes PowerShell also takes for quotes included.
pub fn powershell(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `s` quoted for the shell of `os`: PowerShell on Windows, `sh` elsewhere.
pub fn quote_for(os: Os, s: &str) -> String {
    match os {
        Os::Windows => powershell(s),
        Os::Linux | Os::Macos => posix(s),
    }
}

/// `s` quoted for the shell of the machine arcfix runs on, where a person
/// types the `az` commands it shows.
pub fn quote(s: &str) -> String {
    quote_for(Os::current(), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sh -c 'printf %s\\n <quoted>'` prints: the value, unchanged, as one argument.
    fn through_sh(quoted: &str) -> Option<String> {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf '[%s]' {quoted}"))
            .env_clear()
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    const TRICKY: &[&str] = &[
        "",
        "web-01",
        "two words",
        "it's",
        "'",
        "''",
        "\"double\"",
        "$HOME",
        "${x}",
        "`id`",
        "$(touch /tmp/arcfix-pwned)",
        "x;touch /tmp/arcfix-pwned;#",
        "a&&b||c|d",
        "a\nb",
        "tab\there",
        "*",
        "~root",
        "rg(prod)",
        "back\\slash",
        "-dash",
        "é",
    ];

    #[test]
    fn posix_quoting_is_one_argument_for_every_tricky_value() {
        assert_eq!(posix("web-01"), "web-01");
        assert_eq!(posix("eastus"), "eastus");
        assert_eq!(posix(""), "''");
        assert_eq!(posix("two words"), "'two words'");
        assert_eq!(posix("it's"), "'it'\\''s'");
        assert_eq!(posix("x;touch y;#"), "'x;touch y;#'");
        assert_eq!(posix("$HOME"), "'$HOME'");
        assert_eq!(posix("`id`"), "'`id`'");
        assert_eq!(posix("a\nb"), "'a\nb'");
        assert_eq!(posix("rg(prod)"), "'rg(prod)'");
        // Checked against a real sh where there is one (not under Wine, where
        // the host's /bin/sh is visible but cannot be started).
        if cfg!(unix) && std::path::Path::new("/bin/sh").exists() {
            for v in TRICKY {
                assert_eq!(
                    through_sh(&posix(v)).as_deref(),
                    Some(format!("[{v}]").as_str()),
                    "{v:?}"
                );
            }
            assert!(!std::path::Path::new("/tmp/arcfix-pwned").exists());
        }
    }

    #[test]
    fn powershell_quoting_is_a_verbatim_string() {
        assert_eq!(powershell("web-01"), "web-01");
        assert_eq!(powershell(""), "''");
        assert_eq!(powershell("two words"), "'two words'");
        assert_eq!(powershell("it's"), "'it''s'");
        assert_eq!(powershell("$env:PATH"), "'$env:PATH'");
        assert_eq!(powershell("`n"), "'`n'");
        assert_eq!(powershell("x;touch y;#"), "'x;touch y;#'");
        assert_eq!(powershell("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(powershell("@splat"), "'@splat'");
        assert_eq!(powershell("--%"), "'--%'");
        assert_eq!(powershell("a\nb"), "'a\nb'");
        assert_eq!(powershell("\"x\""), "'\"x\"'");
        // Inside, the only special characters are the quotes, each doubled.
        for v in TRICKY {
            let q = powershell(v);
            if q.starts_with('\'') {
                let inner = &q[1..q.len() - 1];
                assert_eq!(inner.replace("''", "'"), *v, "{v:?}");
            }
        }
    }

    #[test]
    fn each_os_gets_its_shell() {
        assert_eq!(quote_for(Os::Windows, "a b"), "'a b'");
        assert_eq!(quote_for(Os::Linux, "it's"), "'it'\\''s'");
        assert_eq!(quote_for(Os::Macos, "it's"), "'it'\\''s'");
    }
}
