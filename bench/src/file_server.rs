//! A static HTTP/1.1 file server on loopback, enough for a Helm repository: GET only, one
//! request per connection, files under one root directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Longest request head read; anything longer is answered 400.
const MAX_HEAD: u64 = 16 * 1024;

pub(crate) struct FileServer {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl FileServer {
    pub(crate) async fn start(root: &Path) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(root).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let root: Arc<Path> = root.into();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(respond(stream, root.clone()));
            }
        });
        Ok(Self { addr, accept })
    }

    /// The URL of the directory `dir` under the root.
    pub(crate) fn url(&self, dir: &str) -> String {
        format!("http://{}/{dir}", self.addr)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn respond(mut stream: TcpStream, root: Arc<Path>) {
    let (status, body) = match target(&mut stream).await {
        Some(Ok(path)) => match file(&root, &path) {
            Some(file) => match tokio::fs::read(file).await {
                Ok(body) => ("200 OK", body),
                Err(_) => ("404 Not Found", Vec::new()),
            },
            None => ("404 Not Found", Vec::new()),
        },
        Some(Err(status)) => (status, Vec::new()),
        None => return,
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// The path of a GET request, or the status that refuses it; `None` when the peer went away.
async fn target(stream: &mut TcpStream) -> Option<Result<String, &'static str>> {
    let mut reader = BufReader::new(stream).take(MAX_HEAD);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await.ok()?;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) => return Some(Err("400 Bad Request")),
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    let mut words = request_line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some(target)) => {
            let path = target.split(['?', '#']).next().unwrap_or_default();
            Some(Ok(path.to_string()))
        }
        (Some(_), Some(_)) => Some(Err("405 Method Not Allowed")),
        _ => Some(Err("400 Bad Request")),
    }
}

/// The file `path` names under `root`; none for a path that would leave it.
fn file(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." || part.contains('\\') {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv");
        assert_eq!(
            file(root, "/r1/index.yaml"),
            Some(PathBuf::from("/srv/r1/index.yaml"))
        );
        assert_eq!(file(root, "/r1/../../etc/passwd"), None);
        assert_eq!(file(root, "/./x"), None);
    }

    #[tokio::test]
    async fn serves_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("r")).unwrap();
        std::fs::write(root.join("r/index.yaml"), "entries: {}\n").unwrap();
        std::fs::write(dir.path().join("outside"), "secret").unwrap();
        let server = FileServer::start(&root).await.unwrap();
        let addr = server.addr;
        let get = |request: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(request.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("GET /r/index.yaml HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nentries: {}\n"), "{ok}");
        let missing = get("GET /r/nothing.tgz HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let escape = get("GET /r/../../outside HTTP/1.1\r\n\r\n").await;
        assert!(escape.starts_with("HTTP/1.1 404 "), "{escape}");
        let put = get("PUT /r/index.yaml HTTP/1.1\r\n\r\n").await;
        assert!(put.starts_with("HTTP/1.1 405 "), "{put}");
    }
}
