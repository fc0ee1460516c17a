//! The Dockerfile, checked structurally: Docker is not available where these tests run, so
//! the image itself is not built here (docs/image.md says how to build it).

use std::collections::BTreeMap;

use crate::support::read;

struct Instruction {
    keyword: String,
    args: String,
}

struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }

    /// `ARG NAME=default` of this stage.
    fn args(&self) -> BTreeMap<&str, &str> {
        args(self.all("ARG"))
    }
}

struct Dockerfile {
    /// ARGs before the first FROM: usable in FROM lines only.
    global: Vec<String>,
    stages: Vec<Stage>,
}

fn args<'a>(declarations: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, &'a str> {
    declarations
        .into_iter()
        .map(|a| a.split_once('=').unwrap_or((a, "")))
        .collect()
}

/// Logical lines (continuations joined, comment lines dropped, as Docker does), split into
/// stages at each FROM.
fn parse(text: &str) -> Dockerfile {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends inside a continued line"
    );

    let mut file = Dockerfile {
        global: Vec::new(),
        stages: Vec::new(),
    };
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let (image, name) = match words.as_slice() {
                [image] => (image.to_string(), None),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    (image.to_string(), Some(name.to_string()))
                }
                _ => panic!("FROM {args}: not `FROM image [AS name]`"),
            };
            file.stages.push(Stage {
                image,
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = file.stages.last_mut() {
            stage.instructions.push(Instruction { keyword, args });
        } else {
            assert_eq!(
                keyword, "ARG",
                "only ARG may precede the first FROM, not {keyword}"
            );
            file.global.push(args);
        }
    }
    file
}

/// `${NAME}` references (the Dockerfile writes build arguments braced).
fn references(text: &str) -> Vec<&str> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.split(':').next().unwrap_or(name))
        .collect()
}

fn dockerfile() -> Dockerfile {
    parse(&read("Dockerfile"))
}

#[test]
fn dockerfile_has_tool_build_and_runtime_stages() {
    let file = dockerfile();
    let names: Vec<Option<&str>> = file.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(
        names,
        [Some("helm"), Some("kustomize"), Some("builder"), None]
    );
    let runtime = file.stages.last().unwrap();
    assert!(
        runtime.image.starts_with("docker.io/library/debian:") && runtime.image.ends_with("-slim"),
        "runtime base {}",
        runtime.image
    );
    assert!(file.stages[2].image.starts_with("docker.io/library/rust:"));

    // COPY --from names only earlier stages.
    for (i, stage) in file.stages.iter().enumerate() {
        for copy in stage.all("COPY") {
            for from in copy
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("--from="))
            {
                assert!(
                    file.stages[..i]
                        .iter()
                        .any(|s| s.name.as_deref() == Some(from)),
                    "COPY --from={from} in stage {i} is not an earlier stage"
                );
            }
        }
    }
}

#[test]
fn dockerfile_runtime_is_non_root_with_the_server_as_entrypoint() {
    let file = dockerfile();
    let runtime = file.stages.last().unwrap();
    // The last USER wins; it must be the uid the manifests run as (runAsUser: 999).
    assert_eq!(runtime.all("USER").last(), Some(&"999"));
    let entrypoint = runtime.all("ENTRYPOINT");
    assert_eq!(entrypoint.len(), 1);
    let exec: Vec<String> = serde_json::from_str(entrypoint[0])
        .unwrap_or_else(|e| panic!("ENTRYPOINT must be exec form (JSON): {e}"));
    assert_eq!(exec, ["argocd-repo-server"]);

    let copies = runtime.all("COPY").join("\n");
    for (stage, what) in [
        ("helm", "/usr/local/bin/helm"),
        ("kustomize", "/usr/local/bin/kustomize"),
        ("builder", "/out/argocd-repo-server"),
        ("builder", "/out/repoctl"),
    ] {
        assert!(
            copies
                .lines()
                .any(|l| l.contains(&format!("--from={stage} ")) && l.contains(what)),
            "runtime does not copy {what} from {stage}"
        );
    }
    let runs = runtime.all("RUN").join("\n");
    for package in [
        "git",
        "git-lfs",
        "openssh-client",
        "ca-certificates",
        "gnupg",
    ] {
        assert!(
            runs.split_whitespace().any(|w| w == package),
            "runtime does not install {package}"
        );
    }
    assert!(
        runs.contains("useradd -r -u 999"),
        "no argocd user with uid 999"
    );

    // The builder builds the package that has both binaries.
    let builder = &file.stages[2];
    assert!(builder
        .all("RUN")
        .join(" ")
        .contains("cargo build --release --locked -p repo-cli"));
    let cli = read("crates/cli/Cargo.toml");
    assert!(cli.contains("name = \"repo-cli\""));
    for bin in ["argocd-repo-server", "repoctl"] {
        assert!(
            cli.contains(&format!("name = \"{bin}\"")),
            "crates/cli has no binary {bin}"
        );
    }
}

/// A build argument used outside the stage that declares it expands to nothing, silently.
#[test]
fn dockerfile_build_arguments_are_in_scope() {
    let file = dockerfile();
    let global = args(file.global.iter().map(String::as_str));
    for stage in &file.stages {
        for name in references(&stage.image) {
            assert!(
                global.contains_key(name),
                "FROM {} uses undeclared {name}",
                stage.image
            );
        }
        let declared = stage.args();
        let env: Vec<&str> = stage
            .all("ENV")
            .iter()
            .filter_map(|e| e.split('=').next())
            .collect();
        for instruction in &stage.instructions {
            for name in references(&instruction.args) {
                assert!(
                    declared.contains_key(name) || env.contains(&name),
                    "stage {:?}: {} uses {name}, which is not declared in the stage",
                    stage.name,
                    instruction.keyword
                );
            }
        }
    }
}

/// The image ships exactly the helm and kustomize the tests run against.
#[test]
fn dockerfile_tools_match_install_tools() {
    let script = read("scripts/install-tools");
    let var = |name: &str| -> String {
        script
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("scripts/install-tools has no {name}"))
            .to_string()
    };
    let first_in = |array: &str| -> String {
        let start = script
            .find(&format!("{array}=("))
            .unwrap_or_else(|| panic!("no {array}"));
        let body = &script[start + array.len() + 2..];
        let item = body
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches(['"', ')'])
            .to_string();
        item
    };

    let file = dockerfile();
    let global = args(file.global.iter().map(String::as_str));
    let helm = file.stages[0].args();
    let kustomize = file.stages[1].args();

    assert_eq!(helm["HELM_DIST_VERSION"], var("HELM_DIST_VERSION"));
    assert_eq!(helm["HELM_SHA256"], var("HELM_SHA256"));

    // KUSTOMIZE_DEBS=("sid 5.8.1+ds-1" ...): the first (preferred) suite and version.
    let start = script.find("KUSTOMIZE_DEBS=(\"").expect("KUSTOMIZE_DEBS");
    let first = script[start + "KUSTOMIZE_DEBS=(\"".len()..]
        .split('"')
        .next()
        .unwrap();
    let (suite, version) = first.split_once(' ').unwrap();
    assert_eq!(global["KUSTOMIZE_SUITE"], suite);
    assert_eq!(kustomize["KUSTOMIZE_DEB_VERSION"], version);
    assert_eq!(kustomize["KUSTOMIZE_SHA256"], first_in("KUSTOMIZE_SHA256S"));
}

#[test]
fn dockerfile_build_arguments_are_documented() {
    let file = dockerfile();
    let doc = read("docs/image.md");
    let mut all: Vec<(String, String)> = args(file.global.iter().map(String::as_str))
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for stage in &file.stages {
        all.extend(
            stage
                .args()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    assert!(all.len() >= 7, "{all:?}");
    for (name, default) in all {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/image.md does not list build argument {name}"));
        if !name.ends_with("SHA256") {
            assert!(
                row.contains(&format!("`{default}`")),
                "docs/image.md gives another default for {name}: {row}"
            );
        }
    }
}

#[test]
fn dockerignore_keeps_build_output_out_of_the_context() {
    let ignore = read(".dockerignore");
    let entries: Vec<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target", ".git", ".tools"] {
        assert!(entries.contains(&entry), ".dockerignore lacks {entry}");
    }
}
