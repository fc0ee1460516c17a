//! OpenTelemetry tracing settings: upstream's `--otlp-*` flags and variables, parsed as
//! upstream parses them (`cmd/argocd-repo-server`, `util/env`, `util/trace`).

use repo_env::Env;

use super::{ConfigError, Secret, Setting};

const ENV_OTLP_ADDRESS: &str = "ARGOCD_REPO_SERVER_OTLP_ADDRESS";
const ENV_OTLP_INSECURE: &str = "ARGOCD_REPO_SERVER_OTLP_INSECURE";
const ENV_OTLP_HEADERS: &str = "ARGOCD_REPO_SERVER_OTLP_HEADERS";
const ENV_OTLP_ATTRS: &str = "ARGOCD_REPO_SERVER_OTLP_ATTRS";
const ENV_OTLP_SAMPLE_RATIO: &str = "ARGOCD_REPO_SERVER_OTLP_SAMPLE_RATIO";

const HEADERS: Setting = super::both("--otlp-headers", ENV_OTLP_HEADERS);
const SAMPLE_RATIO: Setting = super::both("--otlp-sample-ratio", ENV_OTLP_SAMPLE_RATIO);

/// The `--otlp-*` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OtlpFlags {
    /// OpenTelemetry collector address to send traces to (host:port, OTLP over gRPC); unset = no tracing [env: ARGOCD_REPO_SERVER_OTLP_ADDRESS]
    #[arg(long, value_name = "HOST:PORT", allow_hyphen_values = true)]
    pub otlp_address: Option<String>,
    /// OpenTelemetry collector insecure mode: plaintext gRPC; false = TLS verified with the system's CAs [env: ARGOCD_REPO_SERVER_OTLP_INSECURE] [default: true]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub otlp_insecure: Option<bool>,
    /// Extra headers sent with traces as gRPC metadata, comma-separated key=value pairs (e.g. key1=value1,key2=value2); repeatable; values are never logged [env: ARGOCD_REPO_SERVER_OTLP_HEADERS]
    #[arg(long, value_name = "KEY=VALUE,...", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub otlp_headers: Vec<String>,
    /// Extra resource attributes of the traces, comma-separated key:value pairs (e.g. env:prod); repeatable; a pair without exactly one colon is skipped with a warning [env: ARGOCD_REPO_SERVER_OTLP_ATTRS]
    #[arg(long, value_name = "KEY:VALUE,...", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub otlp_attrs: Vec<String>,
    /// Fraction of traces to sample, from 0.0 (none) to 1.0 (all); parent-based, so a caller's sampling decision wins [env: ARGOCD_REPO_SERVER_OTLP_SAMPLE_RATIO] [default: 1.0]
    #[arg(long, value_name = "RATIO", allow_hyphen_values = true)]
    pub otlp_sample_ratio: Option<f64>,
}

/// Where and how traces are exported; present only with an address.
#[derive(Debug, Clone, PartialEq)]
pub struct Otlp {
    /// host:port as given (a URL with a scheme is used as it is).
    pub address: String,
    pub insecure: bool,
    /// gRPC metadata of every export: often a collector's token.
    pub headers: Vec<(String, Secret)>,
    /// Resource attributes besides `service.name`.
    pub attrs: Vec<(String, String)>,
    pub sample_ratio: f64,
}

/// The ratio is checked to be within 0..=1, never NaN.
impl Eq for Otlp {}

impl Otlp {
    /// `None` without an address (no exporter at all). Upstream's quirks kept: a malformed
    /// variable falls back to its default with a warning, a malformed flag is an error.
    pub fn resolve(
        flags: OtlpFlags,
        env: &dyn Env,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let address = repo_env::string(flags.otlp_address, env, ENV_OTLP_ADDRESS, "");
        if address.is_empty() {
            return Ok(None);
        }
        let insecure = repo_env::boolean(flags.otlp_insecure, env, ENV_OTLP_INSECURE, true);
        let headers = if flags.otlp_headers.is_empty() {
            env_headers(env, warnings)
        } else {
            flag_headers(&flags.otlp_headers)?
        };
        let attrs = match flags.otlp_attrs.is_empty() {
            true => env.get(ENV_OTLP_ATTRS).map(|v| vec![v]).unwrap_or_default(),
            false => flags.otlp_attrs,
        };
        let sample_ratio = match flags.otlp_sample_ratio {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            Some(ratio) => {
                return Err(ConfigError::Choice(
                    SAMPLE_RATIO,
                    ratio.to_string(),
                    "a number from 0.0 to 1.0",
                ))
            }
            None => env_ratio(env, warnings),
        };
        Ok(Some(Self {
            address,
            insecure,
            headers,
            attrs: attributes(&attrs, warnings),
            sample_ratio,
        }))
    }
}

/// pflag's `StringToString`: comma-separated `key=value`, split at the first `=`.
fn flag_headers(values: &[String]) -> Result<Vec<(String, Secret)>, ConfigError> {
    let mut headers = Vec::new();
    for pair in values.iter().flat_map(|v| v.split(',')) {
        let Some((key, value)) = pair.split_once('=') else {
            // The text may be a token: it is not repeated.
            let shown = "a pair without =".to_string();
            return Err(ConfigError::Choice(
                HEADERS,
                shown,
                "comma-separated key=value pairs",
            ));
        };
        check_header(key, value)?;
        headers.retain(|(k, _): &(String, Secret)| k != key);
        headers.push((key.to_string(), Secret::new(value)));
    }
    Ok(headers)
}

/// A header the exporter can send: a valid gRPC metadata name and a printable value (named
/// by its key only).
fn check_header(key: &str, value: &str) -> Result<(), ConfigError> {
    let name = http::HeaderName::from_bytes(key.as_bytes()).is_ok() && !key.ends_with("-bin");
    match name && http::HeaderValue::from_str(value).is_ok() {
        true => Ok(()),
        false => Err(ConfigError::Header(HEADERS, key.to_string())),
    }
}

/// Upstream's `ParseStringToStringFromEnv`: every pair exactly one `=`, keys unique, else no
/// headers at all (with a warning that names no value).
fn env_headers(env: &dyn Env, warnings: &mut Vec<String>) -> Vec<(String, Secret)> {
    let Some(text) = env.get(ENV_OTLP_HEADERS) else {
        return Vec::new();
    };
    let mut headers: Vec<(String, Secret)> = Vec::new();
    for pair in text.trim().split(',') {
        let parts: Vec<&str> = pair.split('=').collect();
        let [key, value] = parts[..] else {
            warnings.push(format!(
                "{ENV_OTLP_HEADERS}: a pair is not key=value; no headers are sent"
            ));
            return Vec::new();
        };
        let key = key.trim();
        if check_header(key, value.trim()).is_err() {
            warnings.push(format!("{ENV_OTLP_HEADERS}: header {key:?} cannot be sent as gRPC metadata; no headers are sent"));
            return Vec::new();
        }
        if headers.iter().any(|(k, _)| k == key) {
            warnings.push(format!(
                "{ENV_OTLP_HEADERS}: header {key:?} is given twice; no headers are sent"
            ));
            return Vec::new();
        }
        headers.push((key.to_string(), Secret::new(value.trim())));
    }
    headers
}

/// Upstream's `ParseFloat64FromEnv(…, 1.0, 0.0, 1.0)`.
fn env_ratio(env: &dyn Env, warnings: &mut Vec<String>) -> f64 {
    let Some(text) = env.get(ENV_OTLP_SAMPLE_RATIO) else {
        return 1.0;
    };
    match text.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
        _ => {
            warnings.push(format!(
                "{ENV_OTLP_SAMPLE_RATIO}: {text:?} is not a number from 0.0 to 1.0; sampling every trace"
            ));
            1.0
        }
    }
}

/// Upstream's `InitTracer`: comma-separated `key:value`; a pair that does not split into
/// exactly two parts at `:` is skipped with a warning.
fn attributes(values: &[String], warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    for attr in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        match attr.split(':').collect::<Vec<_>>()[..] {
            [key, value] => attrs.push((key.to_string(), value.to_string())),
            _ => warnings.push(format!(
                "OTLP attr {attr:?} split with ':' length not 2; skipped"
            )),
        }
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn resolve(
        flags: OtlpFlags,
        env: &[(&str, &str)],
    ) -> (Result<Option<Otlp>, ConfigError>, Vec<String>) {
        let mut warnings = Vec::new();
        let otlp = Otlp::resolve(flags, &Map::new(env.iter().copied()), &mut warnings);
        (otlp, warnings)
    }

    #[test]
    fn off_without_an_address() {
        let flags = OtlpFlags {
            otlp_headers: vec!["a=b".into()],
            ..OtlpFlags::default()
        };
        assert_eq!(resolve(flags, &[]).0, Ok(None));
    }

    #[test]
    fn upstream_defaults_and_env() {
        let env = [
            (ENV_OTLP_ADDRESS, "collector:4317"),
            (
                ENV_OTLP_HEADERS,
                " authorization = Bearer s3cret ,x-team=a ",
            ),
            (ENV_OTLP_ATTRS, "env:prod, team:payments,url:https://x"),
        ];
        let (otlp, warnings) = resolve(OtlpFlags::default(), &env);
        let otlp = otlp.unwrap().unwrap();
        assert_eq!(otlp.address, "collector:4317");
        assert!(otlp.insecure, "upstream's default is insecure");
        assert_eq!(otlp.sample_ratio, 1.0);
        assert_eq!(
            otlp.headers,
            [
                ("authorization".into(), Secret::new("Bearer s3cret")),
                ("x-team".into(), Secret::new("a"))
            ]
        );
        assert_eq!(
            otlp.attrs,
            [
                ("env".into(), "prod".into()),
                ("team".into(), "payments".into())
            ]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(!format!("{otlp:?}").contains("s3cret"));
    }

    #[test]
    fn flags_win_and_values_may_hold_equals() {
        let flags = OtlpFlags {
            otlp_address: Some("c:4317".into()),
            otlp_insecure: Some(false),
            otlp_headers: vec!["k=a=b,j=c".into(), "k=d".into()],
            otlp_attrs: vec!["a:b".into(), "c:d".into()],
            otlp_sample_ratio: Some(0.25),
        };
        let env = [(ENV_OTLP_HEADERS, "x=y"), (ENV_OTLP_SAMPLE_RATIO, "0.5")];
        let otlp = resolve(flags, &env).0.unwrap().unwrap();
        assert!(!otlp.insecure);
        assert_eq!(
            otlp.headers,
            [
                ("j".into(), Secret::new("c")),
                ("k".into(), Secret::new("d"))
            ]
        );
        assert_eq!(otlp.attrs.len(), 2);
        assert_eq!(otlp.sample_ratio, 0.25);
    }

    #[test]
    fn bad_values_never_show_a_secret() {
        let flags = OtlpFlags {
            otlp_address: Some("c:4317".into()),
            otlp_headers: vec!["Bearer:s3cret".into()],
            ..OtlpFlags::default()
        };
        let err = resolve(flags, &[]).0.unwrap_err().to_string();
        assert!(err.starts_with("--otlp-headers"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let env = [
            (ENV_OTLP_ADDRESS, "c:4317"),
            (ENV_OTLP_HEADERS, "a=s3cret,a=s3cret"),
        ];
        let (otlp, warnings) = resolve(OtlpFlags::default(), &env);
        assert_eq!(otlp.unwrap().unwrap().headers, []);
        assert!(
            warnings.iter().all(|w| !w.contains("s3cret")),
            "{warnings:?}"
        );
        let flags = OtlpFlags {
            otlp_address: Some("c:4317".into()),
            otlp_sample_ratio: Some(1.5),
            ..OtlpFlags::default()
        };
        assert!(resolve(flags, &[]).0.is_err());
        let env = [(ENV_OTLP_ADDRESS, "c:4317"), (ENV_OTLP_SAMPLE_RATIO, "2")];
        let (otlp, warnings) = resolve(OtlpFlags::default(), &env);
        assert_eq!(otlp.unwrap().unwrap().sample_ratio, 1.0);
        assert_eq!(warnings.len(), 1);
    }
}
