//! Upstream's manifest cache value: `CachedManifestResponse` as JSON (compression is the
//! transport's), with its `cacheEntryHash` (FNV-64a over the JSON with an empty hash, base64
//! URL encoding), plus two fields of ours that upstream ignores: `check`, the hex digest of
//! everything else that keys the entry here, and `code`, a failure's gRPC status code.
//!
//! Entries that hold a source-integrity verdict upstream (`sealed`) get a hash upstream does
//! not accept, so an upstream repo-server sharing the store renders (and checks) rather than
//! serve one of ours as verified: this server checks every request anew and caches no verdict.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use prost::Message;
use repo_cache::{Entry, Failure, Failures};
use repo_proto::repository::ManifestResponse;
use repo_proto::v1alpha1::{SourceIntegrityCheckResult, SourceIntegrityCheckResultItem};
use serde::Deserialize;

use super::json::Object;

/// Prefixed to the hash of a sealed entry.
const SEALED: &str = "sealed:";

/// Why a stored value cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("not a cached manifest response")]
    Parse,
    #[error("its cacheEntryHash does not match its content")]
    Hash,
    #[error("the cached manifests are not a ManifestResponse")]
    Manifests,
}

/// `entry` as upstream's value, marked with `check`; `sealed` keeps upstream from using it.
pub(crate) fn encode(entry: &Entry, check: &[u8; 32], sealed: bool) -> Result<Vec<u8>, Unusable> {
    let (cached, code) = match entry {
        Entry::Manifests(bytes) => {
            let response =
                ManifestResponse::decode(bytes.as_slice()).map_err(|_| Unusable::Manifests)?;
            let cached = Cached {
                manifest_response: Some(Response::from(response)),
                ..Cached::default()
            };
            (cached, None)
        }
        Entry::Failed(f) => {
            let since = f.since.duration_since(UNIX_EPOCH).unwrap_or_default();
            let cached = Cached {
                most_recent_error: f.last.message.clone(),
                // Zero means no failure to upstream.
                first_failure_timestamp: i64::try_from(since.as_secs()).unwrap_or(i64::MAX).max(1),
                number_of_consecutive_failures: i64::from(f.count),
                number_of_cached_responses_returned: i64::from(f.served),
                ..Cached::default()
            };
            (cached, Some(f.last.code))
        }
    };
    // Written once: upstream's hash is over these bytes with the hash empty, so the hash is
    // put in afterwards, and our fields added after upstream's.
    let mut out = Vec::with_capacity(512);
    let mut o = Object::open(&mut out);
    cached.fields(&mut o, "");
    o.close();
    let hash = digest(&out);
    let mut o = Object::reopen(&mut out);
    o.str("check", &hex::encode(check));
    if let Some(code) = code {
        o.int("code", i64::from(code));
    }
    o.close();
    // Upstream stores what a json.Encoder writes: the JSON and a newline.
    out.push(b'\n');
    let seal = if sealed { SEALED } else { "" };
    out.splice(HASH_AT..HASH_AT, seal.bytes().chain(hash.bytes()));
    Ok(out)
}

/// Where the value of `cacheEntryHash`, the first field, starts.
const HASH_AT: usize = r#"{"cacheEntryHash":""#.len();

/// `generateCacheEntryHash` of upstream's fields as JSON: FNV-64a, base64 URL encoding.
fn digest(json: &[u8]) -> String {
    let sum = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    base64::engine::general_purpose::URL_SAFE.encode(sum.to_be_bytes())
}

/// The entry in `bytes`: `Ok(None)` when it is not one this server may use (written with
/// another `check`, or by upstream, or empty); an error when it is damaged.
pub(crate) fn decode(bytes: &[u8], check: &[u8; 32]) -> Result<Option<Entry>, Unusable> {
    let cached: Cached = serde_json::from_slice(bytes).map_err(|_| Unusable::Parse)?;
    let hash = cached.hash();
    let stored = &cached.cache_entry_hash;
    if *stored != hash && stored.strip_prefix(SEALED) != Some(hash.as_str()) {
        return Err(Unusable::Hash);
    }
    if cached.check != hex::encode(check) {
        return Ok(None);
    }
    if cached.first_failure_timestamp > 0 {
        let count = |n: i64| u32::try_from(n).map_err(|_| Unusable::Parse);
        let code = cached.code.unwrap_or(2);
        if !(1..=16).contains(&code) {
            return Err(Unusable::Parse);
        }
        let secs = u64::try_from(cached.first_failure_timestamp).unwrap_or_default();
        return Ok(Some(Entry::Failed(Failures {
            last: Failure {
                code,
                message: cached.most_recent_error,
            },
            count: count(cached.number_of_consecutive_failures)?,
            since: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            served: count(cached.number_of_cached_responses_returned)?,
        })));
    }
    Ok(cached
        .manifest_response
        .map(|r| Entry::Manifests(Arc::new(ManifestResponse::from(r).encode_to_vec()))))
}

/// `CachedManifestResponse` with our fields, as Go decodes it (absent fields are zero).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Cached {
    cache_entry_hash: String,
    manifest_response: Option<Response>,
    most_recent_error: String,
    first_failure_timestamp: i64,
    number_of_consecutive_failures: i64,
    number_of_cached_responses_returned: i64,
    check: String,
    code: Option<i32>,
}

impl Cached {
    /// Upstream's fields in Go's order, with `hash` as `cacheEntryHash`.
    fn fields(&self, o: &mut Object<'_>, hash: &str) {
        o.str("cacheEntryHash", hash);
        match &self.manifest_response {
            None => o.field("manifestResponse").extend_from_slice(b"null"),
            Some(r) => r.write(o.field("manifestResponse")),
        }
        o.str("mostRecentError", &self.most_recent_error);
        o.int("firstFailureTimestamp", self.first_failure_timestamp);
        o.int(
            "numberOfConsecutiveFailures",
            self.number_of_consecutive_failures,
        );
        o.int(
            "numberOfCachedResponsesReturned",
            self.number_of_cached_responses_returned,
        );
    }

    /// `generateCacheEntryHash`: over upstream's fields only, the hash itself empty.
    fn hash(&self) -> String {
        let mut out = Vec::with_capacity(512);
        let mut o = Object::open(&mut out);
        self.fields(&mut o, "");
        o.close();
        digest(&out)
    }
}

/// `apiclient.ManifestResponse` by its JSON tags (all `omitempty`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Response {
    manifests: Vec<String>,
    namespace: String,
    server: String,
    revision: String,
    source_type: String,
    verify_result: String,
    commands: Vec<String>,
    source_integrity_result: Option<CheckResult>,
}

/// `SourceIntegrityCheckResult`: no JSON tags, so Go's field names, and nil lists are `null`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckResult {
    #[serde(rename = "Checks")]
    checks: Option<Vec<CheckItem>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckItem {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Problems")]
    problems: Option<Vec<String>>,
}

impl Response {
    fn write(&self, out: &mut Vec<u8>) {
        let mut o = Object::open(out);
        o.strings_omitempty("manifests", &self.manifests);
        o.str_omitempty("namespace", &self.namespace);
        o.str_omitempty("server", &self.server);
        o.str_omitempty("revision", &self.revision);
        o.str_omitempty("sourceType", &self.source_type);
        o.str_omitempty("verifyResult", &self.verify_result);
        o.strings_omitempty("commands", &self.commands);
        if let Some(result) = &self.source_integrity_result {
            let mut r = Object::open(o.field("sourceIntegrityResult"));
            let out = r.field("Checks");
            match &result.checks {
                None => out.extend_from_slice(b"null"),
                Some(checks) => {
                    out.push(b'[');
                    for (i, check) in checks.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        let mut c = Object::open(out);
                        c.str("Name", &check.name);
                        match &check.problems {
                            None => c.field("Problems").extend_from_slice(b"null"),
                            Some(p) if p.is_empty() => c.field("Problems").extend_from_slice(b"[]"),
                            Some(p) => c.strings("Problems", p),
                        }
                        c.close();
                    }
                    out.push(b']');
                }
            }
            r.close();
        }
        o.close();
    }
}

impl From<ManifestResponse> for Response {
    fn from(r: ManifestResponse) -> Self {
        // Protobuf decoding gives Go nil for empty lists.
        let nil = |v: Vec<String>| (!v.is_empty()).then_some(v);
        Self {
            manifests: r.manifests,
            namespace: r.namespace,
            server: r.server,
            revision: r.revision,
            source_type: r.source_type,
            verify_result: r.verify_result,
            commands: r.commands,
            source_integrity_result: r.source_integrity_result.map(|s| CheckResult {
                checks: (!s.checks.is_empty()).then(|| {
                    s.checks
                        .into_iter()
                        .map(|c| CheckItem {
                            name: c.name.unwrap_or_default(),
                            problems: nil(c.problems),
                        })
                        .collect()
                }),
            }),
        }
    }
}

impl From<Response> for ManifestResponse {
    fn from(r: Response) -> Self {
        Self {
            manifests: r.manifests,
            namespace: r.namespace,
            server: r.server,
            revision: r.revision,
            source_type: r.source_type,
            verify_result: r.verify_result,
            commands: r.commands,
            source_integrity_result: r.source_integrity_result.map(|s| {
                SourceIntegrityCheckResult {
                    checks: s
                        .checks
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| SourceIntegrityCheckResultItem {
                            name: Some(c.name),
                            problems: c.problems.unwrap_or_default(),
                        })
                        .collect(),
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: [u8; 32] = [7; 32];

    fn check_field() -> String {
        format!(r#","check":"{}""#, hex::encode(CHECK))
    }

    /// `go` (upstream's own JSON) with our fields appended, as a json.Encoder ends it.
    fn ours(go: &str, extra: &str) -> String {
        format!("{}{}{extra}}}\n", &go[..go.len() - 1], check_field())
    }

    fn manifests() -> Entry {
        let response = ManifestResponse {
            manifests: vec![
                r#"{"kind":"ConfigMap","data":{"a":"<&>"}}"#.into(),
                "b".into(),
            ],
            namespace: "default".into(),
            revision: "revision".into(),
            source_type: "Kustomize".into(),
            commands: vec!["kustomize build .".into()],
            ..Default::default()
        };
        Entry::Manifests(Arc::new(response.encode_to_vec()))
    }

    fn failed() -> Entry {
        Entry::Failed(Failures {
            last: Failure {
                code: 3,
                message: r#"rpc error: <boom> & "bang""#.into(),
            },
            count: 3,
            since: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            served: 2,
        })
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    // The `go` strings below come from Go's encoding/json on upstream's CachedManifestResponse
    // and ManifestResponse types, hashed as upstream's generateCacheEntryHash.
    const GO_MANIFESTS: &str = r#"{"cacheEntryHash":"6r4Giu0CGbA=","manifestResponse":{"manifests":["{\"kind\":\"ConfigMap\",\"data\":{\"a\":\"\u003c\u0026\u003e\"}}","b"],"namespace":"default","revision":"revision","sourceType":"Kustomize","commands":["kustomize build ."]},"mostRecentError":"","firstFailureTimestamp":0,"numberOfConsecutiveFailures":0,"numberOfCachedResponsesReturned":0}"#;
    const GO_FAILED: &str = r#"{"cacheEntryHash":"3uHWOB5ECLA=","manifestResponse":null,"mostRecentError":"rpc error: \u003cboom\u003e \u0026 \"bang\"","firstFailureTimestamp":1700000000,"numberOfConsecutiveFailures":3,"numberOfCachedResponsesReturned":2}"#;
    const GO_INTEGRITY: &str = r#"{"cacheEntryHash":"nnD8Wk22XqQ=","manifestResponse":{"manifests":["m"],"sourceIntegrityResult":{"Checks":[{"Name":"GIT/GPG","Problems":[]},{"Name":"x","Problems":null}]}},"mostRecentError":"","firstFailureTimestamp":0,"numberOfConsecutiveFailures":0,"numberOfCachedResponsesReturned":0}"#;

    #[test]
    fn values_are_upstreams_json_with_our_fields_after() {
        let encoded = text(encode(&manifests(), &CHECK, false).unwrap());
        assert_eq!(encoded, ours(GO_MANIFESTS, ""));
        let encoded = text(encode(&failed(), &CHECK, false).unwrap());
        assert_eq!(encoded, ours(GO_FAILED, r#","code":3"#));
    }

    #[test]
    fn values_round_trip() {
        for entry in [manifests(), failed()] {
            let bytes = encode(&entry, &CHECK, false).unwrap();
            assert_eq!(decode(&bytes, &CHECK), Ok(Some(entry.clone())));
            let sealed = encode(&entry, &CHECK, true).unwrap();
            assert_eq!(decode(&sealed, &CHECK), Ok(Some(entry)));
        }
    }

    #[test]
    fn upstreams_hash_covers_go_nil_and_empty_lists() {
        let bytes = ours(GO_INTEGRITY, "");
        let Ok(Some(Entry::Manifests(m))) = decode(bytes.as_bytes(), &CHECK) else {
            panic!("not a hit");
        };
        let response = ManifestResponse::decode(m.as_slice()).unwrap();
        let checks = response.source_integrity_result.unwrap().checks;
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].name(), "GIT/GPG");
    }

    #[test]
    fn a_sealed_value_fails_upstreams_hash_check() {
        let sealed = text(encode(&manifests(), &CHECK, true).unwrap());
        let parsed: Cached = serde_json::from_str(&sealed).unwrap();
        assert_ne!(parsed.cache_entry_hash, parsed.hash());
        assert_eq!(parsed.cache_entry_hash, format!("sealed:{}", parsed.hash()));
    }

    #[test]
    fn damaged_values_are_errors() {
        let good = text(encode(&manifests(), &CHECK, false).unwrap());
        let cases = [
            good.replace("kustomize build", "kustomize bui1d"),
            good.replace("6r4Giu0CGbA=", "6r4Giu0CGbB="),
            good.replace(
                r#""numberOfConsecutiveFailures":0"#,
                r#""numberOfConsecutiveFailures":1"#,
            ),
            // Upstream's TestCachedManifestResponse_HashBehavior.
            good.replace("6r4Giu0CGbA=", "!bad-hash!"),
        ];
        for bad in cases {
            assert_eq!(decode(bad.as_bytes(), &CHECK), Err(Unusable::Hash), "{bad}");
        }
        assert_eq!(decode(&good.as_bytes()[1..], &CHECK), Err(Unusable::Parse));
        let cut = &good.as_bytes()[..good.len() - 2];
        assert_eq!(decode(cut, &CHECK), Err(Unusable::Parse));
        assert_eq!(decode(b"", &CHECK), Err(Unusable::Parse));
        let failure = text(encode(&failed(), &CHECK, false).unwrap());
        let bad_code = failure.replace(r#""code":3"#, r#""code":99"#);
        assert_eq!(decode(bad_code.as_bytes(), &CHECK), Err(Unusable::Parse));
    }

    #[test]
    fn values_of_other_settings_or_of_upstream_are_misses() {
        let good = encode(&manifests(), &CHECK, false).unwrap();
        assert_eq!(decode(&good, &[8; 32]), Ok(None));
        // Written by upstream: no check of ours, so rendered under settings we cannot know.
        assert_eq!(decode(GO_MANIFESTS.as_bytes(), &CHECK), Ok(None));
        // Neither manifests nor an error: upstream's own miss.
        let empty = Cached {
            check: hex::encode(CHECK),
            ..Cached::default()
        };
        let mut out = Vec::new();
        let mut o = Object::open(&mut out);
        empty.fields(&mut o, &empty.hash());
        o.str("check", &empty.check);
        o.close();
        assert_eq!(decode(&out, &CHECK), Ok(None));
    }

    #[test]
    fn cached_manifests_must_be_a_manifest_response() {
        let junk = Entry::Manifests(Arc::new(vec![0xff; 4]));
        assert_eq!(encode(&junk, &CHECK, false), Err(Unusable::Manifests));
    }
}
