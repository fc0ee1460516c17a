//! `cold-plugin`: a config management plugin (our `argocd-cmp-server` sidecar; its generate
//! command `cat *.yaml` over 50 manifests) rendered through this server's GenerateManifest,
//! against the floor of the same command run directly on the files. The difference is what
//! the plugin protocol costs: the tar.gz stream over the unix socket, its unpacking, the
//! command's start in the sidecar and the answer.
//!
//! Each call asks for a new application name, so it misses the manifest cache and renders,
//! while the repository stays fetched: a hard refresh (`noCache`) would list the refs again,
//! git work that is not the protocol's. A built-in directory render of the same files, measured
//! the same way, shows what the server costs around any render.

use std::process::Stdio;
use std::time::Instant;

use prost::Message;
use repo_proto::v1alpha1::ApplicationSourcePlugin;

use crate::fixture::{self, commit_all, manifest_count, manifest_message};
use crate::grpc::GENERATE_MANIFEST;
use crate::load::quantile;
use crate::pki::Pki;
use crate::suite::cold::run_ok;
use crate::suite::{mtls_dialer, Ctx};
use crate::system::{Extra, Ours, Process, FLOOR, OURS};

const BENCHMARK: &str = "cold-plugin";
const TARGET: &str = "target";
const MANIFESTS: usize = 50;
const PLUGIN: &str = "cat";
const GENERATE: &str = "cat *.yaml";

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("cold-plugin");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let src = work.join("src");
    for i in 0..MANIFESTS {
        fixture::write(
            &src,
            &format!("apps/web/m-{i:02}.yaml"),
            &fixture::configmaps(&format!("web-{i}"), 1),
        );
    }
    let revision = commit_all(&src, "fifty manifests")?;
    let url = format!("file://{}", src.display());

    let plugins = work.join("plugins");
    let _sidecar = sidecar(ctx, &work, &plugins)?;
    let server = Ours {
        pki: Some(&pki),
        cache: work.join("cache"),
    }
    .start_with(
        &ctx.layout,
        BENCHMARK,
        &Extra {
            plugins: Some(plugins),
            ..Extra::default()
        },
    )?;
    let mut conn = mtls_dialer(&server, &pki, false)?.connect().await?;
    let runs = ctx.plan.plugin_runs;
    let mut times = [Vec::new(), Vec::new()];
    // Run 0 fetches the repository and starts the connection: not measured.
    for run in 0..=runs {
        for (kind, plugin) in [(0, true), (1, false)] {
            let mut request = manifest_message(&url, "apps/web", &revision, &format!("web-{run}"));
            if plugin {
                let source = request.application_source.as_mut().expect("set above");
                source.plugin = Some(ApplicationSourcePlugin {
                    name: Some(PLUGIN.into()),
                    ..Default::default()
                });
            }
            let start = Instant::now();
            let response = conn
                .unary(GENERATE_MANIFEST, &request.encode_to_vec())
                .await?;
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            anyhow::ensure!(
                manifest_count(&response)? == MANIFESTS,
                "{BENCHMARK}: expected {MANIFESTS} manifests"
            );
            if run > 0 {
                times[kind].push(elapsed);
            }
        }
    }
    let mut floor = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        run_ok(
            tokio::process::Command::new("sh")
                .args(["-c", GENERATE])
                .current_dir(src.join("apps/web"))
                .stdout(Stdio::piped()),
        )
        .await?;
        floor.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (plugin, directory, floor) = (
        quantile(&times[0], 0.5),
        quantile(&times[1], 0.5),
        quantile(&floor, 0.5),
    );
    let r = &mut ctx.results;
    r.add(BENCHMARK, OURS, "plugin_wall_ms", plugin, "ms");
    r.add(BENCHMARK, FLOOR, "plugin_wall_ms", floor, "ms");
    r.add(BENCHMARK, OURS, "over_floor_ms", plugin - floor, "ms");
    r.add(BENCHMARK, TARGET, "over_floor_ms", 20.0, "ms");
    r.add(BENCHMARK, OURS, "directory_wall_ms", directory, "ms");
    r.add(
        BENCHMARK,
        OURS,
        "plugin_over_directory_ms",
        plugin - directory,
        "ms",
    );
    Ok(())
}

/// Our sidecar serving the `cat` plugin, its socket in `plugins` once this returns.
fn sidecar(
    ctx: &Ctx,
    work: &std::path::Path,
    plugins: &std::path::Path,
) -> anyhow::Result<Process> {
    let config = work.join("sidecar-config");
    std::fs::create_dir_all(&config)?;
    std::fs::create_dir_all(plugins)?;
    std::fs::write(
        config.join("plugin.yaml"),
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: {PLUGIN}\nspec:\n  generate:\n    command: [sh, -c, {GENERATE:?}]\n"
        ),
    )?;
    let mut command = std::process::Command::new(ctx.layout.cmp_server());
    command
        .arg("--config-dir-path")
        .arg(&config)
        .args(["--logformat", "text"])
        .env("ARGOCD_PLUGINSOCKFILEPATH", plugins)
        .env("ARGOCD_CMP_WORKDIR", work.join("sidecar-work"));
    let mut process = Process::spawn("argocd-cmp-server", command, &ctx.layout.work)?;
    let socket = plugins.join(format!("{PLUGIN}.sock"));
    process.ready_when(|| socket.exists())?;
    Ok(process)
}
