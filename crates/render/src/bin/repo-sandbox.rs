//! The tool sandbox launcher on its own: what `argocd-repo-server` runs when given
//! `--internal-sandbox`, as a program the renderer's tests can find.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    repo_render::sandbox_main()
}
