//! A private, writable view of the shared snapshot for tools that write next to the app
//! (`kustomize edit`, `helm dependency build`).
//!
//! Only the app directory's subtree is materialized: files directly in it (the only ones the
//! tools rewrite) are real copies, deeper files are hard links (copies when linking fails).
//! The directories leading to it are real too, and every other entry beside them is a
//! symlink into the snapshot, which tools only read. The cost thus follows the app's size,
//! not the repository's (a full hard-link copy cost about 12 µs per file).
//!
//! The whole snapshot is still walked: every symlink is checked like upstream's
//! out-of-bounds symlink scan, and the first that escapes the repository fails the render.
//! `.git` is left out.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::scan::{entries, link_target};
use crate::Error;

/// Mirrors the canonical snapshot `root` into the empty directory `into`; `app` is the app
/// directory relative to `root`.
pub(crate) fn mirror(root: &Path, app: &Path, into: &Path) -> Result<(), Error> {
    for entry in entries(root) {
        let (entry, rel) = entry?;
        let rel = rel.as_path();
        let name = || rel.to_string_lossy().into_owned();
        let target = link_target(root, &entry, rel)?;
        let dest = into.join(rel);
        let made = if app.starts_with(rel) {
            fs::create_dir(&dest)
        } else if rel.starts_with(app) {
            materialize(
                entry.path(),
                &dest,
                target.as_deref(),
                rel.parent() == Some(app),
            )
        } else if rel.parent().is_some_and(|p| app.starts_with(p)) {
            symlink(entry.path(), &dest)
        } else {
            Ok(())
        };
        made.map_err(|e| Error::io(format!("copying {}", name()), e))?;
    }
    Ok(())
}

/// Recreates one entry of the app subtree. `top` marks files directly in the app directory.
fn materialize(from: &Path, to: &Path, link: Option<&Path>, top: bool) -> std::io::Result<()> {
    match link {
        // A link in the app directory is materialized so a write through it stays private.
        Some(_) if top && from.is_file() => copy(from, to),
        Some(target) => symlink(target, to),
        None if from.is_dir() => fs::create_dir(to),
        None if top => copy(from, to),
        None => fs::hard_link(from, to).or_else(|_| copy(from, to)),
    }
}

/// Copies a file and makes the copy writable by its owner.
fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::copy(from, to)?;
    let mut perms = fs::metadata(to)?.permissions();
    perms.set_mode(perms.mode() | 0o600);
    fs::set_permissions(to, perms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn only_the_app_subtree_is_materialized() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let root = src.path().canonicalize().unwrap();
        for dir in ["apps/web/templates", "apps/other", "base", ".git"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::write(
            root.join("apps/web/kustomization.yaml"),
            "resources: [../../base]\n",
        )
        .unwrap();
        fs::write(root.join("apps/web/templates/t.yaml"), "t").unwrap();
        fs::write(root.join("base/cm.yaml"), "kind: ConfigMap\n").unwrap();
        fs::write(root.join(".git/HEAD"), "ref\n").unwrap();
        symlink("../../base/cm.yaml", root.join("apps/web/cm.yaml")).unwrap();
        mirror(&root, Path::new("apps/web"), dst.path()).unwrap();

        let out = dst.path();
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        let is_link = |p: &Path| fs::symlink_metadata(p).unwrap().is_symlink();
        assert_ne!(
            ino(&out.join("apps/web/kustomization.yaml")),
            ino(&root.join("apps/web/kustomization.yaml"))
        );
        assert!(!is_link(&out.join("apps/web/cm.yaml")));
        assert_eq!(
            ino(&out.join("apps/web/templates/t.yaml")),
            ino(&root.join("apps/web/templates/t.yaml"))
        );
        assert!(is_link(&out.join("base")) && is_link(&out.join("apps/other")));
        assert_eq!(
            fs::read_to_string(out.join("base/cm.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );
        assert!(!out.join(".git").exists());
        fs::write(out.join("apps/web/kustomization.yaml"), "changed").unwrap();
        assert_eq!(
            fs::read_to_string(root.join("apps/web/kustomization.yaml")).unwrap(),
            "resources: [../../base]\n"
        );
    }

    #[test]
    fn escaping_links_anywhere_fail_without_naming_the_target() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let root = src.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("a")).unwrap();
        fs::create_dir_all(root.join("far/away")).unwrap();
        symlink("../../../etc/hostname", root.join("far/away/host")).unwrap();
        let err = mirror(&root, Path::new("a"), dst.path()).unwrap_err();
        assert!(
            matches!(&err, Error::OutOfBounds { path } if path == "far/away/host"),
            "{err}"
        );
        assert!(!err.to_string().contains("etc"));
    }
}
