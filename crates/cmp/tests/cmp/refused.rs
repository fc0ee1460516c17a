//! Streams no honest repo-server sends, over the socket: each is refused by the receiver, with
//! an error naming the problem, and nothing lands outside the plugin's work directory.

use repo_cmp::Limits;
use repo_proto::plugin::AppStreamRequest;
use tar::{EntryType, Header};

use tempfile::TempDir;

use crate::support::{chunk, metadata_for, send_crafted, serve, Behavior, Sidecar};

/// A tar.gz whose entries are written with raw names and link targets, as an attacker would
/// (the builder refuses `..` and absolute names).
fn crafted(entries: &[(&str, EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, kind, link, body) in entries {
        let mut header = Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        builder.append(&header, *body).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn file<'a>(
    name: &'a str,
    body: &'static [u8],
) -> (&'a str, EntryType, &'static str, &'static [u8]) {
    (name, EntryType::Regular, "", body)
}

/// The sidecar's refusal of `archive`, and the sidecar.
async fn refusal(archive: &[u8], behavior: Behavior) -> (String, Sidecar, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = serve(dir.path(), "p", behavior).await;
    let messages = vec![metadata_for(archive), chunk(archive)];
    let status = send_crafted(&sidecar.socket, messages)
        .await
        .expect_err("the stream must be refused");
    (status.message().to_string(), sidecar, dir)
}

async fn refused(archive: &[u8], behavior: Behavior) -> String {
    refusal(archive, behavior).await.0
}

#[tokio::test]
async fn a_dot_dot_entry_is_refused_and_not_written() {
    // From its `cmp-*` directory, `../` is the sidecar's work directory.
    let archive = crafted(&[file("../escaped.yaml", b"kind: X\n")]);
    let (message, sidecar, _dir) = refusal(&archive, Behavior::default()).await;
    assert!(message.contains("leads outside the archive"), "{message}");
    assert!(!sidecar.work.path().join("escaped.yaml").exists());
}

#[tokio::test]
async fn an_absolute_entry_is_refused() {
    let target = tempfile::tempdir().unwrap();
    let name = format!("{}/abs.yaml", target.path().display());
    let message = refused(&crafted(&[file(&name, b"kind: X\n")]), Behavior::default()).await;
    assert!(message.contains("leads outside the archive"), "{message}");
    assert!(
        !target.path().join("abs.yaml").exists(),
        "nothing written there"
    );
}

#[tokio::test]
async fn a_link_escaping_the_directory_is_refused() {
    for target in ["../../../etc/passwd", "/etc/passwd"] {
        let archive = crafted(&[("l", EntryType::Symlink, target, b"")]);
        let message = refused(&archive, Behavior::default()).await;
        assert!(
            message.contains("links outside the archive"),
            "{target}: {message}"
        );
    }
    // Inside by its text, outside on disk: `s` is the directory itself.
    let archive = crafted(&[
        ("s", EntryType::Symlink, ".", b""),
        ("s/l", EntryType::Symlink, "../x", b""),
    ]);
    let message = refused(&archive, Behavior::default()).await;
    assert!(message.contains("leads outside"), "{message}");
}

#[tokio::test]
async fn a_checksum_mismatch_is_refused() {
    let archive = crafted(&[file("a.yaml", b"kind: A\n")]);
    let other = crafted(&[file("a.yaml", b"kind: B\n")]);
    assert_eq!(archive.len(), other.len(), "same size, other bytes");
    let dir = tempfile::tempdir().unwrap();
    let sidecar = serve(dir.path(), "p", Behavior::default()).await;
    let status = send_crafted(&sidecar.socket, vec![metadata_for(&archive), chunk(&other)])
        .await
        .unwrap_err();
    assert!(status.message().contains("checksum mismatch"), "{status:?}");
}

#[tokio::test]
async fn sizes_over_the_cap_or_the_declaration_are_refused() {
    let archive = crafted(&[file("a.yaml", &[b'x'; 4096])]);
    let small = Behavior {
        limits: Limits {
            archive: 64,
            ..Limits::default()
        },
        ..Behavior::default()
    };
    let message = refused(&archive, small.clone()).await;
    assert!(
        message.contains("the declared archive exceeds the limit of 64 bytes"),
        "{message}"
    );
    // Declared small, sent large: refused once past the cap, before the rest is stored.
    let dir = tempfile::tempdir().unwrap();
    let sidecar = serve(dir.path(), "p", small).await;
    let mut lie = metadata_for(&archive[..10]);
    let messages = vec![lie.clone(), chunk(&archive)];
    let status = send_crafted(&sidecar.socket, messages).await.unwrap_err();
    assert!(
        status.message().contains("received") && status.message().contains("declared 10"),
        "{status:?}"
    );
    // Declared large, sent short.
    if let Some(repo_proto::plugin::app_stream_request::Request::Metadata(m)) = &mut lie.request {
        m.size = 40;
    }
    let status = send_crafted(&sidecar.socket, vec![lie, chunk(&archive[..10])])
        .await
        .unwrap_err();
    assert!(
        status
            .message()
            .contains("received 10 bytes where the metadata declared 40"),
        "{status:?}"
    );
}

#[tokio::test]
async fn unpacked_bytes_and_entries_over_their_caps_are_refused() {
    // 1 MiB of zeros compresses to about a kilobyte.
    let zeros: &'static [u8] = Box::leak(vec![0u8; 1 << 20].into_boxed_slice());
    let bomb = crafted(&[file("zeros", zeros)]);
    let capped = Behavior {
        limits: Limits {
            unpacked: 1 << 16,
            ..Limits::default()
        },
        ..Behavior::default()
    };
    let message = refused(&bomb, capped).await;
    assert!(
        message.contains("the unpacked files exceeds the limit of 65536 bytes"),
        "{message}"
    );
    let many = crafted(&[file("a", b"a"), file("b", b"b"), file("c", b"c")]);
    let few = Behavior {
        limits: Limits {
            entries: 2,
            ..Limits::default()
        },
        ..Behavior::default()
    };
    let message = refused(&many, few).await;
    assert!(
        message.contains("the archive's entries exceeds the limit of 2 entries"),
        "{message}"
    );
}

#[tokio::test]
async fn chunks_before_the_metadata_are_refused() {
    let archive = crafted(&[file("a.yaml", b"kind: A\n")]);
    let dir = tempfile::tempdir().unwrap();
    let sidecar = serve(dir.path(), "p", Behavior::default()).await;
    let status = send_crafted(
        &sidecar.socket,
        vec![chunk(&archive), metadata_for(&archive)],
    )
    .await
    .unwrap_err();
    assert!(
        status
            .message()
            .contains("first message must be the metadata"),
        "{status:?}"
    );
    let status = send_crafted(&sidecar.socket, Vec::new()).await.unwrap_err();
    assert!(
        status
            .message()
            .contains("first message must be the metadata"),
        "{status:?}"
    );
    let empty = AppStreamRequest { request: None };
    let messages = vec![metadata_for(&archive), empty, chunk(&archive)];
    let status = send_crafted(&sidecar.socket, messages).await.unwrap_err();
    assert!(
        status
            .message()
            .contains("neither metadata nor a file chunk"),
        "{status:?}"
    );
    let twice = vec![
        metadata_for(&archive),
        chunk(&archive[..4]),
        metadata_for(&archive),
    ];
    let status = send_crafted(&sidecar.socket, twice).await.unwrap_err();
    assert!(
        status.message().contains("metadata sent twice"),
        "{status:?}"
    );
}

#[tokio::test]
async fn garbage_is_refused_as_an_archive() {
    let garbage = b"this is not a tar.gz at all, only words".repeat(20);
    let message = refused(&garbage, Behavior::default()).await;
    assert!(
        message.starts_with("plugin stream: plugin archive"),
        "{message}"
    );
}
