//! The Jsonnet evaluator on its own: what `argocd-repo-server` runs when given
//! `--internal-jsonnet-evaluator`, as a program the renderer's tests can find.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    repo_render::evaluator_main()
}
