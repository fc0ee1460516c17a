//! Property: any tree of files, directories and inward links packed by the sender arrives
//! identical (modes normalized, as upstream) through the receiver, whatever the chunk size.

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use futures_util::StreamExt;
use proptest::prelude::*;
use repo_cmp::{receive, Limits, Pack};
use repo_source::RepoPath;

use crate::support::listing;

/// Relative paths of one to three parts from a small alphabet, so that parts are shared.
fn paths() -> impl Strategy<Value = Vec<String>> {
    let part = prop_oneof![
        Just("a"),
        Just("b"),
        Just("c.yaml"),
        Just("d d"),
        Just(".e")
    ];
    let path = proptest::collection::vec(part, 1..4).prop_map(|p| p.join("/"));
    proptest::collection::vec(path, 1..8)
}

/// A tree: files with contents, and links (path, target path, both from the root).
struct Tree {
    files: BTreeMap<String, Vec<u8>>,
    links: Vec<(String, String)>,
}

/// Files at `paths` (a path that is a prefix of another is a directory), and beside each file
/// a link to the next one.
fn tree(paths: &[String], sizes: &[usize]) -> Tree {
    let mut files = BTreeMap::new();
    for (i, path) in paths.iter().enumerate() {
        if !paths.iter().any(|p| p.starts_with(&format!("{path}/"))) {
            let body = (0..sizes[i % sizes.len()])
                .map(|n| (n * 31 + i) as u8)
                .collect();
            files.insert(path.clone(), body);
        }
    }
    let names: Vec<&String> = files.keys().collect();
    // `.link` is in no part of the alphabet: these names are free.
    let links = names
        .windows(2)
        .map(|pair| (format!("{}.link", pair[0]), pair[1].clone()))
        .collect();
    Tree { files, links }
}

fn write(root: &Path, tree: &Tree) {
    for (path, body) in &tree.files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, body).unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
    }
    for (from, to) in &tree.links {
        // Relative to the link's directory: up to the root, then down to the target.
        let target = format!("{}{to}", "../".repeat(from.matches('/').count()));
        std::os::unix::fs::symlink(target, root.join(from)).unwrap();
    }
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.unwrap();
        if entry.file_type().is_dir() {
            std::fs::set_permissions(entry.path(), Permissions::from_mode(0o755)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(48)
    })]

    #[test]
    fn trees_arrive_as_sent(
        paths in paths(),
        sizes in proptest::collection::vec(0usize..5000, 1..4),
        chunk in prop_oneof![Just(1usize), Just(7), Just(1024), Just(1 << 20)],
    ) {
        let source = tempfile::tempdir().unwrap();
        write(source.path(), &tree(&paths, &sizes));
        let work = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let received = runtime.block_on(async {
            let packed = Pack::new(source.path(), RepoPath::root()).pack().await.unwrap();
            let stream = packed.requests(&[], chunk).map(Ok);
            receive(Box::pin(stream), work.path(), Limits::default(), false).await
        });
        let received = received.unwrap();
        prop_assert_eq!(listing(received.dir.path()), listing(source.path()));
    }
}
