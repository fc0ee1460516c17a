//! A minimal Git LFS server for [`Http::with_lfs`](super::Http::with_lfs): the batch API
//! (download) under `<repo>/info/lfs/objects/batch` and object downloads under
//! `/lfs/objects/<oid>`, both behind Basic auth with its own expected credentials. Every
//! request's path is logged, and apart those that carried the credentials.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

pub(crate) struct Lfs {
    /// `Basic …` header value every request must carry.
    accept: String,
    objects: Mutex<HashMap<String, Vec<u8>>>,
    log: Mutex<Vec<String>>,
    credentialed: Mutex<Vec<String>>,
    /// `host:port` the batch API sends downloads to, without credentials, when set.
    elsewhere: Mutex<Option<String>>,
}

impl Lfs {
    pub(crate) fn new(user: &str, password: &str) -> Self {
        Self {
            accept: format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
            objects: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            credentialed: Mutex::new(Vec::new()),
            elsewhere: Mutex::new(None),
        }
    }

    /// Stores `content`; returns its pointer file.
    pub(crate) fn put(&self, content: &[u8]) -> String {
        self.lying(content, content)
    }

    /// Serves `served` for the pointer of `claimed`, as a corrupted store would.
    pub(crate) fn lying(&self, claimed: &[u8], served: &[u8]) -> String {
        let oid = hex::encode(Sha256::digest(claimed));
        self.objects.lock().insert(oid.clone(), served.to_vec());
        pointer(&oid, claimed.len())
    }

    /// Paths requested so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().clone()
    }

    /// Paths requested with the accepted credentials.
    pub(crate) fn credentialed(&self) -> Vec<String> {
        self.credentialed.lock().clone()
    }

    /// Sends downloads to `authority` (another name of this server), leaving the client to
    /// find credentials for it.
    pub(crate) fn send_downloads_to(&self, authority: &str) {
        *self.elsewhere.lock() = Some(authority.to_string());
    }

    pub(crate) fn handles(path: &str) -> bool {
        path.contains("/info/lfs/") || path.starts_with("/lfs/")
    }

    pub(crate) fn handle(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<Full<Bytes>> {
        self.log.lock().push(path.to_string());
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(self.accept.as_str()) {
            let mut refused = json(StatusCode::UNAUTHORIZED, r#"{"message":"refused"}"#.into());
            let challenge = hyper::header::HeaderValue::from_static("Basic realm=\"lfs\"");
            refused.headers_mut().insert("www-authenticate", challenge);
            return refused;
        }
        self.credentialed.lock().push(path.to_string());
        if let Some(oid) = path.strip_prefix("/lfs/objects/") {
            return match self.objects.lock().get(oid) {
                Some(content) => Response::new(Full::new(Bytes::from(content.clone()))),
                None => json(
                    StatusCode::NOT_FOUND,
                    r#"{"message":"no such object"}"#.into(),
                ),
            };
        }
        if !path.ends_with("/info/lfs/objects/batch") {
            return json(StatusCode::NOT_FOUND, r#"{"message":"not found"}"#.into());
        }
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let elsewhere = self.elsewhere.lock().clone();
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let objects = self.objects.lock();
        let answers: Vec<serde_json::Value> = request["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let (oid, size) = (o["oid"].as_str().unwrap_or(""), &o["size"]);
                match objects.contains_key(oid) {
                    true if elsewhere.is_some() => {
                        let authority = elsewhere.as_deref().unwrap_or_default();
                        serde_json::json!({
                            "oid": oid, "size": size,
                            "actions": {"download": {
                                "href": format!("http://{authority}/lfs/objects/{oid}"),
                            }},
                        })
                    }
                    true => serde_json::json!({
                        "oid": oid, "size": size, "authenticated": true,
                        "actions": {"download": {
                            "href": format!("http://{host}/lfs/objects/{oid}"),
                            "header": {"Authorization": self.accept},
                        }},
                    }),
                    false => serde_json::json!({
                        "oid": oid, "size": size,
                        "error": {"code": 404, "message": "Object does not exist"},
                    }),
                }
            })
            .collect();
        let answer = serde_json::json!({"transfer": "basic", "objects": answers});
        json(StatusCode::OK, answer.to_string())
    }
}

/// A pointer file (spec v1).
pub(crate) fn pointer(oid: &str, size: usize) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/vnd.git-lfs+json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
