//! An app inside a git submodule renders from the submodule's files, which the git engine
//! fills into the snapshot. When it did not (submodules disabled, `update = none`, a gitlink
//! without a URL), the directory is empty, and an empty render would make Argo CD prune
//! everything, so such an app is refused by name instead.

use repo_source::RepoPath;

use crate::{Error, Root};

/// Fails when `app` is, or lies below, a submodule path of `.gitmodules` at the root whose
/// directory is empty or missing.
pub(crate) fn refuse_inside(root: &Root, app: &RepoPath) -> Result<(), Error> {
    let Ok(file) = root.resolve(".gitmodules") else {
        return Ok(());
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for module in paths(&text) {
        let Ok(module) = RepoPath::new(module) else {
            continue;
        };
        let inside = app == &module || app.as_str().starts_with(&format!("{module}/"));
        if inside && !module.is_root() && !checked_out(root, &module) {
            return Err(Error::Unsupported {
                what: format!(
                    "an app in a git submodule that is not checked out (the app path {app} lies in submodule {module}: turn submodules on with ARGOCD_GIT_MODULES_ENABLED=true, or check its .gitmodules entry)"
                ),
            });
        }
    }
    Ok(())
}

/// Whether the submodule's directory holds anything (opened through the root, so a symlink
/// out of it counts as not checked out).
fn checked_out(root: &Root, module: &RepoPath) -> bool {
    root.open(module)
        .ok()
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|mut entries| entries.next().is_some())
}

/// The `path = …` values of a `.gitmodules` file.
fn paths(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == "path").then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_in_an_empty_submodule_is_refused_and_others_render() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".gitmodules"),
            "[submodule \"charts\"]\n\tpath = vendor/charts\n\turl = https://git.example/charts.git\n\
             [submodule \"libs\"]\n\tpath = vendor/libs\n\turl = https://git.example/libs.git\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("vendor/charts")).unwrap();
        std::fs::create_dir_all(dir.path().join("vendor/libs/web")).unwrap();
        std::fs::write(
            dir.path().join("vendor/libs/web/cm.yaml"),
            "kind: ConfigMap\n",
        )
        .unwrap();
        let root = Root::new(dir.path()).unwrap();
        let app = |p: &str| RepoPath::new(p).unwrap();
        let err = refuse_inside(&root, &app("vendor/charts/web")).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("lies in submodule vendor/charts"), "{shown}");
        assert!(shown.contains("ARGOCD_GIT_MODULES_ENABLED=true"), "{shown}");
        assert!(refuse_inside(&root, &app("vendor/charts")).is_err());
        assert!(refuse_inside(&root, &app("vendor/charts-other")).is_ok());
        assert!(refuse_inside(&root, &app("apps/web")).is_ok());
        // Checked out by the git engine: renders like any directory.
        assert!(refuse_inside(&root, &app("vendor/libs/web")).is_ok());
        assert!(refuse_inside(&root, &app("vendor/libs")).is_ok());
    }

    #[test]
    fn a_submodule_path_that_is_a_symlink_out_counts_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("cm.yaml"), "kind: ConfigMap\n").unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        std::fs::write(
            repo.join(".gitmodules"),
            "[submodule \"x\"]\n\tpath = x\n\turl = ../x.git\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), repo.join("x")).unwrap();
        let root = Root::new(&repo).unwrap();
        assert!(refuse_inside(&root, &RepoPath::new("x").unwrap()).is_err());
    }
}
