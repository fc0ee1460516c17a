//! The Jsonnet evaluator child process. `argocd-repo-server` runs itself with
//! [`EVALUATOR_ARG`] (and `repo-jsonnet` is the same program on its own, for tests): it reads
//! one [`Request`] on stdin, caps its own address space and CPU time before it parses any
//! Jsonnet, confines itself with Landlock to reading the repository (where the kernel has it),
//! evaluates as upstream's `makeJsonnetVM` + `EvaluateFile` do (TLAs, ext vars, `libs`,
//! imports confined to the repository), and writes one [`Reply`] on stdout. A runaway
//! evaluation ends this process, never the server.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::ExitCode;

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{apply_tla, IStr, SourcePath, State};
use jrsonnet_ir::SourceFile;
use rustix::process::{setrlimit, Resource, Rlimit};

use crate::imports::Imports;
use crate::launcher::{restrict, Grant};
use crate::wire::{Reply, Request};

/// The argument that turns `argocd-repo-server` into the evaluator.
pub const EVALUATOR_ARG: &str = "--internal-jsonnet-evaluator";

/// Runs the evaluator: a request on stdin, a reply on stdout. Fails (exit 2, a message on
/// stderr) only when the request cannot be read or the reply not written.
pub fn evaluator_main() -> ExitCode {
    let mut input = Vec::new();
    let request = std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_slice::<Request>(&input).map_err(|e| e.to_string()));
    let request = match request {
        Ok(request) => request,
        Err(e) => return fail(&format!("reading the request: {e}")),
    };
    if let Err(e) = limit(&request) {
        return fail(&format!("setting resource limits: {e}"));
    }
    // Nothing but the repository is read from here on; stdout and stderr are open already.
    if let Err(e) = restrict(&[(Grant::Read, request.root.clone())]) {
        return fail(&format!("confining the evaluator: {e}"));
    }
    let mut out = std::io::stdout().lock();
    let written = match evaluate(&request) {
        // The manifest is JSON already: wrap it rather than parse and print it again.
        Ok(json) => write!(out, "{{\"value\":{json}}}"),
        Err(reply) => serde_json::to_writer(&mut out, &reply).map_err(std::io::Error::from),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing the reply: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("jsonnet evaluator: {message}");
    ExitCode::from(2)
}

/// Caps this process before any Jsonnet is parsed. Allocation beyond `memory` fails, which
/// aborts the process with "memory allocation of N bytes failed"; no core file is written; and
/// under memory pressure the kernel's OOM killer picks this process before the server.
fn limit(request: &Request) -> std::io::Result<()> {
    let cap = |n: u64| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    if request.memory > 0 {
        setrlimit(Resource::As, cap(request.memory))?;
    }
    setrlimit(Resource::Core, cap(0))?;
    // SIGXCPU at the soft limit, SIGKILL a second later.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(request.cpu_seconds),
            maximum: Some(request.cpu_seconds + 1),
        },
    )?;
    // Best effort: a kernel without /proc or a sandbox refusing it leaves the default.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    Ok(())
}

/// The manifested JSON of the file, or why there is none.
fn evaluate(request: &Request) -> Result<String, Reply> {
    let root = &request.root;
    let scrub = |e: jrsonnet_evaluator::Error| -> Reply {
        if let ErrorKind::ImportNotSupported(_, path) = e.error() {
            return Reply::Outside(path.to_string());
        }
        let prefix = format!("{}/", root.display());
        Reply::Failed(e.to_string().replace(&prefix, "").trim_end().to_string())
    };

    let context = jrsonnet_stdlib::ContextInitializer::new(PathResolver::Relative(root.clone()));
    for var in &request.ext_vars {
        if var.code {
            context
                .add_ext_code(&var.name, var.value.clone())
                .map_err(scrub)?;
        } else {
            context.add_ext_str(var.name.as_str().into(), var.value.as_str().into());
        }
    }
    // `apply_tla` wants this map; an interned `IStr` hashes by identity, which never changes.
    #[allow(clippy::mutable_key_type)]
    let tlas: HashMap<IStr, TlaArg> = request
        .tlas
        .iter()
        .map(|t| {
            let arg = if t.code {
                TlaArg::InlineCode(t.value.clone())
            } else {
                TlaArg::String(t.value.as_str().into())
            };
            (t.name.as_str().into(), arg)
        })
        .collect();

    let mut builder = State::builder();
    builder
        .import_resolver(Imports::new(
            root.clone(),
            request.app.clone(),
            request.libs.clone(),
        ))
        .context_initializer(context);
    let state = builder.build();
    let _entered = state.enter();
    state
        .import_resolved(SourcePath::new(SourceFile::new(request.file.clone())))
        .and_then(|v| apply_tla(&tlas, v))
        .and_then(|v| v.manifest(JsonFormat::minify()))
        .map_err(scrub)
}
