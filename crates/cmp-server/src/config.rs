//! The plugin definition: `plugin.yaml`, a `ConfigManagementPlugin` manifest, read as
//! upstream's `cmpserver/plugin/config.go` reads it (unknown fields ignored, `null` for any
//! field means its default) and validated with its rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// The file read from the configuration directory.
pub const FILE_NAME: &str = "plugin.yaml";
const KIND: &str = "ConfigManagementPlugin";

/// Why the plugin definition cannot be used; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid plugin configuration file: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Plugin {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: Spec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub init: Command,
    #[serde(default, deserialize_with = "nullable")]
    pub generate: Command,
    #[serde(default, deserialize_with = "nullable")]
    pub discover: Discover,
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: Parameters,
    #[serde(default, deserialize_with = "nullable")]
    pub preserve_file_mode: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub provide_git_creds: bool,
}

/// A program and its arguments: `command` then `args`, never through a shell.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Command {
    #[serde(default, deserialize_with = "nullable")]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<String>,
}

impl Command {
    pub fn is_set(&self) -> bool {
        !self.command.is_empty()
    }

    /// The command line as the error messages show it.
    pub fn display(&self) -> String {
        self.command
            .iter()
            .chain(&self.args)
            .map(|a| {
                if a.is_empty() || a.chars().any(char::is_whitespace) {
                    format!("{a:?}")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discover {
    #[serde(default, deserialize_with = "nullable")]
    pub file_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub find: Find,
}

impl Discover {
    /// Upstream's `IsDefined`: discovery is on when any of its three rules is set.
    pub fn is_defined(&self) -> bool {
        !self.file_name.is_empty() || !self.find.glob.is_empty() || self.find.command.is_set()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Find {
    #[serde(flatten)]
    pub command: Command,
    #[serde(default, deserialize_with = "nullable")]
    pub glob: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Parameters {
    #[serde(default, deserialize_with = "nullable")]
    pub r#static: Vec<Announcement>,
    #[serde(default, deserialize_with = "nullable")]
    pub dynamic: Command,
}

/// One parameter announcement (`repository.ParameterAnnouncement`), as written in
/// `parameters.static` and printed by the `parameters.dynamic` command.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub tooltip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub required: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub item_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub collection_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub string: String,
    #[serde(default, deserialize_with = "nullable")]
    pub array: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub map: BTreeMap<String, String>,
}

impl From<Announcement> for repo_proto::repository::ParameterAnnouncement {
    fn from(a: Announcement) -> Self {
        Self {
            name: a.name,
            title: a.title,
            tooltip: a.tooltip,
            required: a.required,
            item_type: a.item_type,
            collection_type: a.collection_type,
            string: a.string,
            array: a.array,
            map: a.map.into_iter().collect(),
        }
    }
}

/// `null` reads as the default, as Go's decoder leaves a field alone on `null`.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Plugin {
    /// Reads and validates `<dir>/plugin.yaml`.
    pub fn read(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid { path, message })
    }

    /// Parses and validates a definition.
    pub fn parse(text: &str) -> Result<Self, String> {
        let plugin: Option<Plugin> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let plugin = plugin.unwrap_or_default();
        plugin.validate()?;
        Ok(plugin)
    }

    /// Upstream's `ValidatePluginConfig`, plus names that stay one file in the socket
    /// directory.
    fn validate(&self) -> Result<(), String> {
        if self.metadata.name.is_empty() {
            return Err("metadata.name should be non-empty".into());
        }
        if self.kind != KIND {
            return Err(format!("kind should be {KIND}, found {}", self.kind));
        }
        if !self.spec.generate.is_set() {
            return Err("spec.generate command should be non-empty".into());
        }
        for (field, value) in [
            ("metadata.name", &self.metadata.name),
            ("spec.version", &self.spec.version),
        ] {
            if value.contains(['/', '\0']) || value == ".." {
                return Err(format!("{field} {value:?} cannot name a socket file"));
            }
        }
        Ok(())
    }

    /// `<name>-<version>` with a version, else `<name>`: what an Application's
    /// `spec.source.plugin.name` says, and the socket's file stem.
    pub fn full_name(&self) -> String {
        match self.spec.version.as_str() {
            "" => self.metadata.name.clone(),
            version => format!("{}-{version}", self.metadata.name),
        }
    }

    /// The socket the plugin serves on in `dir`.
    pub fn address(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.sock", self.full_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream's Test_ReadPluginConfig.
    #[test]
    fn upstream_validation() {
        let err = |text: &str| Plugin::parse(text).unwrap_err();
        assert_eq!(err("\nmetadata:\n"), "metadata.name should be non-empty");
        assert_eq!(
            err("\nmetadata:\n  name: \"\"\n"),
            "metadata.name should be non-empty"
        );
        assert_eq!(
            err("\nkind: invalid\nmetadata:\n  name: name\n"),
            "kind should be ConfigManagementPlugin, found invalid"
        );
        assert_eq!(
            err("\nkind: ConfigManagementPlugin\nmetadata:\n  name: name\n"),
            "spec.generate command should be non-empty"
        );
        assert_eq!(err(""), "metadata.name should be non-empty");
        let ok = Plugin::parse(
            "\nkind: ConfigManagementPlugin\nmetadata:\n  name: name\nspec:\n  generate:\n    command: [command]\n",
        )
        .unwrap();
        assert_eq!(
            ok,
            Plugin {
                kind: KIND.into(),
                metadata: Metadata {
                    name: "name".into()
                },
                spec: Spec {
                    generate: Command {
                        command: vec!["command".into()],
                        args: vec![]
                    },
                    ..Spec::default()
                }
            }
        );
    }

    #[test]
    fn the_documented_example() {
        let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: my-plugin
spec:
  version: v1.0
  init:
    command: [sh]
    args: [-c, 'echo "Initializing..."']
  generate:
    command: [sh, -c]
    args:
      - |
        echo "{}"
  discover:
    fileName: "./subdir/s*.yaml"
    find:
      glob: "**/Chart.yaml"
      command: [sh, -c, find . -name env.yaml]
  parameters:
    static:
      - name: string-param
        title: Description of the string param
        required: false
        itemType: ""
        collectionType: ""
        string: default-string-value
      - name: array-param
        array: [default, items]
        collectionType: array
      - name: map-param
        map:
          some: value
        collectionType: map
    dynamic:
      command: [echo, '[{"name": "example-param", "string": "default-string-value"}]']
  preserveFileMode: false
  provideGitCreds: true
"#;
        let p = Plugin::parse(text).unwrap();
        assert_eq!(p.full_name(), "my-plugin-v1.0");
        assert_eq!(
            p.spec.init.display(),
            "sh -c \"echo \\\"Initializing...\\\"\""
        );
        assert_eq!(p.spec.discover.file_name, "./subdir/s*.yaml");
        assert_eq!(p.spec.discover.find.glob, "**/Chart.yaml");
        assert_eq!(p.spec.discover.find.command.command.len(), 3);
        assert_eq!(p.spec.parameters.r#static.len(), 3);
        assert_eq!(p.spec.parameters.r#static[1].array, ["default", "items"]);
        assert_eq!(p.spec.parameters.r#static[2].map["some"], "value");
        assert_eq!(p.spec.parameters.r#static[2].collection_type, "map");
        assert_eq!(p.spec.parameters.dynamic.command[0], "echo");
        assert!(p.spec.provide_git_creds && !p.spec.preserve_file_mode);
    }

    // Upstream's Test_IsDefined.
    #[test]
    fn discovery_is_defined_by_any_rule() {
        let mut d = Discover::default();
        assert!(!d.is_defined());
        d.find.command.command = vec![];
        assert!(!d.is_defined());
        d.find.glob = "glob".into();
        assert!(d.is_defined());
        let d = Discover {
            file_name: "f".into(),
            ..Discover::default()
        };
        assert!(d.is_defined());
        let mut d = Discover::default();
        d.find.command.command = vec!["command".into()];
        assert!(d.is_defined());
    }

    // Upstream's Test_PluginConfig_Address.
    #[test]
    fn socket_names() {
        let mut p = Plugin::parse(
            "kind: ConfigManagementPlugin\nmetadata: {name: name}\nspec: {generate: {command: [x]}}",
        )
        .unwrap();
        let dir = Path::new("/plugins");
        assert_eq!(p.address(dir), Path::new("/plugins/name.sock"));
        p.spec.version = "version".into();
        assert_eq!(p.address(dir), Path::new("/plugins/name-version.sock"));
    }

    #[test]
    fn names_that_leave_the_socket_directory_are_refused() {
        let e = Plugin::parse(
            "kind: ConfigManagementPlugin\nmetadata: {name: a}\nspec: {version: ../../x, generate: {command: [x]}}",
        )
        .unwrap_err();
        assert!(e.contains("spec.version"), "{e}");
    }

    #[test]
    fn type_errors_say_where() {
        let e = Plugin::parse(
            "kind: ConfigManagementPlugin\nmetadata: {name: a}\nspec:\n  generate:\n    command: {a: b}\n",
        )
        .unwrap_err();
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = Plugin::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&dir.path().join(FILE_NAME).display().to_string()),
            "{e}"
        );
        std::fs::write(dir.path().join(FILE_NAME), "kind: x\nmetadata: {name: a}\n").unwrap();
        let e = Plugin::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("plugin.yaml: invalid plugin configuration file: kind"),
            "{e}"
        );
    }
}
