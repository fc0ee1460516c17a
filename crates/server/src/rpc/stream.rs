//! GenerateManifestWithFiles: `argocd app sync --local` streams the request, then the size and
//! SHA-256 of a gzipped tar of the local files, then the tar itself in chunks.

use repo_proto::repository::manifest_request_with_files::Part;
use repo_proto::repository::{ManifestRequest, ManifestRequestWithFiles};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

/// Upstream's default `--streamed-manifest-max-tar-size`.
const MAX_TAR_BYTES: u64 = 100 * 1024 * 1024;

async fn next(stream: &mut Streaming<ManifestRequestWithFiles>) -> Result<Option<Part>, Status> {
    Ok(stream.next().await.transpose()?.and_then(|m| m.part))
}

/// Receives the stream: the request, the verified archive and its checksum.
pub async fn receive(
    mut stream: Streaming<ManifestRequestWithFiles>,
) -> Result<(ManifestRequest, Vec<u8>, String), Status> {
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
    Ok((request, archive, checksum))
}
