//! Responses printed as proto3 JSON (the same mapping grpcurl and grpc-gateway use), decoded
//! through the schema's descriptors so every RPC prints without hand-written converters.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(repo_proto::FILE_DESCRIPTOR_SET)
            .expect("embedded descriptors decode")
    })
}

/// `message` as JSON, `full_name` being its proto type (e.g. `repository.Refs`).
pub(super) fn render(message: &impl prost::Message, full_name: &str) -> String {
    render_any(&message.encode_to_vec(), full_name)
}

/// An encoded message as JSON.
pub(super) fn render_any(encoded: &[u8], full_name: &str) -> String {
    let descriptor = pool()
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is not in the embedded schema"));
    let dynamic = DynamicMessage::decode(descriptor, encoded)
        .expect("a message encoded by prost decodes with its own descriptor");
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut out);
    dynamic
        .serialize_with_options(
            &mut serializer,
            &SerializeOptions::new().skip_default_fields(true),
        )
        .expect("JSON serialization into memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_proto::repository::{ManifestResponse, Refs};

    #[test]
    fn uses_proto3_json_names() {
        let refs = Refs {
            branches: vec!["main".into()],
            tags: vec![],
        };
        let json: serde_json::Value =
            serde_json::from_str(&render(&refs, "repository.Refs")).unwrap();
        assert_eq!(json, serde_json::json!({"branches": ["main"]}));
        let resp = ManifestResponse {
            source_type: "Directory".into(),
            manifests: vec!["{}".into()],
            ..Default::default()
        };
        let json: serde_json::Value =
            serde_json::from_str(&render(&resp, "repository.ManifestResponse")).unwrap();
        assert_eq!(json["sourceType"], "Directory");
        assert_eq!(json["manifests"][0], "{}");
    }
}
