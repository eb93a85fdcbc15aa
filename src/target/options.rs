//! The target options of check, plan and apply, defined once: each field's doc
//! comment and attributes are the option's definition. clap parses them (the
//! `TargetArgs` of `cli` flattens this struct), the man page documents them
//! from clap, a `Request` carries them, and a saved plan records them (schema 1:
//! `login`, `port`, `port_given`, `grant_roles`, `checks`, `remote`, `connect`,
//! `ssh_client_folder`), so that `apply --plan` can name the ones that differ.
//!
//! Adding a target option: a field here (with its doc comment) and its row in
//! `Options::as_typed` (the compiler asks for it), plus its use.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Login, Side, side_name};

/// The `--help` heading of these options (set on each: a heading set for the
/// struct would carry over to the options of the command that follow it).
const HEADING: &str = "What to check and fix";

/// The port `az ssh arc` uses without `--port`.
const DEFAULT_PORT: u16 = 22;

/// The options that change what is detected and planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct Options {
    /// The SSH port that must work (default 22, as az ssh arc without --port);
    /// without it, a port already set up in Azure is reported, never changed
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..), help_heading = HEADING)]
    #[serde(flatten, with = "saved_port")]
    pub port: Option<u16>,
    /// How the user logs in: local user or Microsoft Entra ID
    #[arg(long, value_enum, default_value_t = Login::Local, help_heading = HEADING)]
    pub login: Login,
    /// Where ssh and ssh-keygen live, as in `az ssh arc`
    #[arg(
        long,
        value_name = "DIR",
        value_hint = clap::ValueHint::DirPath,
        help_heading = HEADING
    )]
    pub ssh_client_folder: Option<PathBuf>,
    // `None`: the default sides (client, azure, plus server on an Arc server).
    /// Sides to check: client, azure, server (comma-separated)
    #[arg(
        long = "checks",
        value_delimiter = ',',
        value_parser = SideList,
        value_name = "LIST",
        help_heading = HEADING
    )]
    #[serde(rename = "checks")]
    pub sides: Option<Vec<Side>>,
    /// Let the plan assign missing login roles when the caller may write role assignments
    #[arg(long, help_heading = HEADING)]
    pub grant_roles: bool,
    /// Check the server side of each machine through Arc Run Command: check and
    /// plan create a Run Command resource per machine that executes a read-only
    /// probe script on the server, then delete it; an approved apply runs the
    /// fix scripts the same way
    #[arg(long, help_heading = HEADING)]
    pub remote: bool,
    /// Try the real SSH path to each machine (ssh through the Arc proxy on this
    /// machine; no login is attempted); apply tries it again at the end
    #[arg(long, help_heading = HEADING)]
    pub connect: bool,
}

impl Options {
    /// The SSH port that must work: `--port`, else 22.
    pub fn ssh_port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// `--port` was given: only then may a port seen in Azure be changed.
    pub fn port_given(&self) -> bool {
        self.port.is_some()
    }

    /// The same options with `--checks` sorted and without repeats, as they
    /// are compared and recorded.
    pub fn normalized(mut self) -> Options {
        if let Some(sides) = self.sides.as_mut() {
            sides.sort();
            sides.dedup();
        }
        self
    }

    /// Each option as typed on the command line, by its clap id: `None` when
    /// not given (a flag that is off), `Some("")` for a flag that is on.
    fn as_typed(&self) -> [(&'static str, Option<String>); 7] {
        // Destructured whole: a new option does not compile until it has its row.
        let Options {
            port,
            login,
            ssh_client_folder,
            sides,
            grant_roles,
            remote,
            connect,
        } = self;
        let flag = |on: &bool| on.then(String::new);
        [
            ("port", port.map(|p| p.to_string())),
            ("login", Some(login.as_str().to_string())),
            (
                "ssh_client_folder",
                ssh_client_folder
                    .as_ref()
                    .map(|f| format!("\"{}\"", f.display())),
            ),
            (
                "sides",
                sides.as_ref().map(|s| {
                    s.iter()
                        .map(|s| side_name(*s))
                        .collect::<Vec<_>>()
                        .join(",")
                }),
            ),
            ("grant_roles", flag(grant_roles)),
            ("remote", flag(remote)),
            ("connect", flag(connect)),
        ]
    }

    /// Each option that differs, as `(made with, this run has)` in the words
    /// of the command line ("with --login entra", "--login local"), in the
    /// order of `--help`.
    pub fn differences(&self, now: &Options) -> Vec<(String, String)> {
        let made = self.as_typed();
        let now = now.as_typed();
        made.into_iter()
            .zip(now)
            .filter(|((_, a), (_, b))| a != b)
            .map(|((id, a), (_, b))| {
                let name = format!("--{}", long(id));
                let said = |value: &Option<String>, with: &str, without: &str| match value {
                    Some(v) if v.is_empty() => format!("{with}{name}"),
                    Some(v) => format!("{with}{name} {v}"),
                    None => format!("{without}{name}"),
                };
                (said(&a, "with ", "without "), said(&b, "", "no "))
            })
            .collect()
    }
}

impl Options {
    /// These options (a saved plan's), with each one whose clap id is in
    /// `typed` taken from `given` instead: what `apply FILE` compares, so
    /// that only an option typed beside the file can differ.
    pub fn with_typed(&self, given: &Options, typed: &[String]) -> Options {
        let pick = |id: &str| typed.iter().any(|t| t == id);
        // Destructured whole: a new option does not compile until it is here.
        let Options {
            port,
            login,
            ssh_client_folder,
            sides,
            grant_roles,
            remote,
            connect,
        } = given.clone();
        let mut out = self.clone();
        if pick("port") {
            out.port = port;
        }
        if pick("login") {
            out.login = login;
        }
        if pick("ssh_client_folder") {
            out.ssh_client_folder = ssh_client_folder;
        }
        if pick("sides") {
            out.sides = sides;
        }
        if pick("grant_roles") {
            out.grant_roles = grant_roles;
        }
        if pick("remote") {
            out.remote = remote;
        }
        if pick("connect") {
            out.connect = connect;
        }
        out.normalized()
    }
}

/// One side of `--checks`: as typed between commas, with the spaces around
/// it trimmed (`--checks "client, azure"`); an empty item is refused by name.
#[derive(Clone)]
struct SideList;

impl clap::builder::TypedValueParser for SideList {
    type Value = Side;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Side, clap::Error> {
        let inner = clap::builder::EnumValueParser::<Side>::new();
        match value.to_str().map(str::trim) {
            Some("") => {
                let name = arg
                    .map(|a| format!("--{}", a.get_long().unwrap_or("checks")))
                    .unwrap_or_else(|| "--checks".into());
                Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!(
                        "{name} has an empty item: name the sides separated by commas (client, azure, server)\n"
                    ),
                )
                .with_cmd(cmd))
            }
            Some(side) => inner.parse_ref(cmd, arg, std::ffi::OsStr::new(side)),
            None => inner.parse_ref(cmd, arg, value),
        }
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            <Side as clap::ValueEnum>::value_variants()
                .iter()
                .filter_map(clap::ValueEnum::to_possible_value),
        ))
    }
}

/// The long name of the option whose clap id is `id`, from its definition.
fn long(id: &str) -> String {
    let cmd = <Options as clap::Args>::augment_args(clap::Command::new("options"));
    cmd.get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
        .unwrap_or(id)
        .to_string()
}

/// `port` as saved plans of schema 1 record it: the port (22 when not given)
/// and whether it was given.
mod saved_port {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Saved {
        port: u16,
        /// Absent from plans saved before it was recorded: not given.
        #[serde(default)]
        port_given: bool,
    }

    pub fn serialize<S: Serializer>(port: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
        Saved {
            port: port.unwrap_or(super::DEFAULT_PORT),
            port_given: port.is_some(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        let saved = Saved::deserialize(d)?;
        Ok(saved.port_given.then_some(saved.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan saved by arcfix before the options were one struct.
    const SAVED: &str = r#"{"login":"entra","port":22,"port_given":false,"grant_roles":true,
        "checks":["client","azure"],"remote":false,"connect":true,"ssh_client_folder":"/opt/ssh bin"}"#;

    #[test]
    fn saved_options_keep_the_shape_of_schema_1() {
        let options: Options = serde_json::from_str(SAVED).unwrap();
        assert_eq!(
            options,
            Options {
                port: None,
                login: Login::Entra,
                ssh_client_folder: Some(PathBuf::from("/opt/ssh bin")),
                sides: Some(vec![Side::Client, Side::Azure]),
                grant_roles: true,
                remote: false,
                connect: true,
            }
        );
        let again = serde_json::to_value(&options).unwrap();
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(SAVED).unwrap()
        );
        let given = Options {
            port: Some(2222),
            ..Options::default()
        };
        let json = serde_json::to_value(&given).unwrap();
        assert_eq!(
            (&json["port"], &json["port_given"]),
            (&2222.into(), &true.into())
        );
        assert_eq!(
            serde_json::from_value::<Options>(json).unwrap(),
            given,
            "read back as written"
        );
        let before_port_given = SAVED.replace(r#""port_given":false,"#, "");
        let options: Options = serde_json::from_str(&before_port_given).unwrap();
        assert_eq!(options.port, None);
    }

    #[test]
    fn differences_are_said_in_the_flags_own_words() {
        let made: Options = serde_json::from_str(SAVED).unwrap();
        let now = Options {
            port: Some(22),
            ..Options::default()
        };
        let said: Vec<String> = made
            .differences(&now)
            .into_iter()
            .map(|(a, b)| format!("{a} / {b}"))
            .collect();
        assert_eq!(
            said,
            [
                "without --port / --port 22",
                "with --login entra / --login local",
                "with --ssh-client-folder \"/opt/ssh bin\" / no --ssh-client-folder",
                "with --checks client,azure / no --checks",
                "with --grant-roles / no --grant-roles",
                "with --connect / no --connect",
            ]
        );
        assert!(made.differences(&made.clone()).is_empty());
    }

    #[test]
    fn every_option_has_its_row_and_its_long_name() {
        let cmd = <Options as clap::Args>::augment_args(clap::Command::new("options"));
        let ids: Vec<&str> = cmd.get_arguments().map(|a| a.get_id().as_str()).collect();
        let rows: Vec<&str> = Options::default()
            .as_typed()
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(rows, ids, "as_typed lists the options in their clap order");
        for arg in cmd.get_arguments() {
            assert!(arg.get_long().is_some(), "{:?}", arg.get_id());
        }
    }

    #[test]
    fn only_the_options_typed_beside_a_saved_plan_are_compared() {
        let made: Options = serde_json::from_str(SAVED).unwrap();
        // Nothing typed: the plan's own options, nothing differs.
        let nothing = made.with_typed(&Options::default(), &[]);
        assert!(made.differences(&nothing).is_empty());
        // Each option typed is taken as typed, and only it can differ.
        let mut typed = Vec::new();
        let cmd = <Options as clap::Args>::augment_args(clap::Command::new("options"));
        for arg in cmd.get_arguments() {
            typed.push(arg.get_id().to_string());
            let now = made.with_typed(&Options::default(), &typed);
            assert_eq!(
                made.differences(&now).len(),
                made.differences(&Options::default())
                    .iter()
                    .filter(|(a, _)| typed
                        .iter()
                        .any(|id| a.contains(&format!("--{}", long(id)))))
                    .count(),
                "{typed:?}"
            );
        }
        assert_eq!(
            made.with_typed(&Options::default(), &typed),
            Options::default()
        );
    }

    #[test]
    fn checks_are_sorted_without_repeats() {
        let options = Options {
            sides: Some(vec![Side::Server, Side::Client, Side::Server]),
            ..Options::default()
        };
        assert_eq!(
            options.normalized().sides,
            Some(vec![Side::Client, Side::Server])
        );
    }
}
