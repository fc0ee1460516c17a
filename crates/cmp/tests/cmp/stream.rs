//! Trees packed by the sender and received by the receiver over a real unix socket.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use repo_cmp::{Dial, Error, Pack, Plugin, Sockets};
use repo_proto::plugin::EnvEntry;
use repo_source::RepoPath;
use sha2::{Digest, Sha256};

use crate::support::{chunk, metadata_for, send_crafted, serve, Behavior};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata")
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn write(root: &Path, rel: &str, body: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn app(path: &str) -> RepoPath {
    RepoPath::new(path).unwrap()
}

/// Packs `pack`, sends it to a fresh test sidecar with `dial` and answers its manifests.
async fn roundtrip(pack: Pack, behavior: Behavior, dial: Dial, env: &[EnvEntry]) -> Vec<String> {
    let sockets = tempfile::tempdir().unwrap();
    let _sidecar = serve(sockets.path(), "echo", behavior).await;
    let plugin = Plugin::named(&Sockets::new(sockets.path()), "echo", dial)
        .await
        .unwrap();
    let packed = pack.pack().await.unwrap();
    plugin
        .generate_manifest(&packed, env)
        .await
        .unwrap()
        .manifests
}

fn entries(manifests: &[String]) -> Vec<&str> {
    manifests
        .iter()
        .map(String::as_str)
        .filter(|m| m.starts_with("file ") || m.starts_with("dir ") || m.starts_with("link "))
        .collect()
}

#[tokio::test]
async fn upstream_app_roundtrip_with_exclusions() {
    // Upstream's TestReceiveApplicationStream: the app sent as its own root, `DUMMY.md` and
    // the `dummy` directory excluded.
    let root = testdata().join("app");
    let pack = Pack::new(&root, RepoPath::root()).exclude(["DUMMY.md", "dum*"]);
    let env = [EnvEntry {
        name: "ARGOCD_ENV_FOO".into(),
        value: "bar=baz".into(),
    }];
    let got = roundtrip(pack, Behavior::default(), Dial::default(), &env).await;
    let kust = |dir: &str| {
        let body = std::fs::read(root.join(format!("applicationset/{dir}/kustomization.yaml")));
        sha(&body.unwrap())
    };
    assert_eq!(
        entries(&got),
        [
            format!("file README.md 644 {}", sha(b"# Readme\n")),
            "dir applicationset 755".to_string(),
            "dir applicationset/latest 755".to_string(),
            format!(
                "file applicationset/latest/kustomization.yaml 644 {}",
                kust("latest")
            ),
            "dir applicationset/stable 755".to_string(),
            format!(
                "file applicationset/stable/kustomization.yaml 644 {}",
                kust("stable")
            ),
        ]
    );
    assert_eq!(
        got[0], "appName app",
        "the app directory's base name, as upstream"
    );
    assert_eq!(got[1], "appRelPath .");
    assert_eq!(got[2], "env ARGOCD_ENV_FOO=bar=baz");
    // The deadline travels with the call, so the sidecar stops its commands in time.
    assert_eq!(got[4], "grpc-timeout 90000000u", "90 s in microseconds");
}

#[tokio::test]
async fn upstream_example_archive_unpacks() {
    // Upstream's util/cmp/testdata/example.tar.gz, a tar.gz written by Go, sent as is.
    let archive = std::fs::read(testdata().join("example.tar.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = serve(dir.path(), "p", Behavior::default()).await;
    let half = archive.len() / 2;
    let messages = vec![
        metadata_for(&archive),
        chunk(&archive[..half]),
        chunk(&archive[half..]),
    ];
    let got = send_crafted(&sidecar.socket, messages).await.unwrap();
    let file = |rel: &str| {
        let body = std::fs::read(testdata().join("app").join(rel)).unwrap();
        format!("file {rel} 644 {}", sha(&body))
    };
    assert_eq!(got[3], "chunks 2");
    assert_eq!(
        entries(&got),
        [
            file("README.md"),
            "dir applicationset 755".to_string(),
            "dir applicationset/latest 755".to_string(),
            file("applicationset/latest/kustomization.yaml"),
            "dir applicationset/stable 755".to_string(),
            file("applicationset/stable/kustomization.yaml"),
        ]
    );
}

#[tokio::test]
async fn the_whole_repository_goes_with_the_app_located_in_it() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "apps/web/cm.yaml", b"kind: ConfigMap\n");
    write(repo.path(), "shared/base.yaml", b"kind: Base\n");
    let pack = Pack::new(repo.path(), app("apps/web"));
    let got = roundtrip(pack, Behavior::default(), Dial::default(), &[]).await;
    assert_eq!(got[0], "appName web");
    assert_eq!(got[1], "appRelPath apps/web");
    let listed = entries(&got);
    assert!(
        listed
            .iter()
            .any(|e| e.starts_with("file shared/base.yaml ")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn manifest_generate_paths_send_only_their_common_directory() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "services/web/cm.yaml", b"kind: ConfigMap\n");
    write(repo.path(), "services/shared/s.yaml", b"kind: Secret\n");
    write(repo.path(), "other/big.yaml", b"kind: Unrelated\n");
    let pack = Pack::new(repo.path(), app("services/web")).generate_paths("../shared;.");
    let got = roundtrip(pack, Behavior::default(), Dial::default(), &[]).await;
    assert_eq!(got[1], "appRelPath web", "relative to the directory sent");
    let listed = entries(&got);
    assert!(
        listed.iter().any(|e| e.starts_with("file shared/s.yaml ")),
        "{listed:?}"
    );
    assert!(!listed.iter().any(|e| e.contains("big.yaml")), "{listed:?}");
}

#[tokio::test]
async fn exclusions_are_go_filepath_match_on_the_relative_path() {
    let repo = tempfile::tempdir().unwrap();
    for rel in [
        "a.md",
        "keep.yaml",
        "docs/b.md",
        "docs/deep/c.md",
        "vendor/x.yaml",
        ".git/config",
    ] {
        write(repo.path(), rel, b"x\n");
    }
    let pack =
        Pack::new(repo.path(), RepoPath::root()).exclude(["*.md", "docs/*.md", "vendor", ".git"]);
    let got = roundtrip(pack, Behavior::default(), Dial::default(), &[]).await;
    let names: Vec<&str> = entries(&got)
        .iter()
        .map(|e| e.split(' ').nth(1).unwrap())
        .collect();
    // `*` stays within a part: `*.md` leaves `docs/b.md`, `docs/*.md` leaves `docs/deep/c.md`.
    assert_eq!(names, ["docs", "docs/deep", "docs/deep/c.md", "keep.yaml"]);
    let err = Pack::new(repo.path(), RepoPath::root())
        .exclude(["a["])
        .pack()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Pattern { .. }), "{err}");
    let err = Pack::new(repo.path(), RepoPath::root())
        .exclude(["*"])
        .pack()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoFiles { .. }), "{err}");
}

#[tokio::test]
async fn a_symlink_leaving_the_root_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.yaml", b"password: hunter2\n");
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "app/cm.yaml", b"kind: ConfigMap\n");
    for target in [
        outside.path().join("secret.yaml"),
        PathBuf::from("../../").join(outside.path().file_name().unwrap()),
    ] {
        let link = repo.path().join("app/leak");
        let _ = std::fs::remove_file(&link);
        symlink(&target, &link).unwrap();
        let err = Pack::new(repo.path(), app("app")).pack().await.unwrap_err();
        assert!(
            matches!(&err, Error::LinkEscapes { path } if path == "app/leak"),
            "{target:?}: {err:?}"
        );
        assert!(
            !err.to_string().contains(&*outside.path().to_string_lossy()),
            "{err}"
        );
    }
    // Inside the sent directory but outside the narrowed one: refused too.
    std::fs::remove_file(repo.path().join("app/leak")).unwrap();
    write(repo.path(), "other/x.yaml", b"kind: X\n");
    symlink("../other/x.yaml", repo.path().join("app/sibling")).unwrap();
    let err = Pack::new(repo.path(), app("app"))
        .generate_paths(".")
        .pack()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LinkEscapes { .. }), "{err:?}");
    // Sent from the repository root, it stays a link: its target's bytes are not read.
    let got = roundtrip(
        Pack::new(repo.path(), app("app")),
        Behavior::default(),
        Dial::default(),
        &[],
    )
    .await;
    assert!(
        entries(&got).contains(&"link app/sibling -> ../other/x.yaml"),
        "{got:?}"
    );
}

#[tokio::test]
async fn special_files_are_skipped_not_opened() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "cm.yaml", b"kind: ConfigMap\n");
    // Opening a FIFO for reading would block the packer forever.
    let status = std::process::Command::new("mkfifo")
        .arg(repo.path().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let got = roundtrip(
        Pack::new(repo.path(), RepoPath::root()),
        Behavior::default(),
        Dial::default(),
        &[],
    )
    .await;
    let listed = entries(&got);
    assert_eq!(listed.len(), 1, "{listed:?}");
}

#[tokio::test]
async fn modes_are_normalized_unless_preserved() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "run.sh", b"#!/bin/sh\n");
    write(repo.path(), "d/ro.yaml", b"kind: X\n");
    std::fs::set_permissions(
        repo.path().join("run.sh"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::fs::set_permissions(
        repo.path().join("d/ro.yaml"),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    std::fs::set_permissions(
        repo.path().join("d"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let pack = || Pack::new(repo.path(), RepoPath::root());
    let got = roundtrip(pack(), Behavior::default(), Dial::default(), &[]).await;
    let modes: Vec<String> = entries(&got)
        .iter()
        .map(|e| e.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        modes,
        ["dir d 755", "file d/ro.yaml 644", "file run.sh 644"]
    );
    let keep = Behavior {
        preserve_mode: true,
        ..Behavior::default()
    };
    let got = roundtrip(pack(), keep, Dial::default(), &[]).await;
    let modes: Vec<String> = entries(&got)
        .iter()
        .map(|e| e.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    // Permission bits kept, the set-uid bit never.
    assert_eq!(
        modes,
        ["dir d 750", "file d/ro.yaml 400", "file run.sh 755"]
    );
}

#[tokio::test]
async fn a_large_file_goes_in_many_chunks() {
    let repo = tempfile::tempdir().unwrap();
    // Incompressible enough: a counter's digests.
    let body: Vec<u8> = (0u32..100_000)
        .flat_map(|i| Sha256::digest(i.to_le_bytes()))
        .collect();
    write(repo.path(), "big.bin", &body);
    let packed = Pack::new(repo.path(), RepoPath::root())
        .pack()
        .await
        .unwrap();
    let size = packed.size() as usize;
    assert!(size > 3 << 20, "{size}");
    let dial = Dial {
        chunk_size: 1024,
        ..Dial::default()
    };
    let got = roundtrip(
        Pack::new(repo.path(), RepoPath::root()),
        Behavior::default(),
        dial,
        &[],
    )
    .await;
    assert_eq!(got[3], format!("chunks {}", size.div_ceil(1024)));
    assert_eq!(entries(&got), [format!("file big.bin 644 {}", sha(&body))]);
    // One chunk when it is larger than the archive.
    let dial = Dial {
        chunk_size: 8 << 20,
        ..Dial::default()
    };
    let got = roundtrip(
        Pack::new(repo.path(), RepoPath::root()),
        Behavior::default(),
        dial,
        &[],
    )
    .await;
    assert_eq!(got[3], "chunks 1");
}

#[tokio::test]
async fn one_packed_tree_streams_to_several_calls() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "a/cm.yaml", b"kind: ConfigMap\n");
    let sockets = tempfile::tempdir().unwrap();
    let _sidecar = serve(sockets.path(), "echo", Behavior::default()).await;
    let plugin = Plugin::named(&Sockets::new(sockets.path()), "echo", Dial::default())
        .await
        .unwrap();
    let packed = Pack::new(repo.path(), app("a")).pack().await.unwrap();
    let (one, two, params) = tokio::join!(
        plugin.generate_manifest(&packed, &[]),
        plugin.generate_manifest(&packed, &[]),
        plugin.get_parameters_announcement(&packed, &[]),
    );
    assert_eq!(one.unwrap().manifests, two.unwrap().manifests);
    assert_eq!(params.unwrap().parameter_announcements[0].name, "a");
}

#[tokio::test]
async fn long_names_and_link_targets_survive() {
    let repo = tempfile::tempdir().unwrap();
    let deep = format!("{}/{}.yaml", "d".repeat(90), "f".repeat(120));
    write(repo.path(), &deep, b"kind: Deep\n");
    let target = deep.clone();
    symlink(&target, repo.path().join("l")).unwrap();
    let got = roundtrip(
        Pack::new(repo.path(), RepoPath::root()),
        Behavior::default(),
        Dial::default(),
        &[],
    )
    .await;
    let listed = entries(&got);
    assert_eq!(
        listed[1],
        format!("file {deep} 644 {}", sha(b"kind: Deep\n"))
    );
    assert_eq!(listed[2], format!("link l -> {target}"));
}

#[tokio::test]
async fn an_archive_as_upstreams_sender_writes_it_is_taken() {
    // Upstream's Tgz walks from the root itself: its first entry is the directory `.`, and a
    // directory's mode is its own (here 0750, normalized on arrival).
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, kind, mode, body) in [
        (".", tar::EntryType::Directory, 0o750, &b""[..]),
        ("app", tar::EntryType::Directory, 0o750, b""),
        (
            "app/cm.yaml",
            tar::EntryType::Regular,
            0o600,
            b"kind: ConfigMap\n",
        ),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(body.len() as u64);
        header.set_path(name).unwrap();
        header.set_cksum();
        builder.append(&header, body).unwrap();
    }
    let archive = builder.into_inner().unwrap().finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = serve(dir.path(), "p", Behavior::default()).await;
    let got = send_crafted(
        &sidecar.socket,
        vec![metadata_for(&archive), chunk(&archive)],
    )
    .await
    .unwrap();
    assert_eq!(
        entries(&got),
        [
            "dir app 755".to_string(),
            format!("file app/cm.yaml 644 {}", sha(b"kind: ConfigMap\n")),
        ]
    );
}
