//! The pod's proxy settings, shared by everything that reaches a server: git, Helm
//! repositories, OCI registries and the tools.

use std::fmt;

/// The pod's proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` or their lowercase
/// forms), read by the server at startup, never by the engines; for repositories without a
/// `proxy` of their own. Empty means unset. `Debug` hides a proxy URL's userinfo.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub https: String,
    pub http: String,
    pub no: String,
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxies")
            .field("https", &crate::display(&self.https))
            .field("http", &crate::display(&self.http))
            .field("no", &self.no)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_proxy_passwords() {
        let p = Proxies {
            https: "http://u:s3cret@proxy:3128".into(),
            ..Proxies::default()
        };
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("proxy:3128"),
            "{shown}"
        );
    }
}
