//! Which layer of a manifest is the content, with upstream's rules (util/oci/client.go): at most
//! ten layers; in a Helm chart (by config media type, or when a chart is asked for) only the
//! chart layer counts, elsewhere only tar layers, so provenance or attestation layers are
//! skipped; every counted layer must be allowed, and exactly one must be counted.

use oci_client::manifest::{OciDescriptor, OciImageManifest};

use super::Layers;
use crate::Error;

/// Helm's chart layer.
pub(super) const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const MAX_LAYERS: usize = 10;

pub(super) fn content<'m>(
    manifest: &'m OciImageManifest,
    layers: Layers,
    allowed: &[String],
    what: &str,
) -> Result<&'m OciDescriptor, Error> {
    if manifest.layers.len() > MAX_LAYERS {
        return Err(Error::Invalid(format!(
            "{what}: expected no more than {MAX_LAYERS} layers, got {}",
            manifest.layers.len()
        )));
    }
    let chart = layers == Layers::Chart || manifest.config.media_type == HELM_CONFIG;
    let mut found = Vec::new();
    for layer in &manifest.layers {
        let media_type = layer.media_type.as_str();
        let counted = if chart {
            media_type == HELM_CHART
        } else {
            ["tar+gzip", "tar.gzip", "tar"]
                .iter()
                .any(|suffix| media_type.ends_with(suffix))
        };
        if !counted {
            continue;
        }
        // A chart asked for as a chart is Helm's business, not --oci-layer-media-types'.
        if layers == Layers::Artifact && !allowed.iter().any(|a| a == media_type) {
            return Err(Error::Invalid(format!(
                "{what}: layer media type {media_type} is not in the allowed list \
                 (--oci-layer-media-types)"
            )));
        }
        found.push(layer);
    }
    match found[..] {
        [layer] => Ok(layer),
        _ => Err(Error::Invalid(format!(
            "{what}: expected a single {} layer, got {}",
            if chart { "Helm chart" } else { "content" },
            found.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(config: &str, layers: &[&str]) -> OciImageManifest {
        let descriptor = |media_type: &str| OciDescriptor {
            media_type: media_type.to_string(),
            ..OciDescriptor::default()
        };
        OciImageManifest {
            config: descriptor(config),
            layers: layers.iter().map(|m| descriptor(m)).collect(),
            ..OciImageManifest::default()
        }
    }

    const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

    #[test]
    fn rules() {
        let allowed = vec![TGZ.to_string(), HELM_CHART.to_string()];
        let pick =
            |m: &OciImageManifest, l| content(m, l, &allowed, "r").map(|d| d.media_type.clone());

        let chart = manifest(HELM_CONFIG, &[HELM_CHART, PROV]);
        assert_eq!(pick(&chart, Layers::Chart).unwrap(), HELM_CHART);
        assert_eq!(pick(&chart, Layers::Artifact).unwrap(), HELM_CHART);

        let artifact = manifest("application/vnd.oci.empty.v1+json", &[TGZ, "text/plain"]);
        assert_eq!(pick(&artifact, Layers::Artifact).unwrap(), TGZ);
        assert!(pick(&artifact, Layers::Chart).is_err(), "no chart layer");

        let two = manifest("x", &[TGZ, TGZ]);
        assert!(pick(&two, Layers::Artifact)
            .unwrap_err()
            .to_string()
            .contains("got 2"));

        let tar = manifest("x", &["application/x-tar"]);
        let e = pick(&tar, Layers::Artifact).unwrap_err().to_string();
        assert!(
            e.contains("application/x-tar is not in the allowed list"),
            "{e}"
        );

        let many = manifest("x", &[TGZ; 11]);
        assert!(pick(&many, Layers::Artifact)
            .unwrap_err()
            .to_string()
            .contains("no more than 10"));
    }
}
