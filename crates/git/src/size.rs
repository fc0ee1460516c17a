//! Bytes a directory tree occupies on disk (allocated blocks, not apparent sizes).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(crate) fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    // st_blocks is in 512-byte units whatever the filesystem's block size.
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        if let Ok(entries) = fs::read_dir(path) {
            total += entries
                .flatten()
                .map(|e| disk_usage(&e.path()))
                .sum::<u64>();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocated_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let empty = disk_usage(dir.path());
        fs::write(dir.path().join("f"), vec![1u8; 100_000]).unwrap();
        let used = disk_usage(dir.path()) - empty;
        assert!((100_000..200_000).contains(&used), "{used}");
    }
}
