//! The request stream of a packed tree: metadata first, then the archive in `File` chunks.

use std::os::unix::fs::FileExt;

use futures_util::stream::{self, Stream, StreamExt};
use repo_proto::plugin::app_stream_request::Request;
use repo_proto::plugin::{AppStreamRequest, EnvEntry, File, ManifestRequestMetadata};

use crate::Packed;

/// Upstream's default `ARGOCD_CMP_CHUNK_SIZE`, in bytes.
pub const DEFAULT_CHUNK_SIZE: usize = 1024;

/// Archive bytes read per blocking read; split into chunks after.
const BLOCK: usize = 64 * 1024;

/// The chunk size an `ARGOCD_CMP_CHUNK_SIZE` value asks for: upstream's default when unset or
/// not a number, as upstream, and also when not positive (upstream would loop forever on 0
/// and panic below it).
pub fn chunk_size(raw: Option<&str>) -> usize {
    raw.and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_CHUNK_SIZE)
}

impl Packed {
    /// The metadata message's content, with `env` (upstream's `ARGOCD_APP_*`, `ARGOCD_ENV_*`
    /// and parameters; never git credentials, which upstream adds for `provideGitCreds`).
    pub fn metadata(&self, env: &[EnvEntry]) -> ManifestRequestMetadata {
        ManifestRequestMetadata {
            app_name: self.app_name.clone(),
            app_rel_path: self.app_rel_path.clone(),
            checksum: self.checksum.clone(),
            size: i64::try_from(self.size).unwrap_or(i64::MAX),
            env: env.to_vec(),
        }
    }

    /// The request stream: the metadata, then the archive in chunks of `chunk_size` bytes (the
    /// last shorter), read from the temp file a block at a time on the blocking pool. A read
    /// failure ends the stream short, which the receiver refuses by size.
    pub fn requests(
        &self,
        env: &[EnvEntry],
        chunk_size: usize,
    ) -> impl Stream<Item = AppStreamRequest> + Send + 'static {
        let chunk = chunk_size.max(1);
        let block = chunk * (BLOCK / chunk).max(1);
        let first = AppStreamRequest {
            request: Some(Request::Metadata(self.metadata(env))),
        };
        let (file, size) = (self.file.clone(), self.size);
        let blocks = stream::unfold(0u64, move |offset| {
            let file = file.clone();
            async move {
                let left = size.checked_sub(offset).filter(|&n| n > 0)?;
                let len = usize::try_from(left).map_or(block, |l| l.min(block));
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0; len];
                    file.read_exact_at(&mut buf, offset).map(|()| buf)
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
                match read {
                    Ok(buf) => Some((buf, offset + len as u64)),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the plugin archive failed; the stream ends short");
                        None
                    }
                }
            }
        });
        let chunks = blocks.flat_map(move |buf| {
            let requests: Vec<AppStreamRequest> = buf
                .chunks(chunk)
                .map(|c| AppStreamRequest {
                    request: Some(Request::File(File { chunk: c.to_vec() })),
                })
                .collect();
            stream::iter(requests)
        });
        stream::once(async move { first }).chain(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_follows_upstream_with_safe_zero() {
        assert_eq!(chunk_size(None), 1024);
        assert_eq!(chunk_size(Some("")), 1024);
        assert_eq!(chunk_size(Some("x")), 1024);
        assert_eq!(chunk_size(Some("0")), 1024);
        assert_eq!(chunk_size(Some("-5")), 1024);
        assert_eq!(chunk_size(Some("4096")), 4096);
    }
}
