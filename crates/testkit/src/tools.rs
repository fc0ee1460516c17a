//! The external programs tests run: `.tools/bin` (scripts/install-tools) first, then `PATH`.

use std::path::{Path, PathBuf};

/// The paths of `names`, or `None` with the reason printed when one is missing; under
/// `CI=true` a missing tool fails the test instead.
pub fn tools<const N: usize>(names: [&str; N]) -> Option<[PathBuf; N]> {
    let dirs: Vec<PathBuf> =
        std::iter::once(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin"))
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ))
            .collect();
    let found = names.map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()));
    let missing: Vec<&str> = names
        .iter()
        .zip(&found)
        .filter(|(_, path)| path.is_none())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Some(found.map(Option::unwrap));
    }
    let why = format!("missing {}: run scripts/install-tools", missing.join(", "));
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipping: {why}");
    None
}
