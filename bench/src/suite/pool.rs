//! placeholder
pub async fn run(_: &mut super::Ctx) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
