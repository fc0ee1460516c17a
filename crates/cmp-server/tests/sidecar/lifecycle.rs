//! Start, socket naming, stale sockets, bad definitions, shutdown.

use std::path::Path;

use crate::support::{definition, read, spawn, Sidecar};

const GENERATE: &str = "  generate:\n    command: [cat, x.yaml]\n";

#[tokio::test]
async fn socket_is_named_after_the_plugin_and_version() {
    let plain = Sidecar::start(&definition("plain", GENERATE));
    assert_eq!(plain.socket.file_name().unwrap(), "plain.sock");
    let versioned = Sidecar::start(&definition("tool", &format!("  version: v1.0\n{GENERATE}")));
    assert_eq!(versioned.socket.file_name().unwrap(), "tool-v1.0.sock");
}

/// A socket left by a killed sidecar is replaced; anything else in its place is not deleted.
#[tokio::test]
async fn stale_socket_replaced_other_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plugins/p.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let (mut child, log) = spawn(dir.path(), &definition("p", GENERATE), &[]);
    let client = wait_for_answer(&socket, &mut child, &log).await;
    assert!(!client.is_discovery_configured);
    child.kill().unwrap();
    child.wait().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plugins/p.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    std::fs::write(&socket, "not a socket").unwrap();
    let (mut child, log) = spawn(dir.path(), &definition("p", GENERATE), &[]);
    assert!(!child.wait().unwrap().success());
    assert!(
        read(&log).contains("p.sock exists and is not a socket; remove it"),
        "{}",
        read(&log)
    );
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
}

async fn wait_for_answer(
    socket: &Path,
    child: &mut std::process::Child,
    log: &Path,
) -> repo_proto::plugin::CheckPluginConfigurationResponse {
    // Until the new server answers on the replaced socket; the bound keeps a bug from hanging.
    for _ in 0..400 {
        if let Ok(plugin) =
            repo_cmp::Plugin::connect("p", socket.to_path_buf(), Default::default()).await
        {
            if let Ok(r) = plugin.check_plugin_configuration().await {
                return r;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited {status}: {}", read(log));
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no answer: {}", read(log));
}

#[test]
fn bad_definitions_stop_the_start_naming_file_and_field() {
    for (yaml, want) in [
        (
            "kind: ConfigManagementPlugin\nmetadata: {name: p}\nspec: {}\n".to_string(),
            "invalid plugin configuration file: spec.generate command should be non-empty",
        ),
        (
            definition("p", "  generate: {command: {not: a list}}\n"),
            "plugin.yaml: invalid plugin configuration file: ",
        ),
        (
            "kind: Other\nmetadata: {name: p}\n".to_string(),
            "kind should be ConfigManagementPlugin, found Other",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, log) = spawn(dir.path(), &yaml, &[]);
        assert!(!child.wait().unwrap().success());
        let text = read(&log);
        let file = dir.path().join("config/plugin.yaml").display().to_string();
        assert!(text.contains(&file) && text.contains(want), "{text}");
    }
}

/// SIGTERM: the socket goes away and the process exits cleanly; a restart empties the work
/// directory left behind.
#[tokio::test]
async fn shutdown_removes_the_socket_and_restart_empties_the_work_directory() {
    let mut sidecar = Sidecar::start(&definition("p", GENERATE));
    let socket = sidecar.socket.clone();
    let leftover = sidecar.work().join("cmp-leftover");
    std::fs::create_dir_all(&leftover).unwrap();
    assert!(sidecar.stop().success());
    assert!(!socket.exists());
    let (mut child, log) = spawn(sidecar.dirs.path(), &definition("p", GENERATE), &[]);
    wait_for_answer(&socket, &mut child, &log).await;
    assert!(!leftover.exists());
    child.kill().unwrap();
    child.wait().unwrap();
}
