//! Compiles the schema with protox (pure Rust), so the build needs no system `protoc`.

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "server/version/version.proto",
    "reposerver/repository/repository.proto",
    "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1/generated.proto",
    "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto",
    "k8s.io/apimachinery/pkg/runtime/generated.proto",
    "k8s.io/apimachinery/pkg/util/intstr/generated.proto",
];

/// The config management plugin sidecar's schema: generated with the rest, but described apart,
/// so the repo-server's reflection does not list a service it does not serve.
const PLUGIN: &str = "cmpserver/plugin/plugin.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let repo = protox::compile(FILES, [&root])?;
    std::fs::write(out.join("descriptor.bin"), repo.encode_to_vec())?;
    let plugin = protox::compile([PLUGIN], [&root])?;
    std::fs::write(out.join("plugin_descriptor.bin"), plugin.encode_to_vec())?;
    let fds = protox::compile(FILES.iter().chain([&PLUGIN]), [&root])?;
    tonic_prost_build::configure()
        // Ordered maps give the v1alpha1 types (sources, specs) a deterministic encoding, which
        // the manifest cache hashes into its keys.
        .btree_map(".github.com.argoproj.argo_cd.v3.pkg.apis.application.v1alpha1")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
