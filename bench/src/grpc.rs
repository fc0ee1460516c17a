//! A lean gRPC unary call over one HTTP/2 connection, so the load generator costs little next
//! to the server it measures.

use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
pub(crate) const GENERATE_MANIFEST: &str = "/repository.RepoServerService/GenerateManifest";

/// One HTTP/2 connection carrying gRPC calls.
#[derive(Clone)]
pub(crate) struct Conn {
    send: SendRequest<Bytes>,
}

impl Conn {
    /// Runs the HTTP/2 handshake over `io` and drives the connection in the background.
    pub(crate) async fn over<T>(io: T) -> anyhow::Result<Self>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) = h2::client::handshake(io)
            .await
            .context("HTTP/2 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { send })
    }

    /// Calls `path` with an encoded request message; returns the response message.
    pub(crate) async fn unary(&mut self, path: &str, message: &[u8]) -> anyhow::Result<Bytes> {
        let request = http::Request::post(format!("http://localhost{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        let mut send = self.send.clone().ready().await?;
        let (response, mut body) = send.send_request(request, false)?;
        body.send_data(frame(message), true)?;
        let response = response.await?;
        let (head, mut stream) = response.into_parts();
        if head.status != http::StatusCode::OK {
            bail!("HTTP status {}", head.status);
        }
        if let Some(status) = head.headers.get("grpc-status") {
            // Trailers-only response: always an error here, as success carries a message.
            bail!(
                "grpc-status {status:?} {:?}",
                head.headers.get("grpc-message")
            );
        }
        let mut data = BytesMut::new();
        while let Some(chunk) = stream.data().await {
            let chunk = chunk?;
            let _ = stream.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = stream.trailers().await?.context("no trailers")?;
        match trailers.get("grpc-status").map(|v| v.as_bytes()) {
            Some(b"0") => {}
            other => bail!("grpc-status {other:?}: {:?}", trailers.get("grpc-message")),
        }
        unframe(data.freeze())
    }
}

fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.freeze()
}

fn unframe(data: Bytes) -> anyhow::Result<Bytes> {
    if data.len() < 5 || data[0] != 0 {
        bail!("malformed gRPC message ({} bytes)", data.len());
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if data.len() != 5 + len {
        bail!("gRPC message length {len} but {} bytes", data.len() - 5);
    }
    Ok(data.slice(5..))
}

/// `HealthCheckResponse.status == SERVING`.
pub(crate) fn serving(response: &[u8]) -> bool {
    response == [0x08, 0x01]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_lengths_are_checked() {
        let framed = frame(b"abc");
        assert_eq!(&framed[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(&unframe(framed.clone()).unwrap()[..], b"abc");
        assert_eq!(
            unframe(framed.slice(..6)).unwrap_err().to_string(),
            "gRPC message length 3 but 1 bytes"
        );
        assert_eq!(
            unframe(Bytes::from_static(&[1, 0, 0, 0, 0]))
                .unwrap_err()
                .to_string(),
            "malformed gRPC message (5 bytes)"
        );
        assert!(serving(&[8, 1]) && !serving(&[8, 2]));
    }
}
