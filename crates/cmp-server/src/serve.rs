//! The socket: `<plugins dir>/<name>[-<version>].sock`, a stale one replaced as upstream
//! does, removed again on shutdown; its mode follows the umask, as upstream's.

use std::future::Future;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use repo_proto::plugin::config_management_plugin_service_server::ConfigManagementPluginServiceServer;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::config::Plugin;
use crate::service::Service;
use crate::settings::Settings;
use crate::workdir;

/// Serves until `shutdown` completes, then lets running calls finish.
pub async fn serve(
    plugin: Plugin,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let work = settings.work_dir.clone();
    tokio::task::spawn_blocking(move || workdir::init(&work))
        .await
        .map_err(|e| e.to_string())??;
    let address = plugin.address(&settings.socket_dir);
    if !plugin.spec.discover.is_defined() {
        tracing::info!(
            "No discovery configuration is defined for plugin {}. To use this plugin, specify {:?} in the Application's spec.source.plugin.name field.",
            plugin.metadata.name,
            plugin.full_name()
        );
    }
    let listener = bind(&address)?;
    tracing::info!(address = %address.display(), "argocd-cmp-server serving");
    let max = settings.max_message;
    let plugins = ConfigManagementPluginServiceServer::new(Service::new(plugin, settings))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let (_, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(repo_proto::PLUGIN_FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("gRPC reflection: {e}"))?;
    let served = tonic::transport::Server::builder()
        .add_service(plugins)
        .add_service(health)
        .add_service(reflection)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    let _ = std::fs::remove_file(&address);
    served.map_err(|e| format!("serving on {}: {e}", address.display()))
}

/// Binds `address`, replacing a socket left by an earlier run; anything else there is
/// refused rather than deleted.
fn bind(address: &Path) -> Result<UnixListener, String> {
    let shown = address.display();
    match std::fs::symlink_metadata(address) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(address)
            .map_err(|e| format!("removing the stale socket {shown}: {e}"))?,
        Ok(_) => return Err(format!("{shown} exists and is not a socket; remove it")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    if let Some(dir) = address.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    UnixListener::bind(address).map_err(|e| format!("listening on {shown}: {e}"))
}
