//! Kustomize apps: upstream's overrides applied to the private mirror (`kustomize edit ...`
//! in the app directory, patches appended to the kustomization), then `kustomize build` with
//! the instance's build options, by the binary the source's `kustomize.version` selects
//! ([`Kustomize`]).
//!
//! Without a standalone `kustomize`, `kubectl kustomize` builds apps that need no overrides,
//! build options or version.

mod options;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use parking_lot::Mutex;
use repo_proto::v1alpha1::{ApplicationSourceKustomize, KustomizePatch, KustomizeSelector};
use serde_json::{Map, Value};

use crate::env::BuildEnv;
use crate::exec::{arg, Run};
use crate::helm::kube_version;
use crate::job::{objects, Job};
use crate::manifest::Object;
use crate::root::confine;
use crate::{yaml, Error, Input};

pub use options::Kustomize;

const KUSTOMIZATIONS: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether a file name marks a Kustomize app.
pub(crate) fn is_kustomization(name: &str) -> bool {
    KUSTOMIZATIONS.contains(&name)
}

/// What a Kustomize render will run, decided before any work.
pub(crate) struct Plan {
    steps: Vec<Step>,
    tool: Tool,
    /// Checked build options.
    options: Vec<String>,
}

/// The binary that edits and builds.
enum Tool {
    /// A standalone kustomize, and how upstream's commands name it (`kustomize`, or the
    /// registered path as given).
    Kustomize { program: PathBuf, shown: String },
    /// `kubectl kustomize`: builds only.
    Kubectl(PathBuf),
}

impl Plan {
    /// The overrides, binary and build options for the app `rel` (relative to `root`), in
    /// upstream's order of failure: the binary, then (here) the options, then the edits.
    pub(crate) fn new(
        input: &Input<'_>,
        env: &BuildEnv,
        root: &Path,
        rel: &Path,
    ) -> Result<Self, Error> {
        let spec = input.source.kustomize.as_ref();
        let settings = input.kustomize;
        let tools = input.tools;
        let version = spec.map_or("", |s| s.version());
        let tool = match (settings.binary(version)?, &tools.kustomize, &tools.kubectl) {
            (Some(raw), _, _) => Tool::Kustomize {
                program: tools.program(raw, "kustomize").map_err(|why| {
                    Error::InvalidArgument(format!(
                        "kustomize binary {why}; register one the repo-server has installed"
                    ))
                })?,
                shown: raw.to_string(),
            },
            (None, Some(k), _) => Tool::Kustomize {
                program: k.clone(),
                shown: "kustomize".into(),
            },
            (None, None, Some(k)) => Tool::Kubectl(k.clone()),
            (None, None, None) => {
                return Err(Error::Unsupported {
                    what: "Kustomize without kustomize or kubectl installed".into(),
                })
            }
        };
        let options = settings.checked(tools)?.to_vec();
        if matches!(tool, Tool::Kubectl(_)) && !options.is_empty() {
            return Err(Error::Unsupported {
                what: "kustomize build options without a standalone kustomize binary (set KUSTOMIZE_BIN)"
                    .into(),
            });
        }
        let steps = match spec {
            Some(spec) => edits(env, root, rel, spec)?,
            None => vec![],
        };
        Ok(Self {
            steps,
            tool,
            options,
        })
    }

    /// Whether the tools write into the app: overrides do, and so does the Helm chart
    /// inflator, which pulls remote charts into the kustomization's chart home.
    pub(crate) fn writes(&self) -> bool {
        !self.steps.is_empty() || self.options.iter().any(|o| o.contains("--enable-helm"))
    }
}

/// Applies the plan's overrides and builds the app; returns its objects and the command lines
/// run, as upstream reports them.
pub(crate) async fn render(job: &Job<'_>, plan: Plan) -> Result<(Vec<Object>, Vec<String>), Error> {
    let input = job.input;
    let mut commands = Vec::new();
    if let Some(spec) = &input.source.kustomize {
        apply_overrides(job, spec, plan.steps, &plan.tool, &mut commands).await?;
    }
    // An app at the root is `.` in upstream's commands, not `./`.
    let app = if job.app.as_os_str().is_empty() {
        job.work.clone()
    } else {
        job.app_dir()
    };
    let app = app.to_string_lossy().into_owned();
    let (run, shown) = match &plan.tool {
        Tool::Kustomize { program, shown } => {
            let mut args = vec!["build".to_string(), app];
            args.extend(plan.options.iter().cloned());
            if !plan.options.is_empty()
                && input.kustomize.helm()
                && helm_versions(job, program).await
            {
                args.extend(helm_flags(input)?);
            }
            (
                job.run("kustomize", program, args, &job.work, vec![]),
                shown.as_str(),
            )
        }
        Tool::Kubectl(program) => {
            let args = vec!["kustomize".into(), app];
            (
                job.run("kubectl", program, args, &job.work, vec![]),
                "kubectl",
            )
        }
    };
    commands.push(line(job, &run, shown));
    let out = run.output(input.tools, &job.scrub).await?;
    Ok((objects(run.tool, &out)?, commands))
}

/// A command line as upstream's `commands` shows it: the binary as the request named it.
fn line(job: &Job<'_>, run: &Run<'_>, shown: &str) -> String {
    let line = run.display(&job.scrub);
    format!("{shown}{}", &line[run.tool.len()..])
}

/// `--helm-kube-version` and `--helm-api-versions` as upstream's `parseKustomizeBuildOptions`:
/// the source's own versions (Helm's, then Kustomize's) over the cluster's.
fn helm_flags(input: &Input<'_>) -> Result<Vec<String>, Error> {
    let source = input.source;
    let (helm, kustomize) = (source.helm.as_ref(), source.kustomize.as_ref());
    let kube = [
        helm.map_or("", |h| h.kube_version()),
        kustomize.map_or("", |k| k.kube_version()),
    ]
    .into_iter()
    .find(|v| !v.is_empty())
    .unwrap_or(input.kube_version);
    let apis = [
        helm.map(|h| &h.api_versions[..]),
        kustomize.map(|k| &k.api_versions[..]),
    ]
    .into_iter()
    .flatten()
    .find(|v| !v.is_empty())
    .unwrap_or(input.api_versions);
    let mut flags = Vec::new();
    if !kube.is_empty() {
        flags.extend(["--helm-kube-version".into(), kube_version(kube)?]);
    }
    for api in apis {
        flags.extend(["--helm-api-versions".into(), arg(api, "api version")?]);
    }
    Ok(flags)
}

/// Whether `program` takes the Helm version flags (kustomize 5.3.0 and later), asked once per
/// binary with `kustomize version`; a binary that does not say counts as the latest, as
/// upstream's `getSemverSafe`.
async fn helm_versions(job: &Job<'_>, program: &Path) -> bool {
    static KNOWN: OnceLock<Mutex<HashMap<PathBuf, bool>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(&takes) = known.lock().get(program) {
        return takes;
    }
    let run = job.run(
        "kustomize",
        program,
        vec!["version".into()],
        &job.work,
        vec![],
    );
    let takes = match run.output(job.input.tools, &job.scrub).await {
        Ok(out) => options::takes_helm_versions(&out),
        Err(_) => true,
    };
    known.lock().insert(program.to_path_buf(), takes);
    takes
}

/// Edits the private kustomization as upstream does, recording each step in `commands`.
async fn apply_overrides(
    job: &Job<'_>,
    spec: &ApplicationSourceKustomize,
    steps: Vec<Step>,
    tool: &Tool,
    commands: &mut Vec<String>,
) -> Result<(), Error> {
    let binary = match tool {
        Tool::Kustomize { program, shown } => Some((program, shown)),
        Tool::Kubectl(_) => None,
    };
    // `kubectl kustomize` cannot edit; fail before changing anything.
    if binary.is_none() && steps.iter().any(|s| matches!(s, Step::Edit(_))) {
        return Err(Error::Unsupported {
            what: "Kustomize overrides without a standalone kustomize binary (set KUSTOMIZE_BIN)"
                .into(),
        });
    }
    let app = job.app_dir();
    for step in steps {
        match (step, binary) {
            (Step::Patches, _) => {
                append_patches(job, &spec.patches)?;
                commands.push("# patches from the Application appended to the kustomization file (there is no `kustomize edit` for them)".into());
            }
            (Step::Edit(args), Some((program, shown))) => {
                let run = job.run("kustomize", program, args, &app, vec![]);
                commands.push(line(job, &run, shown));
                run.output(job.input.tools, &job.scrub).await?;
            }
            (Step::Edit(_), None) => unreachable!("checked above"),
        }
    }
    Ok(())
}

/// One override, in upstream's fixed order.
enum Step {
    /// `kustomize edit` with these arguments.
    Edit(Vec<String>),
    /// Append the Application's patches.
    Patches,
}

/// The `kustomize edit` argument lists, in upstream's order, with the patch step in place;
/// `app` is the app directory relative to the snapshot `root`.
fn edits(
    env: &BuildEnv,
    root: &Path,
    app: &Path,
    spec: &ApplicationSourceKustomize,
) -> Result<Vec<Step>, Error> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();
    if !spec.name_prefix().is_empty() {
        let mut args = words(&["edit", "set", "nameprefix", "--"]);
        args.push(spec.name_prefix().into());
        out.push(Step::Edit(args));
    }
    if !spec.name_suffix().is_empty() {
        let mut args = words(&["edit", "set", "namesuffix", "--"]);
        args.push(spec.name_suffix().into());
        out.push(Step::Edit(args));
    }
    if !spec.images.is_empty() {
        let mut args = words(&["edit", "set", "image"]);
        for image in &spec.images {
            args.push(arg(&env.subst(image), "kustomize image")?);
        }
        out.push(Step::Edit(args));
    }
    if !spec.replicas.is_empty() {
        let mut args = words(&["edit", "set", "replicas"]);
        for r in &spec.replicas {
            let count = r.count.as_ref().map_or(Ok(0), |c| match c.r#type() {
                1 => c.str_val().parse::<i64>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "kustomize replicas {:?}: count {:?} is not an integer",
                        r.name(),
                        c.str_val()
                    ))
                }),
                _ => Ok(i64::from(c.int_val())),
            })?;
            args.push(arg(
                &format!("{}={count}", r.name()),
                "kustomize replica name",
            )?);
        }
        out.push(Step::Edit(args));
    }
    if !spec.common_labels.is_empty() {
        let mut args = words(&["edit", "add", "label"]);
        for (on, flag) in [
            (spec.force_common_labels(), "--force"),
            (spec.label_without_selector(), "--without-selector"),
            (spec.label_include_templates(), "--include-templates"),
        ] {
            if on {
                args.push(flag.into());
            }
        }
        let labels = spec.common_labels.iter().map(|(k, v)| (k, env.subst(v)));
        args.extend(pairs(labels.collect(), "kustomize label")?);
        out.push(Step::Edit(args));
    }
    if !spec.common_annotations.is_empty() {
        let mut args = words(&["edit", "add", "annotation"]);
        if spec.force_common_annotations() {
            args.push("--force".into());
        }
        let subst = spec.common_annotations_envsubst();
        let annotations = spec
            .common_annotations
            .iter()
            .map(|(k, v)| (k, if subst { env.subst(v) } else { v.clone() }));
        args.extend(pairs(annotations.collect(), "kustomize annotation")?);
        out.push(Step::Edit(args));
    }
    if !spec.namespace().is_empty() {
        let mut args = words(&["edit", "set", "namespace", "--"]);
        args.push(spec.namespace().into());
        out.push(Step::Edit(args));
    }
    if !spec.patches.is_empty() {
        out.push(Step::Patches);
    }
    let components = components(root, app, spec)?;
    if !components.is_empty() {
        let mut args = words(&["edit", "add", "component"]);
        args.extend(components);
        out.push(Step::Edit(args));
    }
    Ok(out)
}

/// `key:value` arguments, sorted by key for a stable command line.
fn pairs(map: BTreeMap<&String, String>, what: &'static str) -> Result<Vec<String>, Error> {
    map.into_iter()
        .map(|(k, v)| arg(&format!("{k}:{v}"), what))
        .collect()
}

/// Requested components; with `ignoreMissingComponents`, only those present in the repository.
fn components(
    root: &Path,
    app: &Path,
    spec: &ApplicationSourceKustomize,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for c in &spec.components {
        let c = arg(c, "kustomize component")?;
        if spec.ignore_missing_components() {
            let at = app.join(&c);
            if confine(root, &at.to_string_lossy()).is_err() {
                continue;
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// Appends the Application's patches to the private kustomization. It is rewritten as JSON,
/// which is valid YAML, so no YAML emitter is needed.
fn append_patches(job: &Job<'_>, patches: &[KustomizePatch]) -> Result<(), Error> {
    let app = job.app_dir();
    let Some(name) = KUSTOMIZATIONS.iter().find(|n| app.join(n).is_file()) else {
        return Err(Error::NotFound {
            path: job
                .app
                .join("kustomization.yaml")
                .to_string_lossy()
                .into_owned(),
        });
    };
    let file = app.join(name);
    let shown = job.app.join(name).to_string_lossy().into_owned();
    let text =
        std::fs::read_to_string(&file).map_err(|e| Error::io(format!("reading {shown}"), e))?;
    let mut doc = match yaml::parse(&text).map_err(|m| Error::parse(&shown, m))? {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        _ => return Err(Error::parse(&shown, "a kustomization must be a mapping")),
    };
    let list = doc.entry("patches").or_insert_with(|| Value::Array(vec![]));
    let Value::Array(list) = list else {
        return Err(Error::parse(&shown, "`patches` must be a list"));
    };
    list.extend(patches.iter().map(patch));
    std::fs::write(&file, Value::Object(doc).to_string())
        .map_err(|e| Error::io(format!("writing {shown}"), e))
}

/// A patch in the kustomization's shape (upstream's JSON tags, empty fields left out).
fn patch(p: &KustomizePatch) -> Value {
    let mut m = Map::new();
    put(&mut m, "path", p.path());
    put(&mut m, "patch", p.patch());
    if let Some(t) = &p.target {
        m.insert("target".into(), Value::Object(selector(t)));
    }
    if !p.options.is_empty() {
        let options = p.options.iter().map(|(k, v)| (k.clone(), Value::Bool(*v)));
        m.insert("options".into(), Value::Object(options.collect()));
    }
    Value::Object(m)
}

fn selector(t: &KustomizeSelector) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(id) = &t.res_id {
        if let Some(gvk) = &id.gvk {
            put(&mut m, "group", gvk.group());
            put(&mut m, "version", gvk.version());
            put(&mut m, "kind", gvk.kind());
        }
        put(&mut m, "name", id.name());
        put(&mut m, "namespace", id.namespace());
    }
    put(&mut m, "annotationSelector", t.annotation_selector());
    put(&mut m, "labelSelector", t.label_selector());
    m
}

fn put(m: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        m.insert(key.into(), value.into());
    }
}
