//! Jsonnet files of a directory app, each evaluated in a child process (`evaluator`) under the
//! tool runner's timeout, output cap and process-group kill, with its address space capped: a
//! runaway evaluation fails its render, never the server. TLAs and ext vars get `$VAR`
//! substitution and `libs` are confined to the repository here; the child confines imports.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use repo_proto::v1alpha1::ApplicationSourceJsonnet;
use rustix::process::Signal;
use serde_json::Value;

use crate::env::BuildEnv;
use crate::evaluator::EVALUATOR_ARG;
use crate::exec::{Finished, Run, Scrub};
use crate::root::confine;
use crate::wire::{Reply, Request, Var};
use crate::{yaml, Error, Tools};

/// The settings every Jsonnet file of one app is evaluated with.
pub(crate) struct Jsonnet {
    root: PathBuf,
    app: PathBuf,
    libs: Vec<PathBuf>,
    ext_vars: Vec<Var>,
    tlas: Vec<Var>,
}

impl Jsonnet {
    /// Substitutes the variables and confines `libs` (blocking: resolves paths).
    pub(crate) fn new(
        root: &Path,
        app: &Path,
        spec: &ApplicationSourceJsonnet,
        env: &BuildEnv,
    ) -> Result<Self, Error> {
        let vars = |vars: &[repo_proto::v1alpha1::JsonnetVar]| {
            vars.iter()
                .map(|v| Var {
                    name: v.name().to_string(),
                    value: env.subst(v.value()),
                    code: v.code(),
                })
                .collect()
        };
        Ok(Self {
            root: root.to_path_buf(),
            app: app.to_path_buf(),
            libs: libs(root, &spec.libs)?,
            ext_vars: vars(&spec.ext_vars),
            tlas: vars(&spec.tlas),
        })
    }

    /// Evaluates `file` (canonical, inside the root; `name` relative to it) and returns the
    /// values it produced: the items of an array, or the one object.
    pub(crate) async fn evaluate(
        &self,
        file: &Path,
        name: &str,
        tools: &Tools,
    ) -> Result<Vec<Value>, Error> {
        let Some(program) = &tools.jsonnet else {
            return Err(Error::Unsupported {
                what: format!("{name}: Jsonnet without its evaluator (argocd-repo-server)"),
            });
        };
        let request = Request {
            root: self.root.clone(),
            app: self.app.clone(),
            file: file.to_path_buf(),
            libs: self.libs.clone(),
            ext_vars: self.ext_vars.clone(),
            tlas: self.tlas.clone(),
            memory: tools.jsonnet_memory,
            // A backstop for when the server is gone; the timeout below normally stops it.
            cpu_seconds: tools.timeout.as_secs() + 1,
        };
        let request = serde_json::to_vec(&request)
            .map_err(|e| Error::InvalidArgument(format!("{name}: {e}")))?;
        let run = Run {
            tool: "jsonnet",
            program,
            args: vec![EVALUATOR_ARG.into()],
            // The evaluator reads only through its confined importer and writes nothing.
            cwd: &self.app,
            env: vec![],
            home: &self.app,
            // It confines itself to the repository before it parses anything.
            reach: None,
        };
        let done = run.finish(tools, &request).await?;
        let reply = match serde_json::from_slice::<Reply>(&done.stdout) {
            Ok(reply) if done.status.success() => reply,
            _ => return Err(self.stopped(name, &done, tools)),
        };
        let value = match reply {
            Reply::Value(value) => value,
            Reply::Failed(message) => return Err(failed(name, message)),
            Reply::Outside(path) => {
                return Err(Error::OutOfBounds {
                    path: format!("{name}: import {path}"),
                })
            }
        };
        match yaml::normalize(value) {
            Value::Array(items) => Ok(items),
            obj @ Value::Object(_) => Ok(vec![obj]),
            _ => Err(Error::parse(name, "must evaluate to an object or an array")),
        }
    }

    /// Why the evaluator ended without a reply.
    fn stopped(&self, name: &str, done: &Finished, tools: &Tools) -> Error {
        let stderr = String::from_utf8_lossy(&done.stderr);
        let signal = done.status.signal();
        if stderr.contains("memory allocation of") || signal == Some(Signal::KILL.as_raw()) {
            // Our own kills are timeouts and cancellations, reported before this; a SIGKILL
            // from elsewhere is the kernel's OOM killer.
            return failed(
                name,
                format!(
                    "out of memory: it needs more than the {} MiB an evaluation may use",
                    tools.jsonnet_memory >> 20
                ),
            );
        }
        if signal == Some(Signal::XCPU.as_raw()) {
            return Error::Timeout {
                tool: "jsonnet",
                after: tools.timeout,
            };
        }
        if stderr.contains("has overflowed its stack") {
            return failed(name, "stack overflow: recursion too deep".into());
        }
        let mut scrub = Scrub::default();
        scrub.add(&self.root, ".");
        failed(
            name,
            format!(
                "the evaluator stopped ({}): {}",
                done.status,
                scrub.apply(stderr.trim())
            ),
        )
    }
}

/// Upstream's shape: `Failed to evaluate jsonnet "main.jsonnet": ...`, with the file named
/// relative to the repository.
fn failed(name: &str, message: String) -> Error {
    Error::parse(name, format!("failed to evaluate jsonnet: {message}"))
}

/// Library directories, relative to the repository root (a leading `/` means the same);
/// missing ones are skipped as go-jsonnet would find nothing there.
fn libs(root: &Path, libs: &[String]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::with_capacity(libs.len());
    for lib in libs {
        match confine(root, lib.trim_start_matches('/')) {
            Ok(dir) => out.push(dir),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
