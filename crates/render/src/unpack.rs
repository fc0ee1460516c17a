//! Archives unpacked into a fresh content root: streamed files (`argocd app sync --local`),
//! Helm charts and OCI artifacts. Every entry and link is confined to the root by the same
//! rules as a repository's symlinks.

use std::io::{BufRead, Read};
use std::path::{Component, Path};

use crate::links::in_bounds;
use crate::{scan, Error};

/// Entries (files, directories, links) a streamed archive may hold by default. Upstream has
/// no cap; a hundred thousand is far beyond any app and bounds the inodes one request creates.
pub const MAX_ENTRIES: u64 = 100_000;

/// Unpacks the tar (gzipped or not) read from `archive` into the empty directory `dir`, refusing
/// entries that leave it, links that point out of it (by their text, and followed on disk once
/// all are in place, as the render-time scan does), archives that expand beyond `max_bytes`
/// and archives of more than `max_entries` entries. On refusal `dir` may hold a part of
/// the archive: the caller removes it. `what` names the archive in errors. Answers the bytes
/// unpacked.
pub fn unpack(
    archive: impl BufRead,
    dir: &Path,
    max_bytes: u64,
    max_entries: u64,
    what: &str,
) -> Result<u64, Error> {
    let mut archive = archive;
    let bad = |why: String| Error::InvalidArgument(format!("{what}: {why}"));
    let gzipped = archive
        .fill_buf()
        .map_err(|e| bad(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + '_> = match gzipped {
        true => Box::new(flate2::read::GzDecoder::new(archive)),
        false => Box::new(archive),
    };
    let mut tar = tar::Archive::new(reader);
    let (mut total, mut count) = (0u64, 0u64);
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        count += 1;
        if count > max_entries {
            return Err(Error::TooLarge {
                what: format!("{what}, in entries,"),
                limit: max_entries,
            });
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(format!("{} leads outside the archive", path.display())));
        }
        if let Some(target) = entry.link_name().map_err(|e| bad(e.to_string()))? {
            // A symlink's target is relative to its own directory; a hard link's to the root.
            let from = if entry.header().entry_type().is_hard_link() {
                Path::new("link")
            } else {
                path.as_path()
            };
            if !in_bounds(from, &target) {
                return Err(bad(format!("{} links outside the archive", path.display())));
            }
        }
        total += entry.header().size().unwrap_or(0);
        if total > max_bytes {
            return Err(Error::TooLarge {
                what: format!("{what}, unpacked,"),
                limit: max_bytes,
            });
        }
        entry
            .unpack_in(dir)
            .map_err(|e| bad(format!("{}: {}", path.display(), unpack_error(&e, dir))))?;
    }
    // Drain what the decoder may still hold so a truncated archive is an error.
    std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(|e| bad(e.to_string()))?;
    // A link's text can read as inside while the tree on disk says otherwise (`s -> .` makes
    // `s/l -> ../x` land beside the root): check the links as a render would follow them.
    let root = dir.canonicalize().map_err(|e| Error::io(what, e))?;
    scan::check(&root, None)?;
    Ok(total)
}

/// Why an entry could not be unpacked, with the paths in the message relative to `dir` (the
/// tar crate names the server's absolute paths).
fn unpack_error(e: &std::io::Error, dir: &Path) -> String {
    let mut text = e.to_string();
    if let Some(cause) = e.get_ref().and_then(|inner| inner.source()) {
        text = format!("{text}: {cause}");
    }
    let mut prefixes = vec![dir.to_path_buf()];
    prefixes.extend(dir.canonicalize());
    for prefix in prefixes {
        text = text.replace(&format!("{}/", prefix.display()), "");
        text = text.replace(&prefix.display().to_string(), ".");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 30;

    fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, body) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *body).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn unpacks_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        unpack(
            tgz(&[("app/cm.yaml", b"kind: ConfigMap\n")]).as_slice(),
            dir.path(),
            MAX,
            MAX,
            "streamed files",
        )
        .unwrap();
        assert!(dir.path().join("app/cm.yaml").is_file());
        let again = tempfile::tempdir().unwrap();
        let bytes = unpack(
            tgz(&[("a.yaml", b"12345"), ("b.yaml", b"678")]).as_slice(),
            again.path(),
            MAX,
            MAX,
            "streamed files",
        )
        .unwrap();
        assert_eq!(bytes, 8, "the bytes unpacked");
        let mut raw = tgz(&[("ok.yaml", b"x")]);
        raw.truncate(raw.len() / 2);
        let err = unpack(raw.as_slice(), dir.path(), MAX, MAX, "streamed files").unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "truncated archive: {err}"
        );
        let err = unpack(
            tgz(&[("big.yaml", &[b'x'; 64])]).as_slice(),
            dir.path(),
            10,
            MAX,
            "streamed files",
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 10, .. }), "{err}");
    }

    #[test]
    fn hard_links_resolve_from_the_archive_root() {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_size(0);
        // Inside if read from `a/b/`, outside when resolved from the root, as tar does.
        builder
            .append_link(&mut header, "a/b/link", "../x")
            .unwrap();
        let archive = builder.into_inner().unwrap().finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(archive.as_slice(), dir.path(), MAX, MAX, "streamed files").unwrap_err();
        assert!(
            err.to_string().contains("links outside the archive"),
            "{err:?}"
        );
    }

    fn symlinks(links: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, target).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_link_through_a_link_to_the_root_is_refused_as_on_disk() {
        // `s/l` reads as one level down, but `s` is the root itself: `l` lands beside the
        // root and points out of it.
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("root");
        std::fs::create_dir(&dir).unwrap();
        let err = unpack(
            symlinks(&[("s", "."), ("s/l", "../x")]).as_slice(),
            &dir,
            MAX,
            MAX,
            "streamed files",
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::OutOfBounds { ref path } if path == "l"),
            "{err:?}"
        );
        // The builder refuses `..` in names: write the name into the header as an attacker would.
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_link_name("y").unwrap();
        let name = b"t/../../x";
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
        let archive = builder.into_inner().unwrap().finish().unwrap();
        let err = unpack(archive.as_slice(), &dir, MAX, MAX, "streamed files").unwrap_err();
        assert!(err.to_string().contains("leads outside"), "{err:?}");
    }

    #[test]
    fn archives_of_too_many_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let three = tgz(&[("a.yaml", b"a"), ("b.yaml", b"b"), ("c.yaml", b"c")]);
        unpack(three.as_slice(), dir.path(), MAX, 3, "streamed files").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(three.as_slice(), dir.path(), MAX, 2, "streamed files").unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 2, .. }), "{err}");
    }

    #[test]
    fn failures_name_no_server_path() {
        let dir = tempfile::tempdir().unwrap();
        let clash = tgz(&[("a", b"file"), ("a/b", b"under a file")]);
        let err = unpack(clash.as_slice(), dir.path(), MAX, MAX, "streamed files").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("a/b"), "{message}");
        assert!(
            !message.contains(&*dir.path().to_string_lossy()),
            "{message}"
        );
    }
}
