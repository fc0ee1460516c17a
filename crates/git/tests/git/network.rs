//! Private CAs, proxies and known hosts, against real servers: `git http-backend` behind a TLS
//! server with a private CA, a CONNECT proxy that counts its tunnels, and `sshd`. The CA and
//! known-hosts files are updated the way kubelet updates a mounted ConfigMap, while the cache
//! runs.

use std::sync::Arc;

use parking_lot::Mutex;
use repo_git::{Cache, Creds, Error, Proxies, Repo, Revision};
use repo_testkit::{served, Ca, Leaf, Pair, SecretVolume};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{self, http, Fixture, Http, Sshd};

/// TLS in front of a plain server on loopback.
struct Tls {
    port: u16,
    task: JoinHandle<()>,
}

impl Tls {
    async fn start(pair: &Pair, upstream: u16) -> Self {
        let acceptor = tokio_rustls::TlsAcceptor::from(served::tls(pair, None));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if let Ok(mut plain) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP CONNECT proxy that reaches every host on 127.0.0.1 and records the tunnels it
/// opened; it may require Basic credentials, or refuse every tunnel.
struct Connect {
    port: u16,
    tunnels: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
enum Mode {
    Open,
    Login(String),
    Refuse,
}

impl Connect {
    async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, mode.clone(), seen.clone()));
            }
        });
        Self {
            port,
            tunnels,
            task,
        }
    }

    fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().clone()
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(mut client: TcpStream, mode: Mode, tunnels: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let target = match head.split_whitespace().collect::<Vec<_>>()[..] {
        ["CONNECT", target, ..] => target.to_string(),
        _ => return,
    };
    let login = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    let refusal = match &mode {
        Mode::Refuse => Some("403 Forbidden"),
        Mode::Login(want) if login.as_deref() != Some(want.as_str()) => {
            Some("407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"")
        }
        _ => None,
    };
    if let Some(status) = refusal {
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = client.write_all(reply.as_bytes()).await;
        return;
    }
    let port = target
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", port.unwrap_or(443))).await else {
        return;
    };
    tunnels.lock().push(target);
    let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
    if client.write_all(ok).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// A git server over HTTPS with a certificate from a private CA, for `localhost` and
/// `git.test` (reached only through the proxy, which resolves every name to loopback).
struct Secure {
    fixture: Fixture,
    ca: Ca,
    _http: Http,
    tls: Tls,
}

impl Secure {
    async fn start() -> Option<Self> {
        let fixture = Fixture::new();
        let http = Http::start(&fixture.root).await?;
        let ca = Ca::new("private git CA");
        let leaf = Leaf {
            dns: vec!["localhost".into(), "git.test".into()],
            ..Leaf::server()
        };
        let tls = Tls::start(&ca.issue(&leaf), http.port).await;
        Some(Self {
            fixture,
            ca,
            _http: http,
            tls,
        })
    }

    fn repo(&self, host: &str, creds: Creds) -> Repo {
        let url = format!("https://{host}:{}/repo.git", self.tls.port);
        let creds = Creds {
            username: http::USER.into(),
            password: http::PASSWORD.into(),
            ..creds
        };
        Repo::new(&url, creds).unwrap()
    }
}

fn cache(dir: &std::path::Path, tls: &std::path::Path, proxies: Proxies) -> Cache {
    let mut settings = support::settings(dir);
    settings.tls_data_path = tls.to_path_buf();
    settings.proxies = proxies;
    Cache::new(settings).unwrap()
}

#[tokio::test]
async fn a_private_ca_from_the_configmap_is_trusted_once_mounted() {
    let Some(server) = Secure::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut volume = SecretVolume::new(&dir.path().join("tls"));
    let cache = cache(
        &dir.path().join("cache"),
        &dir.path().join("tls"),
        Proxies::default(),
    );
    let repo = server.repo("localhost", Creds::default());

    let err = cache.test(&repo).await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        shown.starts_with(repo.url()),
        "names the repository: {shown}"
    );
    assert!(
        shown.contains("add that CA to argocd-tls-certs-cm under the key localhost"),
        "names the fix: {shown}"
    );
    assert!(!shown.contains(http::PASSWORD), "{shown}");

    // Mounted while the server runs: used by the next command, no restart.
    volume.update(&[("localhost", &server.ca.cert)]);
    cache.test(&repo).await.unwrap();
    let head = cache
        .resolve(&repo, &Revision::new("main").unwrap(), "")
        .await
        .unwrap();
    assert_eq!(head.sha, server.fixture.commits[4]);
    let snapshot = cache.snapshot(&repo, &head.sha).await.unwrap();
    let text = std::fs::read_to_string(snapshot.path().join("a.txt")).unwrap();
    assert_eq!(text, "five\n");

    // Another CA in the ConfigMap: refused again, and the message says where it was read.
    let other = Ca::new("someone else's CA");
    volume.update(&[("localhost", &other.cert)]);
    let err = cache.test(&repo).await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("the CA there does not verify it"), "{shown}");
    assert!(shown.contains("argocd-tls-certs-cm"), "{shown}");

    // A file that holds no certificate is named as such.
    volume.update(&[("localhost", "not a certificate")]);
    let err = cache.test(&repo).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}

#[tokio::test]
async fn the_repository_proxy_tunnels_unless_the_host_is_in_no_proxy() {
    let Some(server) = Secure::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tls = served::trust(&server.ca, &dir.path().join("tls"), &["git.test"]);
    let cache = cache(&dir.path().join("cache"), &tls, Proxies::default());
    let proxy = Connect::start(Mode::Login(served::basic("proxy-user", "proxy-secret-42"))).await;
    let proxy_url = format!("http://proxy-user:proxy-secret-42@127.0.0.1:{}", proxy.port);
    let target = format!("git.test:{}", server.tls.port);
    let through = |no_proxy: &str| {
        server.repo(
            "git.test",
            Creds {
                proxy: proxy_url.clone(),
                no_proxy: no_proxy.into(),
                ..Creds::default()
            },
        )
    };

    // `git.test` resolves nowhere but at the proxy: success proves the tunnel.
    let repo = through("other.test, git.test:1");
    cache.test(&repo).await.unwrap();
    assert_eq!(proxy.tunnels(), [target]);
    let snapshot = cache
        .snapshot(&repo, &server.fixture.commits[1])
        .await
        .unwrap();
    assert!(snapshot.path().join("a.txt").exists());
    let tunnels = proxy.tunnels().len();
    assert!(tunnels >= 2, "the fetch went through the proxy too");

    // A wrong proxy password: refused by the proxy, and never shown.
    let wrong = server.repo(
        "git.test",
        Creds {
            proxy: format!("http://proxy-user:wrong-secret-77@127.0.0.1:{}", proxy.port),
            ..Creds::default()
        },
    );
    let err = cache.test(&wrong).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-secret-77"), "{shown}");

    let with_port = format!("GIT.TEST:{}", server.tls.port);
    for no_proxy in ["git.test", ".test", "*", &with_port] {
        let err = cache.test(&through(no_proxy)).await.unwrap_err();
        assert!(
            matches!(err, Error::Unavailable { .. }),
            "{no_proxy}: {err}"
        );
        assert_eq!(proxy.tunnels().len(), tunnels, "{no_proxy}: bypassed");
    }
}

#[tokio::test]
async fn the_pod_proxy_is_used_for_repositories_without_their_own() {
    let Some(server) = Secure::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tls = served::trust(&server.ca, &dir.path().join("tls"), &["git.test"]);
    let proxy = Connect::start(Mode::Open).await;
    let pod = |no: &str| Proxies {
        // Without a scheme, as Go reads it: http.
        https: format!("127.0.0.1:{}", proxy.port),
        http: String::new(),
        no: no.into(),
    };
    let proxied = cache(&dir.path().join("a"), &tls, pod("localhost,other.test"));
    proxied
        .test(&server.repo("git.test", Creds::default()))
        .await
        .unwrap();
    assert_eq!(proxy.tunnels().len(), 1);

    let direct = cache(&dir.path().join("b"), &tls, pod("svc.local,.test"));
    let err = direct
        .test(&server.repo("git.test", Creds::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(
        proxy.tunnels().len(),
        1,
        "NO_PROXY bypasses the pod's proxy"
    );
}

#[tokio::test]
async fn a_refusing_proxy_is_named_in_the_error() {
    let Some(server) = Secure::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tls = served::trust(&server.ca, &dir.path().join("tls"), &["git.test"]);
    let cache = cache(&dir.path().join("cache"), &tls, Proxies::default());
    let proxy = Connect::start(Mode::Refuse).await;
    let repo = server.repo(
        "git.test",
        Creds {
            proxy: format!("http://u:refused-secret-5@127.0.0.1:{}", proxy.port),
            ..Creds::default()
        },
    );
    let err = cache.test(&repo).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, Error::Unavailable { .. }), "{shown}");
    assert!(shown.starts_with(repo.url()), "{shown}");
    assert!(
        shown.contains(&format!(
            "through proxy http://127.0.0.1:{} (the repository's proxy)",
            proxy.port
        )),
        "{shown}"
    );
    assert!(!shown.contains("refused-secret-5"), "{shown}");
    assert!(proxy.tunnels().is_empty());
}

#[tokio::test]
async fn ssh_known_hosts_are_read_again_when_the_configmap_changes() {
    let fixture = Fixture::new();
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut volume = SecretVolume::new(&dir.path().join("ssh"));
    volume.update(&[("ssh_known_hosts", "")]);
    let mut settings = support::settings(&dir.path().join("cache"));
    settings.known_hosts = volume.path("ssh_known_hosts");
    let cache = Cache::new(settings).unwrap();
    let repo = Repo::new(
        &sshd.url(&fixture.bare()),
        Creds {
            ssh_private_key: sshd.client_key.clone(),
            ..Creds::default()
        },
    )
    .unwrap();

    let err = cache.test(&repo).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
    assert!(
        err.to_string().contains("Host key verification failed"),
        "{err}"
    );

    volume.update(&[("ssh_known_hosts", &sshd.known_hosts)]);
    cache.test(&repo).await.unwrap();
}
