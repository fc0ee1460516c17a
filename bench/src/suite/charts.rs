//! `cold-helm-repo`, `cold-oci`: the first render of a chart from a Helm repository or an OCI
//! registry the server has never seen, against the floor of `helm pull` plus `helm template`.
//! `warm-chart`: a new values set for a chart already fetched, against `helm template` alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use prost::Message;
use repo_proto::github::com::argoproj::argo_cd::v3::pkg::apis::application::v1alpha1::{
    ApplicationSource, ApplicationSourceHelm, HelmParameter, Repository,
};
use repo_proto::repository::{ManifestRequest, ManifestResponse};
use tokio::process::Command;

use crate::file_server::FileServer;
use crate::fixture;
use crate::grpc::{Conn, GENERATE_MANIFEST};
use crate::load::quantile;
use crate::pki::Pki;
use crate::registry::Registry;
use crate::suite::cold::run_ok;
use crate::suite::{serve, Ctx};
use crate::system::{System, FLOOR, OURS};

const CHART: &str = "web";
const VERSION: &str = "1.2.3";

pub(crate) async fn helm_repo(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut bench = Bench::start(ctx, "cold-helm-repo").await?;
    let files = FileServer::start(&bench.work.join("served")).await?;
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for run in 0..ctx.plan.cold_runs {
        // A repository URL never seen before: nothing cached, in the server or in helm's cache.
        let url = bench.publish(&files, &format!("ours-{run}")).await?;
        let (ms, _) = bench.render(&request(index(&url), &url, None)).await?;
        ours.push(ms);

        let url = bench.publish(&files, &format!("floor-{run}")).await?;
        let dir = bench.work.join(format!("floor-{run}"));
        let start = Instant::now();
        run_ok(
            bench
                .helm()
                .args(["pull", CHART, "--repo", &url])
                .args(["--version", VERSION, "--untar", "-d"])
                .arg(&dir),
        )
        .await?;
        run_ok(&mut bench.template(&dir.join(CHART), None)).await?;
        floor.push(ms_since(start));
    }
    against_floor(ctx, "cold-helm-repo", &ours, &floor);
    Ok(())
}

pub(crate) async fn oci(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut bench = Bench::start(ctx, "cold-oci").await?;
    let registry = Registry::start(&bench.work.join("registry"), &bench.work)?;
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for run in 0..ctx.plan.cold_runs {
        // A repository path never pushed before: nothing cached, in the server or in helm.
        let name = bench.push(&registry, &format!("ours-{run}")).await?;
        let repo = Repository {
            repo: Some(name.clone()),
            r#type: Some("helm".into()),
            enable_oci: Some(true),
            insecure_oci_force_http: Some(true),
            ..Default::default()
        };
        let (ms, _) = bench.render(&request(repo, &name, None)).await?;
        ours.push(ms);

        let name = bench.push(&registry, &format!("floor-{run}")).await?;
        let dir = bench.work.join(format!("floor-{run}"));
        let start = Instant::now();
        run_ok(
            bench
                .helm()
                .args(["pull", &format!("oci://{name}/{CHART}")])
                .args(["--version", VERSION, "--plain-http", "--untar", "-d"])
                .arg(&dir),
        )
        .await?;
        run_ok(&mut bench.template(&dir.join(CHART), None)).await?;
        floor.push(ms_since(start));
    }
    against_floor(ctx, "cold-oci", &ours, &floor);
    Ok(())
}

pub(crate) async fn warm(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut bench = Bench::start(ctx, "warm-chart").await?;
    let files = FileServer::start(&bench.work.join("served")).await?;
    let url = bench.publish(&files, "repo").await?;
    // The chart fetched once, by the server and for the floor.
    bench.render(&request(index(&url), &url, None)).await?;
    let dir = bench.work.join("floor");
    run_ok(
        bench
            .helm()
            .args(["pull", CHART, "--repo", &url])
            .args(["--version", VERSION, "--untar", "-d"])
            .arg(&dir),
    )
    .await?;
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for run in 0..ctx.plan.cold_runs {
        // Values never rendered before: the manifest cache misses, the chart is at hand.
        let replicas = (run + 3).to_string();
        let (ms, manifests) = bench
            .render(&request(index(&url), &url, Some(&replicas)))
            .await?;
        anyhow::ensure!(
            manifests
                .iter()
                .any(|m| m.contains(&format!("\"replicas\":{replicas}"))),
            "warm-chart: replicas={replicas} not rendered: {manifests:?}"
        );
        ours.push(ms);

        let start = Instant::now();
        run_ok(&mut bench.template(&dir.join(CHART), Some(&replicas))).await?;
        floor.push(ms_since(start));
    }
    against_floor(ctx, "warm-chart", &ours, &floor);
    Ok(())
}

/// One benchmark's server with an empty cache, a connection to it, and a helm home of its own
/// for the floor and the setup.
struct Bench {
    work: PathBuf,
    tools: PathBuf,
    conn: Conn,
    _server: System,
}

impl Bench {
    async fn start(ctx: &Ctx, id: &str) -> anyhow::Result<Self> {
        let work = ctx.layout.work.join(id);
        let (pki, _) = Pki::p256(&work.join("pki"));
        let (server, dialer) = serve(ctx, &pki, &work, id)?;
        Ok(Self {
            tools: ctx.layout.tools(),
            conn: dialer.connect().await?,
            _server: server,
            work,
        })
    }

    /// The chart packaged by `helm package`, its description naming `tag`: every archive has
    /// its own digest, so none is found in the server's content-addressed store.
    async fn package(&self, tag: &str) -> anyhow::Result<PathBuf> {
        let src = self.work.join("src").join(tag);
        fixture::helm_chart(&src, CHART);
        let meta = src.join(CHART).join("Chart.yaml");
        let mut chart = tokio::fs::read_to_string(&meta).await?;
        chart.push_str(&format!("description: bench chart {tag}\n"));
        tokio::fs::write(&meta, chart).await?;
        let out = self.work.join("package").join(tag);
        run_ok(
            self.helm()
                .arg("package")
                .arg(src.join(CHART))
                .arg("-d")
                .arg(&out),
        )
        .await?;
        Ok(out.join(format!("{CHART}-{VERSION}.tgz")))
    }

    /// `helm` with its cache, configuration and data under the work directory.
    fn helm(&self) -> Command {
        let home = self.work.join("helm");
        let mut c = Command::new(self.tools.join("helm"));
        c.env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        c
    }

    /// `helm template` of the chart in `dir` as the server runs it, with `replicas` if set.
    fn template(&self, dir: &Path, replicas: Option<&str>) -> Command {
        let mut c = self.helm();
        c.args(["template", "web"])
            .arg(dir)
            .args(["--namespace", "bench"]);
        if let Some(n) = replicas {
            c.args(["--set", &format!("replicas={n}")]);
        }
        c
    }

    /// A Helm repository of a new package of the chart in directory `dir` of `files`; returns
    /// its URL.
    async fn publish(&self, files: &FileServer, dir: &str) -> anyhow::Result<String> {
        let served = self.work.join("served").join(dir);
        tokio::fs::create_dir_all(&served).await?;
        let package = self.package(dir).await?;
        tokio::fs::copy(&package, served.join(format!("{CHART}-{VERSION}.tgz"))).await?;
        let url = files.url(dir);
        run_ok(
            self.helm()
                .args(["repo", "index"])
                .arg(&served)
                .args(["--url", &url]),
        )
        .await?;
        Ok(url)
    }

    /// Pushes a new package of the chart to repository `path` of `registry`; returns
    /// `host:port/path`.
    async fn push(&self, registry: &Registry, path: &str) -> anyhow::Result<String> {
        let name = format!("{}/{path}", registry.addr);
        let package = self.package(path).await?;
        run_ok(
            self.helm()
                .arg("push")
                .arg(&package)
                .arg(format!("oci://{name}"))
                .arg("--plain-http"),
        )
        .await?;
        Ok(name)
    }

    /// Milliseconds of one GenerateManifest call, and the manifests it returned (at least one).
    async fn render(&mut self, request: &[u8]) -> anyhow::Result<(f64, Vec<String>)> {
        let start = Instant::now();
        let response = self.conn.unary(GENERATE_MANIFEST, request).await?;
        let ms = ms_since(start);
        let manifests = ManifestResponse::decode(response)?.manifests;
        anyhow::ensure!(!manifests.is_empty(), "no manifests");
        Ok((ms, manifests))
    }
}

/// A Helm repository (`index.yaml`) at `url`.
fn index(url: &str) -> Repository {
    Repository {
        repo: Some(url.into()),
        r#type: Some("helm".into()),
        ..Default::default()
    }
}

/// GenerateManifest of the chart from `repo` at `url`, with `replicas` as a Helm parameter if set.
fn request(repo: Repository, url: &str, replicas: Option<&str>) -> Vec<u8> {
    let helm = replicas.map(|n| ApplicationSourceHelm {
        parameters: vec![HelmParameter {
            name: Some("replicas".into()),
            value: Some(n.into()),
            force_string: None,
        }],
        ..Default::default()
    });
    ManifestRequest {
        repo: Some(repo),
        revision: VERSION.into(),
        app_name: "web".into(),
        namespace: "bench".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            chart: Some(CHART.into()),
            target_revision: Some(VERSION.into()),
            helm,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Medians of both, and how far ours is over the floor.
fn against_floor(ctx: &mut Ctx, benchmark: &str, ours: &[f64], floor: &[f64]) {
    let (ours, floor) = (quantile(ours, 0.5), quantile(floor, 0.5));
    let r = &mut ctx.results;
    r.add(benchmark, OURS, "wall_ms", ours, "ms");
    r.add(benchmark, FLOOR, "wall_ms", floor, "ms");
    r.add(
        benchmark,
        OURS,
        "over_floor_pct",
        (ours - floor) / floor * 100.0,
        "%",
    );
}
