//! GenerateManifestWithFiles: `argocd app sync --local` streams the request, then the size and
//! SHA-256 of a gzipped tar of the local files, then the tar itself in chunks.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use repo_proto::repository::manifest_request_with_files::Part;
use repo_proto::repository::{ManifestRequest, ManifestRequestWithFiles};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

/// Upstream's defaults for the streamed archive and what it may expand to.
const MAX_TAR_BYTES: u64 = 100 * 1024 * 1024;
const MAX_EXTRACTED_BYTES: u64 = 1024 * 1024 * 1024;

async fn next(stream: &mut Streaming<ManifestRequestWithFiles>) -> Result<Option<Part>, Status> {
    Ok(stream.next().await.transpose()?.and_then(|m| m.part))
}

/// Receives the stream and unpacks the files into `dir`; returns the request and the checksum.
pub async fn receive(
    mut stream: Streaming<ManifestRequestWithFiles>,
    dir: &Path,
) -> Result<(ManifestRequest, String), Status> {
    let Some(Part::Request(request)) = next(&mut stream).await? else {
        return Err(Status::invalid_argument(
            "the stream must start with the manifest request",
        ));
    };
    let Some(Part::Metadata(meta)) = next(&mut stream).await? else {
        return Err(Status::invalid_argument(
            "the manifest request must be followed by the file metadata",
        ));
    };
    let declared = u64::try_from(meta.size).unwrap_or(u64::MAX);
    if declared > MAX_TAR_BYTES {
        return Err(Status::resource_exhausted(format!(
            "streamed files are {declared} bytes; the limit is {MAX_TAR_BYTES}"
        )));
    }
    let mut archive = Vec::new();
    while let Some(part) = next(&mut stream).await? {
        let Part::Chunk(chunk) = part else {
            return Err(Status::invalid_argument(
                "only file chunks may follow the metadata",
            ));
        };
        if (archive.len() + chunk.chunk.len()) as u64 > declared {
            return Err(Status::invalid_argument(
                "the stream carries more bytes than its metadata declares",
            ));
        }
        archive.extend_from_slice(&chunk.chunk);
    }
    let checksum = hex::encode(Sha256::digest(&archive));
    if checksum != meta.checksum {
        return Err(Status::invalid_argument(format!(
            "checksum mismatch: the files hash to {checksum}, the metadata says {}",
            meta.checksum
        )));
    }
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(&archive, &dir))
        .await
        .map_err(|e| Status::internal(format!("unpacking the streamed files: {e}")))??;
    Ok((request, checksum))
}

/// Whether a link at `entry` pointing to `target` stays inside the archive's root.
fn inside(entry: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = 0;
    for part in entry
        .parent()
        .unwrap_or(Path::new(""))
        .join(target)
        .components()
    {
        match part {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn unpack(archive: &[u8], dir: &PathBuf) -> Result<(), Status> {
    let bad = |what: String| Status::invalid_argument(format!("streamed files: {what}"));
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
                Path::new("")
            } else {
                path.as_path()
            };
            if !inside(from, &target) {
                return Err(bad(format!("{} links outside the archive", path.display())));
            }
        }
        total += entry.header().size().unwrap_or(0);
        if total > MAX_EXTRACTED_BYTES {
            return Err(Status::resource_exhausted(format!(
                "streamed files expand beyond {MAX_EXTRACTED_BYTES} bytes"
            )));
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

    #[test]
    fn links_must_stay_inside() {
        assert!(inside(Path::new("a/link"), Path::new("b.yaml")));
        assert!(
            !inside(Path::new(""), Path::new("../x")),
            "hard links resolve from the root"
        );
        assert!(inside(Path::new("a/b/link"), Path::new("../c.yaml")));
        assert!(!inside(Path::new("a/link"), Path::new("../../etc/passwd")));
        assert!(!inside(Path::new("link"), Path::new("/etc/passwd")));
    }

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
            &dir.path().to_path_buf(),
        )
        .unwrap();
        assert!(dir.path().join("app/cm.yaml").is_file());
        let mut raw = tgz(&[("ok.yaml", b"x")]);
        raw.truncate(raw.len() / 2);
        assert!(
            unpack(&raw, &dir.path().to_path_buf()).is_err(),
            "truncated archive"
        );
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
        let err = unpack(&archive, &dir.path().to_path_buf()).unwrap_err();
        assert!(
            err.message().contains("links outside the archive"),
            "{err:?}"
        );
    }
}
