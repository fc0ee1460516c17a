//! What a tenant's repository can make a plugin do: run long, print a lot, race other
//! requests, carry executables, point outside.

use std::time::Duration;

use tonic::Code;

use crate::support::{definition, env, message, pack, raw, repo, Sidecar};
use repo_testkit::alive;

/// ARGOCD_EXEC_TIMEOUT stops the command with its process group: a background `sleep` it
/// started does not survive.
#[tokio::test]
async fn timeout_kills_the_process_group() {
    let marks = tempfile::tempdir().unwrap();
    let pids = marks.path().display().to_string();
    let sidecar = Sidecar::with_env(
        &definition(
            "slow",
            "  generate:\n    command: [sh, -c, 'sleep 600 & echo $! > \"$PIDS/pid\"; wait']\n",
        ),
        &[
            ("ARGOCD_EXEC_TIMEOUT", "1s"),
            ("ARGOCD_EXEC_FATAL_TIMEOUT", "1s"),
            ("PIDS", &pids),
        ],
    );
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let err = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap_err();
    let (code, text) = message(err);
    assert_eq!(code, Code::Unknown);
    assert!(
        text.contains(
            "timed out after 1s (ARGOCD_EXEC_TIMEOUT) and was stopped with its process group"
        ),
        "{text}"
    );
    let pid = std::fs::read_to_string(marks.path().join("pid")).unwrap();
    assert!(
        !alive(pid.trim().parse().unwrap()),
        "the plugin's background sleep {pid} survived"
    );
}

/// 100 MiB on stdout: refused at the cap, in bounded memory, and the sidecar keeps serving.
#[tokio::test]
async fn huge_output_is_refused_at_the_cap() {
    let sidecar = Sidecar::start(&definition(
        "flood",
        "  generate:\n    command: [sh, -c, 'if [ -f small ]; then echo kind: Small; else head -c 104857600 /dev/zero; fi']\n",
    ));
    let repo = repo(&[("big/x", ""), ("small/small", "")]);
    let plugin = sidecar.plugin().await;
    let err = plugin
        .generate_manifest(&pack(repo.path(), "big").await, &[])
        .await
        .unwrap_err();
    let (code, text) = message(err);
    assert_eq!(code, Code::ResourceExhausted);
    assert!(
        text.contains(
            "wrote more than 67108864 bytes to stdout (raise ARGOCD_CMP_SERVER_MAX_OUTPUT_MB)"
        ),
        "{text}"
    );
    let peak = std::fs::read_to_string(format!("/proc/{}/status", sidecar.pid())).unwrap();
    let peak_kb: u64 = peak
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kb < 256 << 10, "sidecar peak RSS {peak_kb} kB");
    let ok = plugin
        .generate_manifest(&pack(repo.path(), "small").await, &[])
        .await
        .unwrap();
    assert_eq!(ok.manifests, [r#"{"kind":"Small"}"#]);
}

/// Concurrent requests each get their own directory, removed afterwards.
#[tokio::test]
async fn concurrent_requests_are_isolated() {
    let script = r#"echo "$ARGOCD_APP_NAME" > owner; sleep 0.3; printf '{"kind":"ConfigMap","metadata":{"name":"%s"},"data":{"files":"%s"}}' "$(cat owner)" "$(ls | tr '\n' ' ')""#;
    let sidecar = Sidecar::start(&definition(
        "race",
        &format!(
            "  generate:\n    command: [sh, -c]\n    args:\n      - {}\n",
            serde_json::to_string(script).unwrap()
        ),
    ));
    let repo = repo(&[("app/input.yaml", "")]);
    let packed = pack(repo.path(), "app").await;
    let plugin = sidecar.plugin().await;
    let calls = (0..8).map(|i| {
        let (plugin, packed) = (plugin.clone(), packed.clone());
        tokio::spawn(async move {
            let name = format!("app-{i}");
            let got = plugin
                .generate_manifest(&packed, &env(&[("ARGOCD_APP_NAME", &name)]))
                .await
                .unwrap();
            (name, got.manifests)
        })
    });
    for call in calls.collect::<Vec<_>>() {
        let (name, manifests) = call.await.unwrap();
        let want = format!(
            r#"{{"data":{{"files":"input.yaml owner "}},"kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#
        );
        assert_eq!(manifests, [want]);
    }
    // Removal runs after each answer; the bound only keeps a regression from hanging.
    let mut left = usize::MAX;
    for _ in 0..200 {
        left = std::fs::read_dir(sidecar.work()).unwrap().count();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(left, 0, "request directories left in the work directory");
}

/// Without preserveFileMode files arrive without their executable bit, as upstream.
#[tokio::test]
async fn file_modes_only_with_preserve_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let repo = repo(&[("app/run.sh", "#!/bin/sh\n")]);
    std::fs::set_permissions(
        repo.path().join("app/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let packed = pack(repo.path(), "app").await;
    let spec = |preserve: bool| {
        format!("  preserveFileMode: {preserve}\n  generate:\n    command: [sh, -c, 'if [ -x run.sh ]; then echo mode: exec; else echo mode: plain; fi']\n")
    };
    for (preserve, want) in [(false, "plain"), (true, "exec")] {
        let sidecar = Sidecar::start(&definition("modes", &spec(preserve)));
        let got = sidecar
            .plugin()
            .await
            .generate_manifest(&packed, &[])
            .await
            .unwrap();
        assert_eq!(
            got.manifests,
            [format!(r#"{{"mode":"{want}"}}"#)],
            "preserveFileMode {preserve}"
        );
    }
}

/// Upstream's "out-of-bounds app path": an appRelPath climbing out of the received tree.
#[tokio::test]
async fn app_path_outside_the_tree_is_refused() {
    use futures_util::StreamExt;
    use repo_proto::plugin::app_stream_request::Request;
    let sidecar = Sidecar::start(&definition(
        "bounds",
        "  generate:\n    command: [sh, -c, 'echo kind: X']\n  parameters:\n    static: [{name: p}]\n",
    ));
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let evil = || {
        packed.requests(&[], 1024).map(|mut r| {
            if let Some(Request::Metadata(m)) = &mut r.request {
                m.app_rel_path = "../out-of-bounds".into();
            }
            r
        })
    };
    let mut client = raw(&sidecar.socket).await;
    let status = client.generate_manifest(evil()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("illegal appPath"),
        "{}",
        status.message()
    );
    let status = client
        .get_parameters_announcement(evil())
        .await
        .unwrap_err();
    assert!(
        status.message().contains("illegal appPath"),
        "{}",
        status.message()
    );
    let status = client.match_repository(evil()).await.unwrap_err();
    assert!(
        status.message().contains("illegal appPath"),
        "{}",
        status.message()
    );
}

/// The caller's deadline (`grpc-timeout`) stops the command before ARGOCD_EXEC_TIMEOUT, and a
/// caller that goes away takes the command's process group with it.
#[tokio::test]
async fn deadline_and_disconnect_stop_the_process_group() {
    let marks = tempfile::tempdir().unwrap();
    let pids = marks.path().display().to_string();
    let sidecar = Sidecar::with_env(
        &definition(
            "waits",
            "  generate:\n    command: [sh, -c, 'sleep 600 & echo $! > \"$PIDS/$ARGOCD_APP_NAME\"; wait']\n",
        ),
        &[("PIDS", &pids)],
    );
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;

    let dial = repo_cmp::Dial {
        deadline: Duration::from_secs(1),
        ..repo_cmp::Dial::default()
    };
    let plugin = repo_cmp::Plugin::connect("waits", sidecar.socket.clone(), dial)
        .await
        .unwrap();
    let err = plugin
        .generate_manifest(&packed, &env(&[("ARGOCD_APP_NAME", "deadline")]))
        .await
        .unwrap_err();
    // The sidecar answers 100 ms before the deadline; a loaded machine may let the client's
    // own timer fire first.
    match err {
        repo_cmp::Error::Plugin { code, message, .. } => {
            assert_eq!(code, Code::DeadlineExceeded);
            assert!(message.contains("(the request's deadline)"), "{message}");
        }
        repo_cmp::Error::Deadline { .. } => {}
        other => panic!("{other}"),
    }
    let pid = wait_for(&marks.path().join("deadline")).await;
    gone(&pid).await;

    let mut client = raw(&sidecar.socket).await;
    let requests = packed.requests(&env(&[("ARGOCD_APP_NAME", "abandoned")]), 1024);
    let call = tokio::spawn(async move { client.generate_manifest(requests).await });
    let pid = wait_for(&marks.path().join("abandoned")).await;
    call.abort();
    gone(&pid).await;
}

/// The pid a command wrote; the bound only keeps a broken sidecar from hanging the test.
async fn wait_for(file: &std::path::Path) -> String {
    for _ in 0..400 {
        if let Ok(pid) = std::fs::read_to_string(file) {
            if pid.ends_with('\n') {
                return pid.trim().to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} never written", file.display());
}

/// Waits (bounded) for `pid` to end.
async fn gone(pid: &str) {
    for _ in 0..400 {
        if !alive(pid.parse().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("process {pid} outlived its request");
}

/// A crafted stream (not from repo-cmp's packer): entries climbing out, links pointing out,
/// and more than ARGOCD_CMP_SERVER_MAX_UNPACK_MB are refused, and nothing lands outside.
#[tokio::test]
async fn crafted_archives_are_refused() {
    use repo_proto::plugin::app_stream_request::Request;
    use repo_proto::plugin::{AppStreamRequest, File, ManifestRequestMetadata};
    use sha2::Digest;

    let sidecar = Sidecar::with_env(
        &definition("crafted", "  generate:\n    command: [sh, -c, 'cat *']\n"),
        &[("ARGOCD_CMP_SERVER_MAX_UNPACK_MB", "1")],
    );
    let stream = |tgz: Vec<u8>| {
        let metadata = ManifestRequestMetadata {
            app_name: "app".into(),
            app_rel_path: "app".into(),
            checksum: hex::encode(sha2::Sha256::digest(&tgz)),
            size: tgz.len() as i64,
            env: vec![],
        };
        let mut requests = vec![AppStreamRequest {
            request: Some(Request::Metadata(metadata)),
        }];
        requests.extend(tgz.chunks(1024).map(|c| AppStreamRequest {
            request: Some(Request::File(File { chunk: c.to_vec() })),
        }));
        futures_util::stream::iter(requests)
    };
    let archive = |entries: &[(&str, tar::EntryType, &str, usize)]| {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, kind, link, size) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(*size as u64);
            // Written raw: the tar crate's own setters refuse `..`.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if !link.is_empty() {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            tar.append(&header, vec![b'x'; *size].as_slice()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    };
    use tar::EntryType::{Directory, Regular, Symlink};
    let cases = [
        (
            archive(&[
                ("app/", Directory, "", 0),
                ("app/../../escaped", Regular, "", 4),
            ]),
            "app/../../escaped leads outside the archive",
        ),
        (
            archive(&[("app/", Directory, "", 0), ("app/out", Symlink, "/etc", 0)]),
            "app/out links outside the archive",
        ),
        (
            archive(&[
                ("app/", Directory, "", 0),
                ("app/up", Symlink, "../../..", 0),
            ]),
            "app/up links outside the archive",
        ),
        (
            archive(&[
                ("app/", Directory, "", 0),
                ("app/big", Regular, "", 2 << 20),
            ]),
            "the unpacked files exceeds the limit of 1048576 bytes",
        ),
    ];
    let mut client = raw(&sidecar.socket).await;
    for (tgz, want) in cases {
        let status = client.generate_manifest(stream(tgz)).await.unwrap_err();
        let text = status.message();
        assert!(
            text.starts_with("generate manifest error receiving stream: plugin stream")
                && text.ends_with(want),
            "{text}"
        );
        let code = match want.contains("limit") {
            true => Code::ResourceExhausted,
            false => Code::InvalidArgument,
        };
        assert_eq!(status.code(), code, "{text}");
    }
    let work = sidecar.dirs.path().join("work");
    assert!(!work.join("escaped").exists() && !sidecar.work().join("escaped").exists());
    let good = archive(&[("app/", Directory, "", 0), ("app/cm", Regular, "", 0)]);
    let ok = client.generate_manifest(stream(good)).await.unwrap();
    assert!(ok.into_inner().manifests.is_empty());
}
