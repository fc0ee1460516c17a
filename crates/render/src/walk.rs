//! The one walker of a content tree: snapshot scans, directory apps, value-file globs, chart
//! digests, app discovery and file listings all go through it.

use std::path::Path;

use walkdir::DirEntry;

use crate::Error;

/// Entries below `dir` (not `dir` itself) down to `depth` levels, in file-name order, each
/// directory before its contents; symlinks are reported, never followed; a `.git` directly in
/// `dir` is left out, and so is every entry (with its subtree) that `keep` refuses.
pub(crate) fn walk(
    dir: &Path,
    depth: usize,
    mut keep: impl FnMut(&DirEntry) -> bool,
) -> impl Iterator<Item = Result<DirEntry, Error>> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(depth)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |e| !(e.depth() == 1 && e.file_name() == ".git") && keep(e))
        .map(|entry| entry.map_err(|e| Error::io("walking the repository", e.into())))
}

/// Everything below `dir`: [`walk`] with no depth limit or filter.
pub(crate) fn tree(dir: &Path) -> impl Iterator<Item = Result<DirEntry, Error>> {
    walk(dir, usize::MAX, |_| true)
}

/// Whether the entry is a hidden file or directory (its name starts with `.`).
pub(crate) fn hidden(entry: &DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with('.')
}
