//! GenerateManifestWithFiles: `argocd app sync --local` streams the request, then the size and
//! SHA-256 of a gzipped tar of the local files, then the tar itself in chunks, written to a
//! file as it arrives so a stream holds no more than one chunk in memory.

use std::path::Path;

use repo_proto::repository::manifest_request_with_files::Part;
use repo_proto::repository::{ManifestRequest, ManifestRequestWithFiles};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

async fn next(stream: &mut Streaming<ManifestRequestWithFiles>) -> Result<Option<Part>, Status> {
    Ok(stream.next().await.transpose()?.and_then(|m| m.part))
}

/// Receives the stream into the new file `archive`, at most `max_bytes`
/// (`--streamed-manifest-max-tar-size`): the request and the verified archive's checksum.
pub(super) async fn receive(
    mut stream: Streaming<ManifestRequestWithFiles>,
    archive: &Path,
    max_bytes: u64,
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
    if declared > max_bytes {
        return Err(Status::resource_exhausted(format!(
            "streamed files are {declared} bytes; the limit is {max_bytes} (--streamed-manifest-max-tar-size)"
        )));
    }
    let io = |e: std::io::Error| {
        tracing::warn!(error = %e, "cannot write streamed files");
        Status::internal("cannot store the streamed files on the server")
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(archive)
        .await
        .map_err(io)?;
    let (mut hash, mut received) = (Sha256::new(), 0u64);
    while let Some(part) = next(&mut stream).await? {
        let Part::Chunk(chunk) = part else {
            return Err(Status::invalid_argument(
                "only file chunks may follow the metadata",
            ));
        };
        received += chunk.chunk.len() as u64;
        if received > declared {
            return Err(Status::invalid_argument(
                "the stream carries more bytes than its metadata declares",
            ));
        }
        hash.update(&chunk.chunk);
        file.write_all(&chunk.chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    let checksum = hex::encode(hash.finalize());
    if checksum != meta.checksum {
        return Err(Status::invalid_argument(format!(
            "checksum mismatch: the files hash to {checksum}, the metadata says {}",
            meta.checksum
        )));
    }
    Ok((request, checksum))
}
