//! Git submodules are not checked out yet: an app inside one would render from an empty
//! directory (and an empty render makes Argo CD prune everything), so it is refused by name.

use repo_source::RepoPath;

use crate::{Error, Root};

/// Fails when `app` is a submodule path of `.gitmodules` at the root, or lies below one.
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
        if inside && !module.is_root() {
            return Err(Error::Unsupported {
                what: format!(
                    "Git submodules (the app path {app} lies in submodule {module}, which is not checked out)"
                ),
            });
        }
    }
    Ok(())
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
    fn an_app_in_a_submodule_is_refused_and_others_render() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".gitmodules"),
            "[submodule \"charts\"]\n\tpath = vendor/charts\n\turl = https://git.example/charts.git\n",
        )
        .unwrap();
        let root = Root::new(dir.path()).unwrap();
        let app = |p: &str| RepoPath::new(p).unwrap();
        let err = refuse_inside(&root, &app("vendor/charts/web")).unwrap_err();
        assert!(
            err.to_string().contains("lies in submodule vendor/charts"),
            "{err}"
        );
        assert!(refuse_inside(&root, &app("vendor/charts")).is_err());
        assert!(refuse_inside(&root, &app("vendor/charts-other")).is_ok());
        assert!(refuse_inside(&root, &app("apps/web")).is_ok());
    }
}
