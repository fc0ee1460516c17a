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
    /// Upstream's HA install: redis.server names haproxy, and the redis-ha objects.
    Ha,
}

impl Install {
    pub(crate) const ALL: [Install; 3] =
        [Install::Default, Install::ControllerDeployment, Install::Ha];

    pub(crate) fn dir(self) -> &'static str {
        match self {
            Install::Default => "testdata/upstream",
            Install::ControllerDeployment => "testdata/upstream-controller-deployment",
            Install::Ha => "testdata/upstream-ha",
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
    /// The repo-server on redis-ha's Sentinels; meant for the HA install.
    HaSentinel,
    /// The example autoscaler.
    Hpa,
}

impl Extra {
    /// Combined in every way on every install.
    pub(crate) const ALL: [Extra; 3] = [Extra::Ha, Extra::Authorization, Extra::Permissive];
    /// Combined with `Ha` on the HA install, where they belong.
    pub(crate) const SCALING: [Extra; 2] = [Extra::HaSentinel, Extra::Hpa];

    fn component(self) -> &'static str {
        match self {
            Extra::Ha => "components/ha",
            Extra::Authorization => "components/authorization",
            Extra::Permissive => "components/permissive",
            Extra::HaSentinel => "components/ha-sentinel",
            Extra::Hpa => "components/hpa",
        }
    }
}

/// Every subset of `extras`, in their order.
fn subsets(extras: &[Extra]) -> Vec<Vec<Extra>> {
    (0..1 << extras.len())
        .map(|mask| {
            extras
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, e)| *e)
                .collect()
        })
        .collect()
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

    /// Every layout on each install: with every subset of `Extra::ALL` on the default install
    /// and the controller's Deployment variant; on the HA install (whose difference is Redis)
    /// with `Ha` plus each subset of `Extra::SCALING`, and with everything.
    pub(crate) fn all() -> Vec<Setup> {
        let mut all = Vec::new();
        for install in [Install::Default, Install::ControllerDeployment] {
            for layout in Layout::ALL {
                for extras in subsets(&Extra::ALL) {
                    all.push(Setup::new(install, layout, &extras));
                }
            }
        }
        for layout in Layout::ALL {
            for scaling in subsets(&Extra::SCALING) {
                let extras = [&[Extra::Ha][..], &scaling].concat();
                all.push(Setup::new(Install::Ha, layout, &extras));
            }
            let everything = [&Extra::ALL[..], &Extra::SCALING].concat();
            all.push(Setup::new(Install::Ha, layout, &everything));
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

/// Builds a kustomization of `resources` and `components` (under deploy/) plus, when given,
/// an operator's own patch of the repo-server; `None` when the test is skipped.
pub(crate) fn render(
    resources: &[&str],
    components: &[&str],
    patch: Option<&str>,
) -> Option<Rendered> {
    let tool = tool()?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let list = |items: &[&str]| -> String {
        items
            .iter()
            .map(|i| format!("  - {}\n", relative(&root, &deploy().join(i)).display()))
            .collect()
    };
    let mut text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}components:\n{}",
        list(resources),
        list(components)
    );
    if let Some(patch) = patch {
        std::fs::write(root.join("patch.yaml"), patch).unwrap();
        text.push_str("patches:\n  - path: patch.yaml\n");
    }
    std::fs::write(root.join("kustomization.yaml"), text).unwrap();
    let label = format!("{resources:?} + {components:?}");
    let yaml = tool.build(&root).unwrap_or_else(|e| panic!("{label}: {e}"));
    Some(parse(&yaml, &label))
}
