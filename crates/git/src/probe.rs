//! The git found on `PATH` must support what the runner relies on: `GIT_CONFIG_COUNT` (2.31),
//! `--end-of-options` and `--no-write-fetch-head`.

use std::process::Command;

const MINIMUM: (u32, u32) = (2, 31);

/// `Err` with the reason when git is missing or too old.
pub(crate) fn git() -> Result<(), String> {
    let mut command = Command::new("git");
    command.arg("--version").env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let found = version(&text).ok_or_else(|| format!("unexpected `git --version`: {text:?}"))?;
    if found < MINIMUM {
        return Err(format!(
            "git {}.{} or newer is required, found {}",
            MINIMUM.0,
            MINIMUM.1,
            text.trim()
        ));
    }
    Ok(())
}

fn version(text: &str) -> Option<(u32, u32)> {
    let mut numbers = text.strip_prefix("git version ")?.trim().split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(version("git version 2.39.5 (Apple Git-154)"), Some((2, 39)));
        assert_eq!(version("nope"), None);
        assert!(git().is_ok());
    }
}
