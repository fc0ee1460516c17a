//! Property tests of streamed-file unpacking: archives of arbitrary small entries (names and
//! link targets with `..`, absolute paths and links through links) never write outside the
//! target directory and never panic.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use repo_render::unpack;

#[derive(Clone, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
}

#[derive(Clone, Debug)]
struct Entry {
    name: String,
    kind: Kind,
}

/// Path text from pieces that matter for escapes; `@` stands for the canary directory's
/// absolute path, known only once the test has made it.
fn path_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(".."),
            Just("."),
            Just("a"),
            Just("s"),
            Just("canary"),
            Just("@"),
            Just(""),
        ],
        1..5,
    )
    .prop_map(|parts| parts.join("/"))
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Kind::File),
        Just(Kind::Dir),
        path_text().prop_map(Kind::Symlink),
        path_text().prop_map(Kind::HardLink),
    ];
    (path_text(), kind).prop_map(|(name, kind)| Entry { name, kind })
}

/// Writes the header fields as raw bytes: the `tar` builder refuses `..` and absolute names,
/// an attacker's archive does not.
fn archive(entries: &[Entry], canary: &Path) -> Vec<u8> {
    let canary = canary.to_str().expect("UTF-8 temp path");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for e in entries {
        let mut header = tar::Header::new_gnu();
        let (kind, link, body): (_, Option<&str>, &[u8]) = match &e.kind {
            Kind::File(body) => (tar::EntryType::Regular, None, body),
            Kind::Dir => (tar::EntryType::Directory, None, &[]),
            Kind::Symlink(to) => (tar::EntryType::Symlink, Some(to), &[]),
            Kind::HardLink(to) => (tar::EntryType::Link, Some(to), &[]),
        };
        header.set_entry_type(kind);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_size(body.len() as u64);
        let gnu = header.as_gnu_mut().expect("GNU header");
        put(&mut gnu.name, &e.name.replace('@', canary));
        if let Some(to) = link {
            put(&mut gnu.linkname, &to.replace('@', canary));
        }
        header.set_cksum();
        builder.append(&header, body).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn put(field: &mut [u8; 100], text: &str) {
    let bytes = &text.as_bytes()[..text.len().min(field.len())];
    field[..bytes.len()].copy_from_slice(bytes);
}

/// Every path under `dir`, not following links.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn never_writes_outside_the_target(entries in proptest::collection::vec(entry(), 1..6)) {
        let parent = tempfile::tempdir().unwrap();
        let (dir, canary) = (parent.path().join("root"), parent.path().join("canary"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::create_dir(&canary).unwrap();
        let result = unpack(archive(&entries, &canary).as_slice(), &dir, 1 << 20, 64, "archive");
        prop_assert!(tree(&canary).is_empty(), "{entries:?} wrote {:?}", tree(&canary));
        let beside: Vec<_> = std::fs::read_dir(parent.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        prop_assert_eq!(beside.len(), 2, "{:?} made {:?}", entries, beside);
        if result.is_ok() {
            // An accepted tree's links all resolve inside it (or nowhere).
            let root = dir.canonicalize().unwrap();
            for path in tree(&dir) {
                if let Ok(real) = path.canonicalize() {
                    prop_assert!(real.starts_with(&root), "{entries:?}: {path:?} -> {real:?}");
                }
            }
        }
    }
}
