//! One line of `check` output.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a finding is. Only errors make `check` fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Something not checked, and why.
    Note,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// What `check` found about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<7} {}: {}",
            self.level,
            self.file.display(),
            self.message
        )
    }
}

/// Findings in the order they were made.
#[derive(Debug, Default)]
pub(crate) struct Report(pub Vec<Finding>);

impl Report {
    pub(crate) fn add(&mut self, level: Level, file: &Path, message: impl Into<String>) {
        let message = message.into();
        // Errors from repo-tls start with the file name, which the line shows already.
        let message = match message.strip_prefix(&file.display().to_string()) {
            Some(rest) => rest.trim_start_matches(':').trim_start().to_string(),
            None => message,
        };
        self.0.push(Finding {
            level,
            file: file.to_path_buf(),
            message,
        });
    }

    pub(crate) fn ok(&mut self, file: &Path, message: impl Into<String>) {
        self.add(Level::Ok, file, message);
    }

    pub(crate) fn note(&mut self, file: &Path, message: impl Into<String>) {
        self.add(Level::Note, file, message);
    }

    pub(crate) fn warn(&mut self, file: &Path, message: impl Into<String>) {
        self.add(Level::Warning, file, message);
    }

    pub(crate) fn error(&mut self, file: &Path, message: impl Into<String>) {
        self.add(Level::Error, file, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_once() {
        let mut r = Report::default();
        let file = Path::new("/m/client.key");
        r.error(file, "/m/client.key: no private key found");
        r.error(
            file,
            "/m/client.key does not match the certificate in /m/client.crt",
        );
        r.ok(file, "matches client.crt");
        let lines: Vec<_> = r.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "error   /m/client.key: no private key found",
                "error   /m/client.key: does not match the certificate in /m/client.crt",
                "ok      /m/client.key: matches client.crt",
            ]
        );
    }
}
