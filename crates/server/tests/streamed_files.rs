//! GenerateManifestWithFiles under hostile uploads: the configured size limits, links that
//! escape through other links, and nothing left in the scratch directory after a refusal.

mod support;

use std::path::Path;

use repo_client::RepoServerServiceClient;
use repo_proto::repository::manifest_request_with_files::Part;
use repo_proto::repository::{
    ManifestFileChunk, ManifestFileMetadata, ManifestRequest, ManifestRequestWithFiles,
};
use repo_proto::v1alpha1::ApplicationSource;
use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use sha2::Digest;
use support::*;
use tonic::transport::Channel;
use tonic::Code;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n";

async fn client(
    dir: &Path,
    engine: repo_server::config::Engine,
) -> (repo_server::Running, RepoServerServiceClient<Channel>) {
    logs();
    let ca = Ca::new("repo-ca");
    ca.issue(&Leaf::server()).write(dir, "tls");
    std::fs::write(dir.join("client-ca.crt"), &ca.cert).unwrap();
    let mut config = config(Some(tls(dir)));
    config.engine = engine;
    let server = repo_server::start(config).await.expect("server starts");
    let id = ca
        .issue(&Leaf::client("argocd-application-controller"))
        .write(dir, "client");
    let channel = repo_client::open(
        &server.grpc.to_string(),
        Some(connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .unwrap();
    (server, RepoServerServiceClient::new(channel))
}

fn request() -> ManifestRequest {
    let url = "https://git.example/unused.git";
    ManifestRequest {
        revision: "main".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some("app".into()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

enum Entry<'a> {
    File(&'a str, &'a str),
    Link(&'a str, &'a str),
}

fn tgz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match entry {
            Entry::File(name, body) => {
                header.set_size(body.len() as u64);
                header.set_cksum();
                builder
                    .append_data(&mut header, name, body.as_bytes())
                    .unwrap();
            }
            Entry::Link(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, name, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn upload(archive: &[u8]) -> Vec<ManifestRequestWithFiles> {
    let mut parts = vec![
        Part::Request(request()),
        Part::Metadata(ManifestFileMetadata {
            checksum: hex::encode(sha2::Sha256::digest(archive)),
            size: archive.len() as i64,
        }),
    ];
    parts.extend(
        archive
            .chunks(1024)
            .map(|c| Part::Chunk(ManifestFileChunk { chunk: c.to_vec() })),
    );
    parts
        .into_iter()
        .map(|p| ManifestRequestWithFiles { part: Some(p) })
        .collect()
}

/// What the server's scratch directory holds (its own tool homes aside).
fn scratch(engine: &repo_server::config::Engine) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(engine.repo_cache_dir.join("scratch")) else {
        return vec![];
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("streamed-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_bounded_as_configured_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine();
    engine.manifests.streamed_max_tar_bytes = 4096;
    engine.manifests.streamed_max_extracted_bytes = 2000;
    let settings = engine.clone();
    let (server, mut c) = client(dir.path(), engine).await;

    let ok = tgz(&[Entry::File("app/cm.yaml", CM)]);
    let reply = c
        .generate_manifest_with_files(tokio_stream::iter(upload(&ok)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.manifests.len(), 1);
    assert!(scratch(&settings).is_empty(), "{:?}", scratch(&settings));

    // 3000 bytes unpacked, against a configured 2000.
    let big = "#".repeat(3000);
    let expands = tgz(&[
        Entry::File("app/cm.yaml", CM),
        Entry::File("app/pad.yaml", &big),
    ]);
    let err = c
        .generate_manifest_with_files(tokio_stream::iter(upload(&expands)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(scratch(&settings).is_empty(), "{:?}", scratch(&settings));

    // Over the configured compressed size.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: String = (0..6000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    let large = tgz(&[Entry::File("app/noise.txt", &noise)]);
    assert!(large.len() > 4096);
    let err = c
        .generate_manifest_with_files(tokio_stream::iter(upload(&large)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(scratch(&settings).is_empty(), "{:?}", scratch(&settings));

    // `s -> .` makes `s/l -> ../x` land beside the root, pointing out of it.
    let escapes = tgz(&[
        Entry::File("app/cm.yaml", CM),
        Entry::Link("s", "."),
        Entry::Link("s/l", "../x"),
    ]);
    let err = c
        .generate_manifest_with_files(tokio_stream::iter(upload(&escapes)))
        .await
        .unwrap_err();
    assert!(err.message().contains("leads outside"), "{err:?}");
    assert!(
        !err.message()
            .contains(&*settings.repo_cache_dir.to_string_lossy()),
        "{err:?}"
    );
    assert!(scratch(&settings).is_empty(), "{:?}", scratch(&settings));

    // An entry under a file: the tar crate's message names the server's paths.
    let clash = tgz(&[
        Entry::File("app/cm.yaml", CM),
        Entry::File("app/cm.yaml/x", "x"),
    ]);
    let err = c
        .generate_manifest_with_files(tokio_stream::iter(upload(&clash)))
        .await
        .unwrap_err();
    assert!(err.message().contains("app/cm.yaml/x"), "{err:?}");
    let cache = settings.repo_cache_dir.to_string_lossy().into_owned();
    assert!(!err.message().contains(&cache), "{err:?}");
    assert!(scratch(&settings).is_empty(), "{:?}", scratch(&settings));
    server.stop().await.unwrap();
}
