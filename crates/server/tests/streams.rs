//! HTTP/2 limits one connection is held to, checked with raw frames: a client that ignores the
//! advertised limits is refused by the server, not merely asked to behave.

mod support;

use std::collections::HashMap;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const REFUSED_STREAM: u32 = 0x7;

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

async fn write_frame(tcp: &mut TcpStream, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    tcp.write_all(&out).await.unwrap();
}

async fn read_frame(tcp: &mut TcpStream) -> Frame {
    let mut head = [0u8; 9];
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tcp.read_exact(&mut head),
    )
    .await
    .expect("the server answers")
    .unwrap();
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await.unwrap();
    Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff,
        payload,
    }
}

/// HPACK: a literal header without indexing, name given by its static-table index (< 15).
fn indexed_name(index: u8, value: &str, block: &mut Vec<u8>) {
    block.push(index);
    block.push(value.len() as u8);
    block.extend(value.as_bytes());
}

/// The request headers of a Health/Check call (literals only, short values).
fn health_request() -> Vec<u8> {
    // :method POST (static 3), :scheme http (static 6).
    let mut block = vec![0x83, 0x86];
    indexed_name(4, "/grpc.health.v1.Health/Check", &mut block);
    indexed_name(1, "localhost", &mut block);
    // content-type is static entry 31: 4-bit prefix 15, then 16.
    block.extend([0x0f, 0x10, 16]);
    block.extend(b"application/grpc");
    // te has no static entry: new name.
    block.extend([0x00, 2]);
    block.extend(b"te");
    block.push(8);
    block.extend(b"trailers");
    block
}

/// Connects, exchanges settings, and returns the server's settings and connection window
/// increment.
async fn open(addr: std::net::SocketAddr) -> (TcpStream, HashMap<u16, u32>, u32) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(PREFACE).await.unwrap();
    write_frame(&mut tcp, SETTINGS, 0, 0, &[]).await;
    let (mut settings, mut window) = (None, None);
    while settings.is_none() || window.is_none() {
        let frame = read_frame(&mut tcp).await;
        match frame.kind {
            SETTINGS if frame.flags & ACK == 0 => {
                let values = frame
                    .payload
                    .chunks(6)
                    .map(|c| {
                        let id = u16::from_be_bytes([c[0], c[1]]);
                        (id, u32::from_be_bytes([c[2], c[3], c[4], c[5]]))
                    })
                    .collect::<HashMap<_, _>>();
                settings = Some(values);
                write_frame(&mut tcp, SETTINGS, ACK, 0, &[]).await;
            }
            WINDOW_UPDATE if frame.stream == 0 => {
                window = Some(u32::from_be_bytes(frame.payload[..4].try_into().unwrap()));
            }
            _ => {}
        }
    }
    (tcp, settings.unwrap(), window.unwrap())
}

#[tokio::test]
async fn settings_advertise_the_stream_header_and_window_limits() {
    let server = start(None).await;
    let (_, settings, window) = open(server.grpc).await;
    assert_eq!(settings.get(&0x3), Some(&100), "MAX_CONCURRENT_STREAMS");
    assert_eq!(settings.get(&0x4), Some(&(64 << 10)), "INITIAL_WINDOW_SIZE");
    assert_eq!(
        settings.get(&0x6),
        Some(&(16 << 10)),
        "MAX_HEADER_LIST_SIZE"
    );
    assert_eq!(65_535 + window, 1 << 20, "connection window");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_stream_over_the_limit_is_refused_and_the_others_are_served() {
    let server = start(None).await;
    let (mut tcp, _, _) = open(server.grpc).await;
    // 101 calls whose request bodies never come: each stream stays open.
    let streams: Vec<u32> = (0..101).map(|n| 1 + 2 * n).collect();
    for &id in &streams {
        write_frame(&mut tcp, HEADERS, END_HEADERS, id, &health_request()).await;
    }
    let refused = loop {
        let frame = read_frame(&mut tcp).await;
        if frame.kind == RST_STREAM {
            let code = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
            break (frame.stream, code);
        }
        assert_ne!(
            frame.kind, HEADERS,
            "a call was answered before its body was sent"
        );
    };
    assert_eq!(refused, (streams[100], REFUSED_STREAM));
    // The first stream is still open and is served once its (empty) request arrives.
    write_frame(&mut tcp, DATA, END_STREAM, streams[0], &[0; 5]).await;
    let answered = loop {
        let frame = read_frame(&mut tcp).await;
        assert_ne!(frame.kind, RST_STREAM, "stream {} reset", frame.stream);
        if frame.kind == HEADERS {
            break frame.stream;
        }
    };
    assert_eq!(answered, streams[0]);
    // Closing the connection ends its open streams (a graceful stop waits for them).
    drop(tcp);
    tokio::time::timeout(std::time::Duration::from_secs(30), server.stop())
        .await
        .expect("the server stops once the connection is closed")
        .unwrap();
}
