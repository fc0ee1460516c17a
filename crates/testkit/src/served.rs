//! A static file server over HTTPS (or HTTP) on 127.0.0.1, as a Helm repository is served:
//! optional Basic/bearer auth, a log of every request, redirects. It runs on a thread and
//! runtime of its own, so it answers while a test blocks.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;

use crate::{Ca, Pair};

/// The `Authorization` value of Basic credentials.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A TLS server config presenting `pair`; with `clients`, it requires a client certificate
/// from that CA.
pub fn tls(pair: &Pair, clients: Option<&Ca>) -> Arc<ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(pair.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match clients {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.cert.as_bytes()).unwrap())
                .unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

/// Writes `ca` as the CA bundle of each of `hosts` into `dir`, as `argocd-tls-certs-cm` is
/// mounted at `ARGOCD_TLS_DATA_PATH`; returns `dir`.
pub fn trust(ca: &Ca, dir: &Path, hosts: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for host in hosts {
        std::fs::write(dir.join(host), &ca.cert).unwrap();
    }
    dir.to_path_buf()
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// Serves the files under a directory. With `accepted` authorizations, other requests get 401.
/// For a file `<name>.redirect` it redirects `<name>` to the URL that file holds.
pub struct Server {
    pub port: u16,
    /// Send bodies chunked, without a length.
    pub chunked: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Served {
    root: PathBuf,
    accepted: Vec<String>,
    hits: Arc<Mutex<Vec<Hit>>>,
    chunked: Arc<AtomicBool>,
}

impl Server {
    /// Serves `root` over TLS with `tls` (else plain HTTP) to requests whose `Authorization`
    /// is one of `accepted` (to all when it is empty).
    pub fn start(root: &Path, tls: Option<Arc<ServerConfig>>, accepted: &[String]) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let chunked = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Served {
            root: root.to_path_buf(),
            accepted: accepted.to_vec(),
            hits: hits.clone(),
            chunked: chunked.clone(),
        });
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept = async {
                    while let Ok((tcp, _)) = listener.accept().await {
                        let (served, acceptor) = (served.clone(), acceptor.clone());
                        tokio::spawn(async move {
                            let service = service_fn(move |req| handle(req, served.clone()));
                            let http = http1::Builder::new();
                            let _ = match acceptor {
                                Some(acceptor) => match acceptor.accept(tcp).await {
                                    Ok(tls) => {
                                        http.serve_connection(TokioIo::new(tls), service).await
                                    }
                                    Err(_) => return,
                                },
                                None => http.serve_connection(TokioIo::new(tcp), service).await,
                            };
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            port,
            chunked,
            hits,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The requests for `path` so far.
    pub fn hits(&self, path: &str) -> Vec<Hit> {
        let hits = self.hits.lock();
        hits.iter().filter(|h| h.path == path).cloned().collect()
    }

    /// Every request so far.
    pub fn all(&self) -> Vec<Hit> {
        self.hits.lock().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    served: Arc<Served>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = served.accepted.is_empty()
        || authorization
            .as_ref()
            .is_some_and(|a| served.accepted.contains(a));
    served.hits.lock().push(Hit {
        path: path.clone(),
        authorization,
    });
    let chunked = served.chunked.load(Ordering::SeqCst);
    let reply = |status: StatusCode, body: Vec<u8>| {
        let mut response = Response::builder().status(status);
        if chunked {
            response = response.header("transfer-encoding", "chunked");
        }
        Ok(response.body(Full::new(Bytes::from(body))).unwrap())
    };
    if !allowed {
        return reply(StatusCode::UNAUTHORIZED, Vec::new());
    }
    let name = path.trim_start_matches('/');
    if name.contains("..") {
        return reply(StatusCode::NOT_FOUND, Vec::new());
    }
    let redirect = served.root.join(format!("{name}.redirect"));
    if let Ok(target) = tokio::fs::read_to_string(redirect).await {
        return Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header("location", target.trim())
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    match tokio::fs::read(served.root.join(name)).await {
        Ok(body) => reply(StatusCode::OK, body),
        Err(_) => reply(StatusCode::NOT_FOUND, Vec::new()),
    }
}
