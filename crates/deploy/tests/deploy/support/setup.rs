//! What an operator composes: an Argo CD install (here a fixture standing in for upstream's),
//! `deploy/argocd`, at most one identity layout and any of the optional components. Each
//! combination is written as a kustomization in a temporary directory and built.

use std::path::Path;

use super::kustomize::{deploy, relative, tool, Tool};
use super::objects::{parse, Rendered};

/// The stand-in for upstream's install (`deploy/testdata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Install {
    /// The default install: the application controller is a StatefulSet.
    Default,
    /// Upstream's variant with the application controller as a Deployment.
    ControllerDeployment,
}

impl Install {
    pub(crate) const ALL: [Install; 2] = [Install::Default, Install::ControllerDeployment];

    fn dir(self) -> &'static str {
        match self {
            Install::Default => "testdata/upstream",
            Install::ControllerDeployment => "testdata/upstream-controller-deployment",
        }
    }
}

/// Where the client identities come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// deploy/argocd alone.
    Argocd,
    Shared,
    PerComponentKeys,
    PerComponentSecrets,
    /// deploy/cert-manager plus its wiring component.
    CertManager,
}

impl Layout {
    pub(crate) const ALL: [Layout; 5] = [
        Layout::Argocd,
        Layout::Shared,
        Layout::PerComponentKeys,
        Layout::PerComponentSecrets,
        Layout::CertManager,
    ];

    fn component(self) -> Option<&'static str> {
        match self {
            Layout::Argocd => None,
            Layout::Shared => Some("components/shared"),
            Layout::PerComponentKeys => Some("components/per-component-keys"),
            Layout::PerComponentSecrets => Some("components/per-component-secrets"),
            Layout::CertManager => Some("cert-manager/wiring"),
        }
    }
}

/// Optional components, combinable with any layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extra {
    Ha,
    Authorization,
    Permissive,
}

impl Extra {
    pub(crate) const ALL: [Extra; 3] = [Extra::Ha, Extra::Authorization, Extra::Permissive];

    fn component(self) -> &'static str {
        match self {
            Extra::Ha => "components/ha",
            Extra::Authorization => "components/authorization",
            Extra::Permissive => "components/permissive",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Setup {
    pub install: Install,
    pub layout: Layout,
    pub extras: Vec<Extra>,
}

impl Setup {
    pub(crate) fn new(install: Install, layout: Layout, extras: &[Extra]) -> Self {
        Setup {
            install,
            layout,
            extras: extras.to_vec(),
        }
    }

    pub(crate) fn has(&self, extra: Extra) -> bool {
        self.extras.contains(&extra)
    }

    pub(crate) fn label(&self) -> String {
        format!("{:?} + {:?} + {:?}", self.install, self.layout, self.extras)
    }

    /// Every install × layout × subset of the extras.
    pub(crate) fn all() -> Vec<Setup> {
        let mut all = Vec::new();
        for install in Install::ALL {
            for layout in Layout::ALL {
                for mask in 0..(1 << Extra::ALL.len()) {
                    let extras: Vec<Extra> = Extra::ALL
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, e)| *e)
                        .collect();
                    all.push(Setup::new(install, layout, &extras));
                }
            }
        }
        all
    }

    /// The operator's kustomization, with paths relative to `dir`.
    fn kustomization(&self, dir: &Path) -> String {
        let path = |p: &str| relative(dir, &deploy().join(p)).display().to_string();
        let mut resources = vec![path(self.install.dir())];
        if self.layout == Layout::CertManager {
            resources.push(path("cert-manager"));
        }
        let mut components = vec![path("argocd")];
        components.extend(self.layout.component().map(path));
        components.extend(self.extras.iter().map(|e| path(e.component())));
        let list = |items: &[String]| {
            items
                .iter()
                .map(|i| format!("  - {i}\n"))
                .collect::<String>()
        };
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}components:\n{}",
            list(&resources),
            list(&components)
        )
    }

    pub(crate) fn build_with(&self, tool: &Tool) -> Result<String, String> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().canonicalize().expect("temporary directory");
        std::fs::write(root.join("kustomization.yaml"), self.kustomization(&root))
            .expect("write kustomization");
        tool.build(&root)
    }

    /// Builds and parses with the preferred tool; `None` when the test is skipped.
    pub(crate) fn render(&self) -> Option<Rendered> {
        let tool = tool()?;
        let yaml = self
            .build_with(&tool)
            .unwrap_or_else(|e| panic!("{}: {e}", self.label()));
        Some(parse(&yaml, &self.label()))
    }
}

/// Builds `deploy/<dir>` itself; `None` when the test is skipped.
pub(crate) fn render_dir(dir: &str) -> Option<Rendered> {
    let tool = tool()?;
    let yaml = tool
        .build(&deploy().join(dir))
        .unwrap_or_else(|e| panic!("deploy/{dir}: {e}"));
    Some(parse(&yaml, &format!("deploy/{dir}")))
}
