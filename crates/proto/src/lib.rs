//! Wire schema of the repo-server: `repository.RepoServerService`, the Argo CD `v1alpha1` types
//! it carries, `version.VersionService`, and `plugin.ConfigManagementPluginService` (the
//! config management plugin sidecar's). Generated at build time from `proto/`.
//!
//! Modules are nested to mirror the proto package paths, because prost refers to types in other
//! packages through relative `super::` paths.
#![forbid(unsafe_code)]
// Generated code is not held to the workspace's style lints.
#![allow(clippy::all, missing_docs, unused_qualifications, unreachable_pub)]

pub mod version {
    tonic::include_proto!("version");
}

pub mod repository {
    tonic::include_proto!("repository");
}

pub mod plugin {
    tonic::include_proto!("plugin");
}

pub mod github {
    pub mod com {
        pub mod argoproj {
            pub mod argo_cd {
                pub mod v3 {
                    pub mod pkg {
                        pub mod apis {
                            pub mod application {
                                pub mod v1alpha1 {
                                    tonic::include_proto!(
                                        "github.com.argoproj.argo_cd.v3.pkg.apis.application.v1alpha1"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub mod k8s {
    pub mod io {
        pub mod apimachinery {
            pub mod pkg {
                pub mod apis {
                    pub mod meta {
                        pub mod v1 {
                            tonic::include_proto!("k8s.io.apimachinery.pkg.apis.meta.v1");
                        }
                    }
                }
                pub mod runtime {
                    tonic::include_proto!("k8s.io.apimachinery.pkg.runtime");
                }
                pub mod util {
                    pub mod intstr {
                        tonic::include_proto!("k8s.io.apimachinery.pkg.util.intstr");
                    }
                }
            }
        }
    }
}

/// Short path to the Argo CD `v1alpha1` types.
pub use github::com::argoproj::argo_cd::v3::pkg::apis::application::v1alpha1;
/// Short path to the Kubernetes `meta/v1` types.
pub use k8s::io::apimachinery::pkg::apis::meta::v1 as metav1;
pub use k8s::io::apimachinery::pkg::util::intstr;

/// Encoded `FileDescriptorSet` of the repo-server's files (all above but `plugin`), served by
/// its gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// Encoded `FileDescriptorSet` of `plugin` and its imports, served by the plugin sidecar's
/// gRPC reflection.
pub const PLUGIN_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/plugin_descriptor.bin"));

#[cfg(test)]
mod tests {
    //! Checks the compiled schema against literal tables of the upstream wire facts.
    use super::FILE_DESCRIPTOR_SET;
    use prost::Message;
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};

    const V1: &str = "github.com.argoproj.argo_cd.v3.pkg.apis.application.v1alpha1";

    fn fds() -> FileDescriptorSet {
        FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
    }

    fn file<'a>(set: &'a FileDescriptorSet, package: &str) -> &'a FileDescriptorProto {
        let mut files = set.file.iter().filter(|f| f.package() == package);
        let f = files
            .next()
            .unwrap_or_else(|| panic!("no file for package {package}"));
        assert!(
            files.next().is_none(),
            "package {package} spread over several files"
        );
        f
    }

    fn message(set: &FileDescriptorSet, package: &str, name: &str) -> DescriptorProto {
        file(set, package)
            .message_type
            .iter()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("message {package}.{name} missing"))
            .clone()
    }

    /// Short readable form of a type name: drops the well-known package prefixes.
    fn short(type_name: &str) -> String {
        let t = type_name.trim_start_matches('.');
        for (prefix, alias) in [
            (V1, "v1alpha1"),
            ("k8s.io.apimachinery.pkg.apis.meta.v1", "metav1"),
            ("k8s.io.apimachinery.pkg.runtime", "runtime"),
            ("k8s.io.apimachinery.pkg.util.intstr", "intstr"),
            ("repository", ""),
        ] {
            if let Some(rest) = t.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
                return if alias.is_empty() {
                    rest.to_string()
                } else {
                    format!("{alias}.{rest}")
                };
            }
        }
        t.to_string()
    }

    fn scalar(t: Type) -> &'static str {
        match t {
            Type::String => "string",
            Type::Bool => "bool",
            Type::Bytes => "bytes",
            Type::Int64 => "int64",
            Type::Int32 => "int32",
            other => panic!("unexpected scalar type {other:?}"),
        }
    }

    /// `(number, name, type)` of every field in declaration order; type is e.g. `string`,
    /// `repeated v1alpha1.Repository`, `map<string,bool>`.
    fn fields(msg: &DescriptorProto) -> Vec<(i32, String, String)> {
        msg.field
            .iter()
            .map(|f| {
                let base = |t: Type, tn: &str| match t {
                    Type::Message | Type::Enum => short(tn),
                    s => scalar(s).to_string(),
                };
                let entry = msg.nested_type.iter().find(|n| {
                    n.options.as_ref().and_then(|o| o.map_entry) == Some(true)
                        && f.type_name().ends_with(&format!(".{}", n.name()))
                });
                let ty = if let Some(e) = entry {
                    let (k, v) = (&e.field[0], &e.field[1]);
                    format!(
                        "map<{},{}>",
                        base(k.r#type(), k.type_name()),
                        base(v.r#type(), v.type_name())
                    )
                } else if f.label() == Label::Repeated {
                    format!("repeated {}", base(f.r#type(), f.type_name()))
                } else {
                    base(f.r#type(), f.type_name())
                };
                (f.number(), f.name().to_string(), ty)
            })
            .collect()
    }

    fn expect(msg: &DescriptorProto, want: &[(i32, &str, &str)]) {
        let got = fields(msg);
        let want: Vec<(i32, String, String)> = want
            .iter()
            .map(|(n, name, t)| (*n, name.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, want, "fields of {}", msg.name());
    }

    /// Asserts that `want` is contained (same number, name and type) in the message.
    fn expect_subset(msg: &DescriptorProto, want: &[(i32, &str, &str)]) {
        let got = fields(msg);
        for (n, name, t) in want {
            assert!(
                got.iter()
                    .any(|(gn, gname, gt)| gn == n && gname == name && gt == t),
                "{}: field {n} {name} {t} not found in {got:?}",
                msg.name()
            );
        }
    }

    #[test]
    fn file_syntax_and_message_counts() {
        let set = fds();
        for (package, syntax, count) in [
            ("repository", "proto3", 33),
            (V1, "proto2", 75),
            ("k8s.io.apimachinery.pkg.apis.meta.v1", "proto2", 5),
            ("k8s.io.apimachinery.pkg.runtime", "proto2", 1),
            ("k8s.io.apimachinery.pkg.util.intstr", "proto2", 1),
            ("version", "proto3", 1),
        ] {
            let f = file(&set, package);
            // Descriptors leave `syntax` unset for proto2.
            let got = if f.syntax().is_empty() {
                "proto2"
            } else {
                f.syntax()
            };
            assert_eq!(got, syntax, "syntax of {package}");
            assert_eq!(f.message_type.len(), count, "message count of {package}");
        }
    }

    #[test]
    fn repo_server_service_methods() {
        let set = fds();
        let f = file(&set, "repository");
        assert_eq!(f.service.len(), 1);
        let svc = &f.service[0];
        assert_eq!(svc.name(), "RepoServerService");
        let got: Vec<(String, String, String, bool, bool)> = svc
            .method
            .iter()
            .map(|m| {
                (
                    m.name().to_string(),
                    short(m.input_type()),
                    short(m.output_type()),
                    m.client_streaming(),
                    m.server_streaming(),
                )
            })
            .collect();
        let want = [
            (
                "GenerateManifest",
                "ManifestRequest",
                "ManifestResponse",
                false,
            ),
            (
                "GenerateManifestWithFiles",
                "ManifestRequestWithFiles",
                "ManifestResponse",
                true,
            ),
            (
                "TestRepository",
                "TestRepositoryRequest",
                "TestRepositoryResponse",
                false,
            ),
            (
                "ResolveRevision",
                "ResolveRevisionRequest",
                "ResolveRevisionResponse",
                false,
            ),
            ("ListRefs", "ListRefsRequest", "Refs", false),
            ("ListOCITags", "ListRefsRequest", "Refs", false),
            ("ListApps", "ListAppsRequest", "AppList", false),
            ("ListPlugins", "google.protobuf.Empty", "PluginList", false),
            (
                "GetAppDetails",
                "RepoServerAppDetailsQuery",
                "RepoAppDetailsResponse",
                false,
            ),
            (
                "GetRevisionMetadata",
                "RepoServerRevisionMetadataRequest",
                "v1alpha1.RevisionMetadata",
                false,
            ),
            (
                "GetOCIMetadata",
                "RepoServerRevisionChartDetailsRequest",
                "v1alpha1.OCIMetadata",
                false,
            ),
            (
                "GetRevisionChartDetails",
                "RepoServerRevisionChartDetailsRequest",
                "v1alpha1.ChartDetails",
                false,
            ),
            (
                "GetHelmCharts",
                "HelmChartsRequest",
                "HelmChartsResponse",
                false,
            ),
            ("GetGitFiles", "GitFilesRequest", "GitFilesResponse", false),
            (
                "GetGitDirectories",
                "GitDirectoriesRequest",
                "GitDirectoriesResponse",
                false,
            ),
            (
                "UpdateRevisionForPaths",
                "UpdateRevisionForPathsRequest",
                "UpdateRevisionForPathsResponse",
                false,
            ),
        ];
        let want: Vec<(String, String, String, bool, bool)> = want
            .iter()
            .map(|(n, i, o, cs)| (n.to_string(), i.to_string(), o.to_string(), *cs, false))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn manifest_request_fields() {
        let m = message(&fds(), "repository", "ManifestRequest");
        expect(
            &m,
            &[
                (1, "repo", "v1alpha1.Repository"),
                (2, "revision", "string"),
                (3, "noCache", "bool"),
                (4, "appLabelKey", "string"),
                (5, "appName", "string"),
                (8, "namespace", "string"),
                (10, "applicationSource", "v1alpha1.ApplicationSource"),
                (11, "repos", "repeated v1alpha1.Repository"),
                (12, "plugins", "repeated v1alpha1.ConfigManagementPlugin"),
                (13, "kustomizeOptions", "v1alpha1.KustomizeOptions"),
                (14, "kubeVersion", "string"),
                (15, "apiVersions", "repeated string"),
                (16, "verifySignature", "bool"),
                (17, "helmRepoCreds", "repeated v1alpha1.RepoCreds"),
                (18, "noRevisionCache", "bool"),
                (19, "trackingMethod", "string"),
                (20, "enabledSourceTypes", "map<string,bool>"),
                (21, "helmOptions", "v1alpha1.HelmOptions"),
                (22, "hasMultipleSources", "bool"),
                (23, "refSources", "map<string,v1alpha1.RefTarget>"),
                (24, "projectSourceRepos", "repeated string"),
                (25, "projectName", "string"),
                (26, "annotationManifestGeneratePaths", "string"),
                (27, "installationID", "string"),
                (28, "sourceIntegrity", "v1alpha1.SourceIntegrity"),
            ],
        );
    }

    #[test]
    fn manifest_request_with_files_oneof() {
        let m = message(&fds(), "repository", "ManifestRequestWithFiles");
        assert_eq!(m.oneof_decl.len(), 1);
        assert_eq!(m.oneof_decl[0].name(), "part");
        assert!(
            m.field.iter().all(|f| f.oneof_index == Some(0)),
            "all fields belong to `part`"
        );
        expect(
            &m,
            &[
                (1, "request", "ManifestRequest"),
                (2, "metadata", "ManifestFileMetadata"),
                (3, "chunk", "ManifestFileChunk"),
            ],
        );
        let set = fds();
        expect(
            &message(&set, "repository", "ManifestFileMetadata"),
            &[(1, "checksum", "string"), (2, "size", "int64")],
        );
        expect(
            &message(&set, "repository", "ManifestFileChunk"),
            &[(1, "chunk", "bytes")],
        );
    }

    #[test]
    fn manifest_response_fields() {
        let m = message(&fds(), "repository", "ManifestResponse");
        expect(
            &m,
            &[
                (1, "manifests", "repeated string"),
                (2, "namespace", "string"),
                (3, "server", "string"),
                (4, "revision", "string"),
                (6, "sourceType", "string"),
                (7, "verifyResult", "string"),
                (8, "commands", "repeated string"),
                (
                    9,
                    "sourceIntegrityResult",
                    "v1alpha1.SourceIntegrityCheckResult",
                ),
            ],
        );
    }

    #[test]
    fn resolve_revision_fields() {
        let set = fds();
        expect(
            &message(&set, "repository", "ResolveRevisionRequest"),
            &[
                (1, "repo", "v1alpha1.Repository"),
                (2, "app", "v1alpha1.Application"),
                (3, "ambiguousRevision", "string"),
                (4, "sourceIndex", "int64"),
                (5, "noRevisionCache", "bool"),
            ],
        );
        expect(
            &message(&set, "repository", "ResolveRevisionResponse"),
            &[
                (1, "revision", "string"),
                (2, "ambiguousRevision", "string"),
            ],
        );
        expect(
            &message(&set, V1, "Application"),
            &[
                (1, "metadata", "metav1.ObjectMeta"),
                (2, "spec", "v1alpha1.ApplicationSpec"),
                (3, "status", "v1alpha1.ApplicationStatus"),
                (4, "operation", "v1alpha1.Operation"),
            ],
        );
    }

    #[test]
    fn app_details_query_and_response_fields() {
        let set = fds();
        expect(
            &message(&set, "repository", "RepoServerAppDetailsQuery"),
            &[
                (1, "repo", "v1alpha1.Repository"),
                (2, "source", "v1alpha1.ApplicationSource"),
                (3, "repos", "repeated v1alpha1.Repository"),
                (4, "kustomizeOptions", "v1alpha1.KustomizeOptions"),
                (5, "appName", "string"),
                (6, "noCache", "bool"),
                (7, "noRevisionCache", "bool"),
                (8, "trackingMethod", "string"),
                (9, "enabledSourceTypes", "map<string,bool>"),
                (10, "helmOptions", "v1alpha1.HelmOptions"),
                (11, "refSources", "map<string,v1alpha1.RefTarget>"),
            ],
        );
        expect(
            &message(&set, "repository", "RepoAppDetailsResponse"),
            &[
                (1, "type", "string"),
                (3, "helm", "HelmAppSpec"),
                (4, "kustomize", "KustomizeAppSpec"),
                (5, "directory", "DirectoryAppSpec"),
                (6, "plugin", "PluginAppSpec"),
            ],
        );
        expect(&message(&set, "repository", "DirectoryAppSpec"), &[]);
    }

    #[test]
    fn list_refs_fields() {
        let set = fds();
        expect(
            &message(&set, "repository", "ListRefsRequest"),
            &[(1, "repo", "v1alpha1.Repository")],
        );
        expect(
            &message(&set, "repository", "Refs"),
            &[
                (1, "branches", "repeated string"),
                (2, "tags", "repeated string"),
            ],
        );
    }

    #[test]
    fn repository_secret_fields() {
        let m = message(&fds(), V1, "Repository");
        assert_eq!(m.field.len(), 32);
        expect_subset(
            &m,
            &[
                (1, "repo", "string"),
                (3, "password", "string"),
                (4, "sshPrivateKey", "string"),
                (9, "tlsClientCertData", "string"),
                (10, "tlsClientCertKey", "string"),
                (15, "githubAppPrivateKey", "string"),
                (21, "gcpServiceAccountKey", "string"),
                (25, "bearerToken", "string"),
                (30, "azureServicePrincipalClientSecret", "string"),
            ],
        );
    }

    #[test]
    fn application_source_and_small_v1alpha1_fields() {
        let set = fds();
        expect(
            &message(&set, V1, "ApplicationSource"),
            &[
                (1, "repoURL", "string"),
                (2, "path", "string"),
                (4, "targetRevision", "string"),
                (7, "helm", "v1alpha1.ApplicationSourceHelm"),
                (8, "kustomize", "v1alpha1.ApplicationSourceKustomize"),
                (10, "directory", "v1alpha1.ApplicationSourceDirectory"),
                (11, "plugin", "v1alpha1.ApplicationSourcePlugin"),
                (12, "chart", "string"),
                (13, "ref", "string"),
                (14, "name", "string"),
                (15, "tagPrefix", "string"),
            ],
        );
        expect(
            &message(&set, V1, "RefTarget"),
            &[
                (1, "repo", "v1alpha1.Repository"),
                (2, "targetRevision", "string"),
                (3, "chart", "string"),
            ],
        );
        expect(
            &message(&set, V1, "HelmOptions"),
            &[(1, "valuesFileSchemes", "repeated string")],
        );
        expect(
            &message(&set, V1, "KustomizeOptions"),
            &[
                (1, "buildOptions", "string"),
                (2, "binaryPath", "string"),
                (3, "versions", "repeated v1alpha1.KustomizeVersion"),
            ],
        );
    }

    #[test]
    fn kubernetes_leaf_types() {
        let set = fds();
        expect(
            &message(&set, "k8s.io.apimachinery.pkg.apis.meta.v1", "Time"),
            &[(1, "seconds", "int64"), (2, "nanos", "int32")],
        );
        expect(
            &message(&set, "k8s.io.apimachinery.pkg.runtime", "RawExtension"),
            &[(1, "raw", "bytes")],
        );
        expect(
            &message(&set, "k8s.io.apimachinery.pkg.util.intstr", "IntOrString"),
            &[
                (1, "type", "int64"),
                (2, "intVal", "int32"),
                (3, "strVal", "string"),
            ],
        );
    }

    #[test]
    fn version_message_fields() {
        let set = fds();
        let f = file(&set, "version");
        assert_eq!(f.service.len(), 1);
        assert_eq!(f.service[0].name(), "VersionService");
        let m = &f.service[0].method;
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].name(), m[0].input_type(), m[0].output_type()),
            (
                "Version",
                ".google.protobuf.Empty",
                ".version.VersionMessage"
            )
        );
        expect(
            &message(&set, "version", "VersionMessage"),
            &[
                (1, "Version", "string"),
                (2, "BuildDate", "string"),
                (3, "GitCommit", "string"),
                (4, "GitTag", "string"),
                (5, "GitTreeState", "string"),
                (6, "GoVersion", "string"),
                (7, "Compiler", "string"),
                (8, "Platform", "string"),
                (10, "KustomizeVersion", "string"),
                (11, "HelmVersion", "string"),
                (12, "KubectlVersion", "string"),
                (13, "JsonnetVersion", "string"),
                (14, "ExtraBuildInfo", "string"),
            ],
        );
    }

    #[test]
    fn plugin_service_is_upstreams_and_apart() {
        assert!(
            !fds().file.iter().any(|f| f.package() == "plugin"),
            "the repo-server's reflection must not list the sidecar's service"
        );
        let set = FileDescriptorSet::decode(super::PLUGIN_FILE_DESCRIPTOR_SET).unwrap();
        let f = file(&set, "plugin");
        assert_eq!(f.name(), "cmpserver/plugin/plugin.proto");
        let svc = &f.service[0];
        assert_eq!(svc.name(), "ConfigManagementPluginService");
        let got: Vec<(&str, &str, &str, bool)> = svc
            .method
            .iter()
            .map(|m| {
                (
                    m.name(),
                    m.input_type(),
                    m.output_type(),
                    m.client_streaming(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "GenerateManifest",
                    ".plugin.AppStreamRequest",
                    ".plugin.ManifestResponse",
                    true
                ),
                (
                    "CheckPluginConfiguration",
                    ".google.protobuf.Empty",
                    ".plugin.CheckPluginConfigurationResponse",
                    false
                ),
                (
                    "MatchRepository",
                    ".plugin.AppStreamRequest",
                    ".plugin.RepositoryResponse",
                    true
                ),
                (
                    "GetParametersAnnouncement",
                    ".plugin.AppStreamRequest",
                    ".plugin.ParametersAnnouncementResponse",
                    true
                ),
            ]
        );
        let plugin = |name| message(&set, "plugin", name);
        let request = plugin("AppStreamRequest");
        assert_eq!(request.oneof_decl[0].name(), "request");
        for (name, want) in [
            (
                "AppStreamRequest",
                &[
                    (1, "metadata", "plugin.ManifestRequestMetadata"),
                    (2, "file", "plugin.File"),
                ][..],
            ),
            (
                "ManifestRequestMetadata",
                &[
                    (1, "appName", "string"),
                    (2, "appRelPath", "string"),
                    (3, "checksum", "string"),
                    (4, "size", "int64"),
                    (5, "env", "repeated plugin.EnvEntry"),
                ],
            ),
            ("EnvEntry", &[(1, "name", "string"), (2, "value", "string")]),
            (
                "ManifestResponse",
                &[
                    (1, "manifests", "repeated string"),
                    (2, "sourceType", "string"),
                ],
            ),
            (
                "RepositoryResponse",
                &[
                    (1, "isSupported", "bool"),
                    (2, "isDiscoveryEnabled", "bool"),
                ],
            ),
            (
                "ParametersAnnouncementResponse",
                &[(
                    1,
                    "parameterAnnouncements",
                    "repeated ParameterAnnouncement",
                )],
            ),
            ("File", &[(1, "chunk", "bytes")]),
            (
                "CheckPluginConfigurationResponse",
                &[
                    (1, "isDiscoveryConfigured", "bool"),
                    (2, "provideGitCreds", "bool"),
                ],
            ),
        ] {
            expect(&plugin(name), want);
        }
    }

    #[test]
    fn generated_types_encode_upstream_tags() {
        use crate::repository::{
            manifest_request_with_files::Part, ManifestRequest, ManifestRequestWithFiles,
        };
        use crate::v1alpha1::Repository;

        let repo = Repository {
            password: Some("p".into()),
            bearer_token: Some("t".into()),
            ..Default::default()
        };
        // field 3 (password), wire type 2 => 0x1a; field 25 (bearerToken) => varint 0xca 0x01.
        assert_eq!(
            repo.encode_to_vec(),
            vec![0x1a, 1, b'p', 0xca, 0x01, 1, b't']
        );

        let msg = ManifestRequestWithFiles {
            part: Some(Part::Request(ManifestRequest {
                namespace: "ns".into(),
                ..Default::default()
            })),
        };
        // request = field 1 (0x0a), containing namespace = field 8 (0x42).
        let bytes = msg.encode_to_vec();
        assert_eq!(bytes, vec![0x0a, 4, 0x42, 2, b'n', b's']);
        assert_eq!(
            ManifestRequestWithFiles::decode(bytes.as_slice()).unwrap(),
            msg
        );
    }
}
