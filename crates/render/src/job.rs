//! Per-request scratch state for tool-based renders: the private mirror of the snapshot, a
//! tool home, and the scrubbing of private paths from what users see.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::env::BuildEnv;
use crate::exec::{home, Run, Scrub};
use crate::manifest::{object, Object};
use crate::mirror::mirror;
use crate::sandbox::{unguessable, Reach};
use crate::scan::check;
use crate::{yaml, Error, Input};

/// What the tools of a render see of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// A private mirror they may write into (`kustomize edit`, `helm dependency build`).
    Private,
    /// The shared snapshot itself, for tools that only read.
    Shared,
}

/// Scratch state of one Helm or Kustomize render; removed when dropped.
pub(crate) struct Job<'a> {
    pub input: &'a Input<'a>,
    pub env: BuildEnv,
    /// Canonical snapshot root.
    pub root: PathBuf,
    /// App directory relative to the root.
    pub app: PathBuf,
    /// Root of what the tools see: the private mirror, or the snapshot for a shared view.
    pub work: PathBuf,
    pub home: PathBuf,
    pub scrub: Scrub,
    /// Owns the request directory.
    dir: TempDir,
}

impl<'a> Job<'a> {
    /// Creates the request directory under the scratch area and, for a private view, mirrors
    /// the snapshot into it. Either way the repository has passed the symlink scan.
    pub(crate) async fn new(
        input: &'a Input<'a>,
        env: BuildEnv,
        root: PathBuf,
        app: PathBuf,
        view: View,
    ) -> Result<Self, Error> {
        let scratch = &input.tools.scratch;
        std::fs::create_dir_all(scratch)
            .map_err(|e| Error::io("creating the scratch directory", e))?;
        // The name is unguessable: on a kernel without Landlock, nothing else keeps another
        // render's tools from naming this request's files.
        let dir = tempfile::Builder::new()
            .prefix(&format!("req-{}-", unguessable()))
            .tempdir_in(scratch)
            .map_err(|e| Error::io("creating a request directory", e))?;
        let work = match view {
            View::Private => {
                let work = dir.path().join("repo");
                std::fs::create_dir(&work)
                    .map_err(|e| Error::io("creating the private copy", e))?;
                let (r, a, w) = (root.clone(), app.clone(), work.clone());
                crate::usage::blocking(move || mirror(&r, &a, &w))
                    .await
                    .map_err(|e| Error::io("copying the repository", std::io::Error::other(e)))??;
                work
            }
            View::Shared => {
                if !input.scans.is_some_and(|s| s.known(&root)) {
                    let (r, scans) = (root.clone(), input.scans.cloned());
                    crate::usage::blocking(move || check(&r, scans.as_ref()))
                        .await
                        .map_err(|e| {
                            Error::io("scanning the repository", std::io::Error::other(e))
                        })??;
                }
                root.clone()
            }
        };
        let home = home(dir.path())?;
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).map_err(|e| Error::io("creating a tool TMPDIR", e))?;
        let mut scrub = Scrub::default();
        scrub.add(&work, ".");
        scrub.add(&root, ".");
        scrub.add(dir.path(), "<scratch>");
        Ok(Self {
            input,
            env,
            root,
            app,
            work,
            home,
            scrub,
            dir,
        })
    }

    /// The app directory inside the private mirror.
    pub(crate) fn app_dir(&self) -> PathBuf {
        self.work.join(&self.app)
    }

    /// The request directory, for tool state and temporary files outside the mirror.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A tool invocation with the build environment plus `env`. `TMPDIR` points into the
    /// request directory so whatever a killed tool leaves behind goes with it. The tool may
    /// read the snapshot and the other sources' snapshots of this request, and write only in
    /// the request directory.
    pub(crate) fn run<'r>(
        &'r self,
        tool: &'static str,
        program: &'r Path,
        args: Vec<String>,
        cwd: &'r Path,
        env: Vec<(String, String)>,
    ) -> Run<'r> {
        let mut all: Vec<(String, String)> = self
            .env
            .vars()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let tmp = self.dir.path().join("tmp");
        all.push(("TMPDIR".into(), tmp.to_string_lossy().into_owned()));
        all.extend(env);
        let refs = self.input.values.refs.iter().map(|(_, root)| root.clone());
        Run {
            tool,
            program,
            args,
            cwd,
            env: all,
            home: &self.home,
            reach: Some(Reach {
                read: std::iter::once(self.root.clone()).chain(refs).collect(),
                write: vec![self.dir.path().to_path_buf()],
            }),
        }
    }
}

/// Objects from a tool's YAML stream; every document must be a Kubernetes object.
pub(crate) fn objects(tool: &str, out: &str) -> Result<Vec<Object>, Error> {
    yaml::documents(out)
        .into_iter()
        .map(|doc| {
            doc.and_then(|v| object(v).map_err(str::to_string))
                .map_err(|m| Error::parse(format!("{tool} output"), m))
        })
        .collect()
}
