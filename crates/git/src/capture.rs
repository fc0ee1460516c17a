//! Bounded reading of a child's pipe. The pipe is always drained to EOF so the child never
//! blocks on a full pipe, but only a bounded amount is kept.

use tokio::io::{AsyncRead, AsyncReadExt};

/// What was kept of a stream.
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
    /// More than the limit arrived.
    pub(crate) overflow: bool,
}

/// Which end of an oversized stream to keep.
#[derive(Clone, Copy)]
pub(crate) enum Keep {
    /// The first bytes (command output: an overflow is an error anyway).
    Head,
    /// The last bytes (diagnostics: git's `fatal:` line comes last).
    Tail,
}

pub(crate) async fn read<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    limit: usize,
    keep: Keep,
) -> Captured {
    let mut captured = Captured {
        bytes: Vec::new(),
        overflow: false,
    };
    let Some(mut pipe) = pipe else {
        return captured;
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let room = limit.saturating_sub(captured.bytes.len());
        if n > room {
            captured.overflow = true;
        }
        match keep {
            Keep::Head => captured.bytes.extend_from_slice(&chunk[..n.min(room)]),
            Keep::Tail => {
                captured.bytes.extend_from_slice(&chunk[..n]);
                // Trim in batches rather than on every read.
                if captured.bytes.len() > limit.saturating_mul(2) {
                    let excess = captured.bytes.len() - limit;
                    captured.bytes.drain(..excess);
                }
            }
        }
    }
    if let Keep::Tail = keep {
        let excess = captured.bytes.len().saturating_sub(limit);
        captured.bytes.drain(..excess);
    }
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_bounded_head_or_tail() {
        let data: Vec<u8> = (0..200u8).collect();
        let head = read(Some(&data[..]), 10, Keep::Head).await;
        assert!(head.overflow);
        assert_eq!(head.bytes, (0..10).collect::<Vec<u8>>());
        let tail = read(Some(&data[..]), 10, Keep::Tail).await;
        assert!(tail.overflow);
        assert_eq!(tail.bytes, (190..200).collect::<Vec<u8>>());
        let all = read(Some(&data[..]), 500, Keep::Head).await;
        assert!(!all.overflow);
        assert_eq!(all.bytes.len(), 200);
    }
}
