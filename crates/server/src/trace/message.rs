//! Status messages leave the server at most 4 KiB long on the wire: C-core gRPC clients refuse
//! response metadata over 8 KiB by default, and a tool's error output can be longer than that.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};

/// Longest `grpc-message` value sent, in encoded bytes.
pub(super) const LIMIT: usize = 4096;
const HEADER: &str = "grpc-message";

/// gRPC's percent-encoding of status messages, as tonic writes them.
const ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'?')
    .add(b'{')
    .add(b'}');

/// Shortens an over-long `grpc-message` in response headers (trailers-only) or trailers.
pub(super) fn cap(headers: &mut HeaderMap) {
    let Some(value) = headers.get(HEADER) else {
        return;
    };
    if value.len() <= LIMIT {
        return;
    }
    let message = percent_decode(value.as_bytes()).decode_utf8_lossy();
    // Percent-encoded text is visible ASCII, always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&truncate(&message)) {
        headers.insert(HEADER, value);
    }
}

/// The encoded message cut on a character boundary so that, with the marker, it fits
/// [`LIMIT`].
fn truncate(message: &str) -> String {
    let marker = format!(" ... [truncated, {} bytes in all]", message.len());
    let room = LIMIT - encoded_len(&marker);
    let (mut used, mut end) = (0, 0);
    for (at, c) in message.char_indices() {
        used += encoded_len(c.encode_utf8(&mut [0; 4]));
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    format!(
        "{}{}",
        utf8_percent_encode(&message[..end], ENCODED),
        utf8_percent_encode(&marker, ENCODED)
    )
}

fn encoded_len(text: &str) -> usize {
    utf8_percent_encode(text, ENCODED).map(str::len).sum()
}

/// A response body whose trailers pass through [`cap`] (statuses of streamed responses).
pub(crate) struct Capped<B>(pub B);

impl<B: Body + Unpin> Body for Capped<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx).map_ok(|mut frame| {
            if let Some(trailers) = frame.trailers_mut() {
                cap(trailers);
            }
            frame
        })
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codegen::Bytes;
    use tonic::{Code, Status};

    /// The status a client decodes after [`cap`].
    fn capped(message: &str) -> Status {
        let mut headers = HeaderMap::new();
        Status::internal(message).add_header(&mut headers).unwrap();
        cap(&mut headers);
        assert!(headers[HEADER].len() <= LIMIT, "{}", headers[HEADER].len());
        Status::from_header_map(&headers).unwrap()
    }

    #[test]
    fn short_messages_pass_unchanged() {
        let message = "helm template failed: exit status 1\nError: values.yaml: line 3";
        assert_eq!(capped(message).message(), message);
        let exact = "x".repeat(LIMIT);
        assert_eq!(capped(&exact).message(), exact);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary_with_a_marker() {
        // Multi-byte characters (9 bytes encoded) and newlines (3) cut at every offset.
        for prefix in 0..9 {
            let message = format!("{}{}", "a".repeat(prefix), "€\n".repeat(3000));
            let status = capped(&message);
            // Invalid UTF-8 would have turned the code into Unknown.
            assert_eq!(status.code(), Code::Internal, "{}", status.message());
            let marker = format!(" ... [truncated, {} bytes in all]", message.len());
            let kept = status.message().strip_suffix(&marker).unwrap();
            assert!(
                message.starts_with(kept) && kept.len() > 1000,
                "{}",
                kept.len()
            );
        }
    }

    #[test]
    fn trailers_of_streamed_responses_are_capped_too() {
        let mut trailers = HeaderMap::new();
        Status::unknown("e".repeat(9000))
            .add_header(&mut trailers)
            .unwrap();
        let frames = vec![Ok::<_, std::convert::Infallible>(Frame::<Bytes>::trailers(
            trailers,
        ))];
        let mut body = Capped(http_body_util::StreamBody::new(tokio_stream::iter(frames)));
        let waker = std::task::Waker::noop();
        let Poll::Ready(Some(Ok(frame))) =
            Pin::new(&mut body).poll_frame(&mut Context::from_waker(waker))
        else {
            panic!("a ready stream did not yield its frame");
        };
        let status = Status::from_header_map(frame.trailers_ref().unwrap()).unwrap();
        assert!(status.message().len() < LIMIT);
        assert!(status.message().ends_with("9000 bytes in all]"));
    }
}
