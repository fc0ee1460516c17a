//! OpenTelemetry tracing against a real OTLP gRPC receiver started here (the collector's
//! TraceService from opentelemetry-proto): a GenerateManifest over mTLS arrives as a span tree
//! (the RPC with the caller's identity, git and render below it), with `--otlp-headers` as
//! gRPC metadata and `--otlp-attrs` on the resource; a collector that is down costs no call.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::ApplicationSource;
use repo_server::config::{Otlp, Secret};
use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use tokio::sync::mpsc;
use tonic::metadata::MetadataMap;
use tracing_subscriber::layer::SubscriberExt;

type Export = (MetadataMap, ExportTraceServiceRequest);

struct Receiver(mpsc::UnboundedSender<Export>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let (metadata, _, body) = request.into_parts();
        let _ = self.0.send((metadata, body));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A receiver on a loopback port, what it is sent, and its task (aborted: the collector is down).
async fn receiver() -> (
    String,
    mpsc::UnboundedReceiver<Export>,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (address, rx, task)
}

fn settings(address: String) -> Otlp {
    Otlp {
        address,
        insecure: true,
        headers: vec![("x-collector-token".into(), Secret::new("t0ken"))],
        attrs: vec![("deployment.environment".into(), "test".into())],
        sample_ratio: 1.0,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs.iter().find(|a| a.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Every span exported until one named `name` arrives, with the last export's metadata.
async fn until_span(
    rx: &mut mpsc::UnboundedReceiver<Export>,
    name: &str,
    spans: &mut Vec<(Vec<KeyValue>, Span)>,
) -> MetadataMap {
    loop {
        let (metadata, export) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the exporter sent nothing for a minute")
            .unwrap();
        for resource in export.resource_spans {
            let attrs = resource.resource.map(|r| r.attributes).unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (attrs.clone(), s)));
            }
        }
        if spans.iter().any(|(_, s)| s.name == name) {
            return metadata;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_manifest_is_a_span_tree_at_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let (address, mut exports, collector) = receiver().await;
    // Batches every 200 ms instead of 5 s (the SDK's standard variable; the only test here).
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "200");
    let tracing = repo_server::Tracing::start(&settings(address)).unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(tracing.layer()))
        .unwrap();
    repo_tls::install_provider();

    let (_, url) = repos::repository(
        dir.path(),
        "origin",
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )],
    );
    let ca = Ca::new("otlp-ca");
    support::mtls_files(dir.path(), &ca);
    let server = repo_server::start(support::config(Some(support::tls(dir.path()))))
        .await
        .unwrap();
    let id = ca
        .issue(&Leaf::client("argocd-application-controller"))
        .write(dir.path(), "client");
    let channel = repo_client::open(
        &server.grpc.to_string(),
        Some(support::connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .unwrap();
    let mut client = repo_client::RepoServerServiceClient::new(channel);
    let source = ApplicationSource {
        repo_url: Some(url.clone()),
        path: Some("app".into()),
        target_revision: Some("main".into()),
        ..Default::default()
    };
    let request = ManifestRequest {
        repo: repos::repo_message(&url),
        revision: "main".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        application_source: Some(source),
        ..Default::default()
    };
    client.generate_manifest(request.clone()).await.unwrap();

    let mut spans = Vec::new();
    let name = "repository.RepoServerService/GenerateManifest";
    let metadata = until_span(&mut exports, name, &mut spans).await;
    assert_eq!(
        metadata
            .get("x-collector-token")
            .and_then(|v| v.to_str().ok()),
        Some("t0ken"),
        "--otlp-headers did not arrive as gRPC metadata"
    );
    let (resource, rpc) = spans.iter().find(|(_, s)| s.name == name).unwrap();
    assert_eq!(
        text(resource, "service.name").as_deref(),
        Some("argocd-repo-server")
    );
    assert_eq!(
        text(resource, "deployment.environment").as_deref(),
        Some("test")
    );
    assert_eq!(
        text(&rpc.attributes, "peer.identity").as_deref(),
        Some("argocd-application-controller")
    );
    assert_eq!(
        text(&rpc.attributes, "rpc.method").as_deref(),
        Some("GenerateManifest")
    );
    assert!(
        rpc.parent_span_id.is_empty(),
        "the call had no caller's trace"
    );
    // Every other span of the call descends from the RPC span.
    let in_call: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.trace_id == rpc.trace_id && s.span_id != rpc.span_id)
        .collect();
    let descends = |span: &Span| {
        let mut parent = span.parent_span_id.clone();
        while let Some(up) = in_call.iter().find(|s| s.span_id == parent) {
            parent = up.parent_span_id.clone();
        }
        parent == rpc.span_id
    };
    let named = |name: &str| in_call.iter().find(|s| s.name == name).copied();
    let cache = named("manifest cache").expect("no cache span");
    assert_eq!(
        text(&cache.attributes, "cache.result").as_deref(),
        Some("miss")
    );
    let render = named("render").expect("no render span");
    assert_eq!(
        text(&render.attributes, "render.tool").as_deref(),
        Some("Directory")
    );
    let git = in_call
        .iter()
        .find(|s| s.name.starts_with("git "))
        .expect("no git span");
    assert_eq!(
        text(&git.attributes, "git.repo").as_deref(),
        Some(url.as_str())
    );
    for span in [cache, render, *git] {
        assert!(descends(span), "{} is not under the RPC span", span.name);
    }

    // The same request again: answered from the cache, and said so.
    client.generate_manifest(request.clone()).await.unwrap();
    let hit = loop {
        let seen = spans.len();
        until_span(&mut exports, "manifest cache", &mut spans).await;
        let mut lookups = spans[seen..].iter().map(|(_, s)| s);
        if let Some(hit) = lookups.rfind(|s| s.name == "manifest cache") {
            break hit.clone();
        }
    };
    assert_eq!(
        text(&hit.attributes, "cache.result").as_deref(),
        Some("hit")
    );

    // A call from a traced component continues its trace (W3C traceparent).
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut traced = tonic::Request::new(request.clone());
    let traceparent = format!("00-{trace}-{parent}-01").parse().unwrap();
    traced.metadata_mut().insert("traceparent", traceparent);
    client.generate_manifest(traced).await.unwrap();
    let continued = loop {
        let seen = spans.len();
        until_span(&mut exports, name, &mut spans).await;
        let mut rpcs = spans[seen..].iter().map(|(_, s)| s);
        if let Some(rpc) = rpcs.rfind(|s| s.name == name) {
            break rpc.clone();
        }
    };
    assert_eq!(hex(&continued.trace_id), trace);
    assert_eq!(hex(&continued.parent_span_id), parent);

    // The collector goes down: calls are still served, spans are dropped.
    collector.abort();
    let _ = collector.await;
    let fresh = ManifestRequest {
        no_cache: true,
        ..request
    };
    client.generate_manifest(fresh).await.unwrap();
    server.stop().await.unwrap();
    tokio::task::spawn_blocking(move || tracing.stop())
        .await
        .unwrap();
}
