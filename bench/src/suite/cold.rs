//! `cold-directory`, `cold-kustomize`, `cold-helm`: the first render of an application from a
//! repository the server has never seen, served by a local `git daemon`, against the floor of
//! the same clone plus the tool alone.

use std::path::Path;
use std::time::Instant;

use tokio::process::Command;

use crate::fixture::{self, commit_all, manifest_count, manifest_request, Daemon};
use crate::grpc::GENERATE_MANIFEST;
use crate::load::quantile;
use crate::pki::Pki;
use crate::suite::{serve, Ctx};
use crate::system::{FLOOR, OURS};

struct Case {
    benchmark: &'static str,
    path: &'static str,
    /// The tool's own command line after the checkout directory is known.
    tool: Option<fn(&Path, &Path) -> Command>,
}

const CASES: [Case; 3] = [
    Case {
        benchmark: "cold-directory",
        path: "apps/plain",
        tool: None,
    },
    Case {
        benchmark: "cold-kustomize",
        path: "apps/kustomized",
        tool: Some(kustomize),
    },
    Case {
        benchmark: "cold-helm",
        path: "apps/chart",
        tool: Some(helm),
    },
];

fn kustomize(tools: &Path, app: &Path) -> Command {
    let mut c = Command::new(tools.join("kustomize"));
    c.arg("build").arg(app);
    c
}

fn helm(tools: &Path, app: &Path) -> Command {
    let mut c = Command::new(tools.join("helm"));
    c.args(["template", "web"])
        .arg(app)
        .args(["--namespace", "bench"]);
    c
}

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("cold");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let src = work.join("src");
    fixture::write(
        &src,
        "apps/plain/all.yaml",
        &fixture::configmaps("plain", 20),
    );
    fixture::kustomize_app(&src, "apps/kustomized", "web");
    fixture::helm_chart(&src, "apps/chart");
    commit_all(&src, "three apps")?;
    let daemon = Daemon::start(&work.join("served"), &work)?;
    let (_server, dialer) = serve(ctx, &pki, &work, "cold")?;
    let mut conn = dialer.connect().await?;
    let tools = ctx.layout.tools();
    for case in CASES {
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        for run in 0..ctx.plan.cold_runs {
            // A repository never seen before: nothing cached, in the server or on disk.
            let url = daemon.publish(&src, &format!("{}-{run}", case.benchmark))?;
            let request = manifest_request(&url, case.path, "HEAD", "web");
            let start = Instant::now();
            let response = conn.unary(GENERATE_MANIFEST, &request).await?;
            ours.push(start.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(
                manifest_count(&response)? > 0,
                "{}: no manifests",
                case.benchmark
            );

            let url = daemon.publish(&src, &format!("{}-floor-{run}", case.benchmark))?;
            let checkout = work.join(format!("floor-{}-{run}", case.benchmark));
            let start = Instant::now();
            run_ok(
                Command::new("git")
                    .args(["clone", "-q", &url])
                    .arg(&checkout),
            )
            .await?;
            if let Some(tool) = case.tool {
                run_ok(&mut tool(&tools, &checkout.join(case.path))).await?;
            }
            floor.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let (ours, floor) = (quantile(&ours, 0.5), quantile(&floor, 0.5));
        let r = &mut ctx.results;
        r.add(case.benchmark, OURS, "wall_ms", ours, "ms");
        r.add(case.benchmark, FLOOR, "wall_ms", floor, "ms");
        r.add(
            case.benchmark,
            OURS,
            "over_floor_pct",
            (ours - floor) / floor * 100.0,
            "%",
        );
    }
    Ok(())
}

pub(crate) async fn run_ok(command: &mut Command) -> anyhow::Result<()> {
    let out = command.output().await?;
    anyhow::ensure!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
