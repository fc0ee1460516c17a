//! Streamed files (`argocd app sync --local`): a gzipped tar unpacked into a fresh content root,
//! every entry and link confined to it by the same rule as a repository's symlinks.

use std::io::Read;
use std::path::{Component, Path};

use crate::links::in_bounds;
use crate::Error;

/// Unpacks the gzipped tar `archive` into the empty directory `dir`, refusing entries that
/// leave it, links that point out of it, and archives that expand beyond `max_bytes`.
pub fn unpack(archive: &[u8], dir: &Path, max_bytes: u64) -> Result<(), Error> {
    let bad = |what: String| Error::InvalidArgument(format!("streamed files: {what}"));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut total = 0u64;
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
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
                what: "streamed files, unpacked,".into(),
                limit: max_bytes,
            });
        }
        entry
            .unpack_in(dir)
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    }
    // Drain what the decoder may still hold so a truncated archive is an error.
    let mut rest = Vec::new();
    tar.into_inner()
        .read_to_end(&mut rest)
        .map_err(|e| bad(e.to_string()))?;
    Ok(())
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
            &tgz(&[("app/cm.yaml", b"kind: ConfigMap\n")]),
            dir.path(),
            MAX,
        )
        .unwrap();
        assert!(dir.path().join("app/cm.yaml").is_file());
        let mut raw = tgz(&[("ok.yaml", b"x")]);
        raw.truncate(raw.len() / 2);
        let err = unpack(&raw, dir.path(), MAX).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "truncated archive: {err}"
        );
        let err = unpack(&tgz(&[("big.yaml", &[b'x'; 64])]), dir.path(), 10).unwrap_err();
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
        let err = unpack(&archive, dir.path(), MAX).unwrap_err();
        assert!(
            err.to_string().contains("links outside the archive"),
            "{err:?}"
        );
    }
}
