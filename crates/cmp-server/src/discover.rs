//! `MatchRepository`: whether the plugin handles an app, by upstream's rules, first set wins:
//! 1. `discover.fileName`: Go's `filepath.Glob` from the app directory (`*` within a name);
//! 2. `discover.find.glob`: zglob from the app directory (`**/` spans directories; a pattern
//!    without wildcards must exist, else it is an error);
//! 3. `discover.find.command`: run in the app directory, matches when it exits 0 and prints
//!    something.
//!
//! Patterns are matched against paths relative to the unpacked repository, so neither the
//! scratch path nor wildcard characters in the app path take part, and a pattern climbing
//! out of the repository is refused instead of searching the sidecar's file system.

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use tokio::time::Instant;
use tonic::Code;
use walkdir::WalkDir;

use crate::config::Discover;
use crate::exec::{self, Limits};
use crate::failure::Failure;

/// `(is_supported, is_discovery_enabled)`, or an error that upstream also reports.
pub async fn matches(
    discover: &Discover,
    root: &Path,
    app_rel: &str,
    app_dir: &Path,
    env: &[(String, String)],
    limits: &Limits,
    deadline: Option<Instant>,
) -> Result<(bool, bool), Failure> {
    let invalid = |m: String| Failure::new(Code::InvalidArgument, m);
    if !discover.file_name.is_empty() {
        let pattern = discover.file_name.clone();
        let (root, pattern) = (
            root.to_path_buf(),
            joined(app_rel, &pattern).map_err(invalid)?,
        );
        let found = blocking(move || file_name(&root, &pattern)).await;
        return found.map(|m| (m, true)).map_err(|e| {
            invalid(format!(
                "error finding filename match for pattern {:?}: {e}",
                discover.file_name
            ))
        });
    }
    if !discover.find.glob.is_empty() {
        let (root, pattern) = (
            root.to_path_buf(),
            joined(app_rel, &discover.find.glob).map_err(invalid)?,
        );
        let found = blocking(move || zglob(&root, &pattern)).await;
        return found.map(|m| (m, true)).map_err(|e| {
            invalid(format!(
                "error finding glob match for pattern {:?}: {e}",
                discover.find.glob
            ))
        });
    }
    if discover.find.command.is_set() {
        let out = exec::run(&discover.find.command, app_dir, env, limits, deadline)
            .await
            .map_err(|e| Failure::from(e).context("error running find command"))?;
        return Ok((!out.is_empty(), true));
    }
    Ok((false, false))
}

/// `a/b/../c` → `[a, c]` after `base`; `None` when `..` climbs above the root.
fn clean(base: &[String], path: &str) -> Option<Vec<String>> {
    let mut out = base.to_vec();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s.to_string()),
        }
    }
    Some(out)
}

/// The pattern as a path relative to the repository: the app path (its wildcards escaped)
/// joined with `pattern`, cleaned as Go's `filepath.Join` does.
fn joined(app_rel: &str, pattern: &str) -> Result<String, String> {
    let app = clean(&[], app_rel).ok_or("illegal appPath: out of workDir bound")?;
    let app: Vec<String> = app.iter().map(|s| escape(s)).collect();
    let all = clean(&app, pattern)
        .ok_or_else(|| format!("discovery pattern {pattern:?} leads outside the repository"))?;
    Ok(all.join("/"))
}

fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\', '{'])
}

/// Go's `filepath.Glob`: entries exactly as deep as the pattern, each segment matched
/// within one name; a pattern without wildcards just has to exist.
fn file_name(root: &Path, pattern: &str) -> Result<bool, String> {
    let glob =
        repo_render::filepath_glob(pattern).map_err(|e| format!("syntax error in pattern: {e}"))?;
    if !has_meta(pattern) {
        return Ok(root.join(pattern).symlink_metadata().is_ok());
    }
    let depth = pattern.split('/').count();
    Ok(walk(root, depth, depth).any(|rel| glob.is_match(rel)))
}

/// mattn/go-zglob: `**/` spans zero or more directories, `*` stays within a name, braces
/// alternate; a pattern without wildcards is an error when nothing is there.
fn zglob(root: &Path, pattern: &str) -> Result<bool, String> {
    let glob: GlobMatcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| e.to_string())?
        .compile_matcher();
    if !has_meta(pattern) {
        return match root.join(pattern).symlink_metadata() {
            Ok(_) => Ok(true),
            Err(_) => Err("file does not exist".into()),
        };
    }
    Ok(walk(root, 1, usize::MAX).any(|rel| glob.is_match(rel)))
}

/// Paths relative to `root`, `/`-separated, between the depths given. Links are followed
/// as Go's glob does; the unpacked tree holds none that leave it.
fn walk(root: &Path, min: usize, max: usize) -> impl Iterator<Item = String> + '_ {
    WalkDir::new(root)
        .follow_links(true)
        .min_depth(min)
        .max_depth(max)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(move |e| {
            let rel = e.path().strip_prefix(root).ok()?;
            Some(rel.to_str()?.to_string())
        })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command, Find};
    use std::time::Duration;

    /// Upstream's testdata/kustomize layout.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("kustomize");
        std::fs::create_dir_all(app.join("config")).unwrap();
        std::fs::write(app.join("kustomization.yaml"), "resources: [cm.yaml]\n").unwrap();
        std::fs::write(app.join("cm.yaml"), "kind: ConfigMap\n").unwrap();
        std::fs::write(app.join("config/plugin.yaml"), "kind: x\n").unwrap();
        dir
    }

    async fn check(d: Discover) -> Result<(bool, bool), String> {
        let repo = repo();
        let limits = Limits {
            timeout: Duration::from_secs(60),
            fatal_timeout: Duration::from_secs(10),
            max_output: 1 << 20,
        };
        let env = [("ENV_VAR".to_string(), "1".to_string())];
        let app = repo.path().join("kustomize");
        matches(&d, repo.path(), "kustomize", &app, &env, &limits, None)
            .await
            .map_err(|f| f.message)
    }

    fn file(name: &str) -> Discover {
        Discover {
            file_name: name.into(),
            ..Discover::default()
        }
    }

    fn glob(g: &str) -> Discover {
        Discover {
            find: Find {
                glob: g.into(),
                ..Find::default()
            },
            ..Discover::default()
        }
    }

    fn command(c: &[&str]) -> Discover {
        Discover {
            find: Find {
                command: Command {
                    command: c.iter().map(|s| s.to_string()).collect(),
                    args: vec![],
                },
                ..Find::default()
            },
            ..Discover::default()
        }
    }

    // Upstream's TestMatchRepository, case by case.
    #[tokio::test]
    async fn upstream_cases() {
        assert_eq!(check(file("kustomization.yaml")).await, Ok((true, true)));
        assert_eq!(check(file("not_found.yaml")).await, Ok((false, true)));
        let e = check(file("[")).await.unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
        assert_eq!(check(glob("**/*/plugin.yaml")).await, Ok((true, true)));
        assert_eq!(check(glob("**/*/not_found.yaml")).await, Ok((false, true)));
        let e = check(glob("does-not-exist")).await.unwrap_err();
        assert!(e.contains("error finding glob match for pattern"), "{e}");
        assert_eq!(check(command(&["echo", "test"])).await, Ok((true, true)));
        assert_eq!(check(command(&["echo"])).await, Ok((false, true)));
        let var = ["sh", "-c", "echo -n $ENV_VAR"];
        assert_eq!(check(command(&var)).await, Ok((true, true)));
        let no_var = ["sh", "-c", "printf \"%s\" \"$ENV_NO_VAR\""];
        assert_eq!(check(command(&no_var)).await, Ok((false, true)));
        assert!(check(command(&["cat", "nil"])).await.is_err());
        assert_eq!(check(Discover::default()).await, Ok((false, false)));
    }

    #[tokio::test]
    async fn file_name_stays_within_one_directory_level_per_star() {
        assert_eq!(check(file("*.yaml")).await, Ok((true, true)));
        assert_eq!(check(file("./config/p*.yaml")).await, Ok((true, true)));
        assert_eq!(check(file("*/plugin.yaml")).await, Ok((true, true)));
        assert_eq!(check(file("plugin.yaml")).await, Ok((false, true)));
        assert_eq!(check(file("**/cm.yaml")).await, Ok((false, true)));
        assert_eq!(check(file("../kustomize/cm.yaml")).await, Ok((true, true)));
    }

    #[tokio::test]
    async fn patterns_never_leave_the_repository() {
        let e = check(file("../../etc/passwd")).await.unwrap_err();
        assert!(e.contains("outside the repository"), "{e}");
        let e = check(glob("../../**/passwd")).await.unwrap_err();
        assert!(e.contains("outside the repository"), "{e}");
        assert_eq!(joined("./a/b/..", "*.y"), Ok("a/*.y".to_string()));
        assert!(joined("a/../../x", "*.y").is_err());
    }

    #[tokio::test]
    async fn wildcards_in_the_app_path_are_literal() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("a[1]")).unwrap();
        std::fs::write(repo.path().join("a[1]/x.yaml"), "").unwrap();
        let limits = Limits {
            timeout: Duration::from_secs(60),
            fatal_timeout: Duration::from_secs(10),
            max_output: 1 << 20,
        };
        let app = repo.path().join("a[1]");
        let found = matches(
            &file("*.yaml"),
            repo.path(),
            "a[1]",
            &app,
            &[],
            &limits,
            None,
        )
        .await;
        assert_eq!(found.map_err(|f| f.message), Ok((true, true)));
    }
}
