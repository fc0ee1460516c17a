//! The deployment artefacts, checked the way a cluster would see them: every kustomization
//! under deploy/ and every combination an operator can compose is built with kustomize (or
//! `kubectl kustomize`), every object is read into Kubernetes' API types, and the mTLS wiring
//! is asserted object by object. Without kustomize and kubectl these tests print why they are
//! skipped, except under CI=true, where they fail.

mod argocd;
mod base;
mod cert_manager;
mod combinations;
mod dockerfile;
mod ha;
mod layouts;
mod plugins;
mod support;
