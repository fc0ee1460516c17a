//! The `GIT_ASKPASS` helper: git runs it for a username or password prompt and it answers from
//! a private 0600 file named by a variable the runner puts in git's environment, so
//! credentials appear neither in argv nor in any process environment.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Names the file holding the username and the password, one a line.
pub(crate) const CREDENTIALS: &str = "REPO_GIT_CREDENTIALS";

/// Writes the helper (0700) through a temporary name, so a concurrent git never runs half a file.
pub(crate) fn install(path: &Path) -> io::Result<()> {
    let script = format!(
        "#!/bin/sh\n\
         # git asks \"Username for '<url>': \" or \"Password for '<url>': \".\n\
         {{ IFS= read -r user; IFS= read -r password; }} < \"${CREDENTIALS}\" || exit 1\n\
         case \"$1\" in\n\
         Username*) printf '%s\\n' \"$user\" ;;\n\
         *) printf '%s\\n' \"$password\" ;;\n\
         esac\n"
    );
    let tmp = path.with_extension("new");
    // A leftover from a crash could carry other permissions; `mode` applies only on creation.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(&tmp)?;
    file.write_all(script.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
