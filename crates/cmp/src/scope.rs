//! Which directory is sent with `--plugin-use-manifest-generate-paths` (upstream's
//! `getApplicationRootPath`).

use repo_source::RepoPath;

/// The deepest directory holding the app path and every path of the
/// `argocd.argoproj.io/manifest-generate-paths` annotation (`;`-separated; relative to the app
/// path, or to the repository with a leading `/`); the repository root when it names none. A
/// path climbing above the repository counts as the root, as upstream's secure join clamps it.
pub fn generate_root(app: &RepoPath, annotation: &str) -> RepoPath {
    let paths: Vec<RepoPath> = annotation
        .split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let joined = match p.strip_prefix('/') {
                // `//a` is `/a`, as Go's Clean reads it.
                Some(_) => RepoPath::new(p.trim_start_matches('/')),
                None => app.join(p),
            };
            joined.unwrap_or_else(|_| RepoPath::root())
        })
        .collect();
    if paths.is_empty() {
        return RepoPath::root();
    }
    let parts = |p: &RepoPath| -> Vec<String> {
        match p.is_root() {
            true => Vec::new(),
            false => p.as_str().split('/').map(str::to_string).collect(),
        }
    };
    let mut common = parts(app);
    for path in &paths {
        let other = parts(path);
        let shared = common
            .iter()
            .zip(&other)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(shared);
    }
    // Parts of a valid path joined again are valid.
    RepoPath::new(&common.join("/")).unwrap_or_else(|_| RepoPath::root())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(app: &str, annotation: &str) -> String {
        generate_root(&RepoPath::new(app).unwrap(), annotation).to_string()
    }

    #[test]
    fn upstream_cases() {
        // Upstream's TestGetCommonRootPath, relative to the repository.
        let app = "services/helloworld";
        let team = "services/team/helloworld";
        assert_eq!(root(app, "."), app);
        assert_eq!(root(app, "../../overlays;."), ".");
        assert_eq!(root(app, "/services;."), "services");
        assert_eq!(root(team, "../../;..;."), "services");
        assert_eq!(root(app, ""), ".");
        assert_eq!(root(team, "./manifests"), team);
        assert_eq!(root(app, "/services/shared/*-secret.yaml"), "services");
        assert_eq!(root(app, "../*"), "services");
        assert_eq!(root(app, "//services/shared/*-secret.yaml"), "services");
    }

    #[test]
    fn common_root_of_app_and_annotation_paths() {
        assert_eq!(
            root("a/b/c", ""),
            ".",
            "no annotation: the whole repository"
        );
        assert_eq!(root("a/b/c", "."), "a/b/c");
        assert_eq!(root("a/b/c", ".;../d"), "a/b");
        assert_eq!(root("a/b/c", "/a/x;."), "a");
        assert_eq!(root("a/b/c", "/z"), ".", "disjoint paths meet at the root");
        assert_eq!(root("a/b/c", "../../../.."), ".", "clamped at the root");
        assert_eq!(root("a/b/c", "d/e"), "a/b/c", "below the app: the app");
        assert_eq!(root(".", "a"), ".");
        assert_eq!(root("ab/c", "/a/c"), ".", "by parts, not by characters");
    }
}
