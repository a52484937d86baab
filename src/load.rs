//! What loading a text table (a Dovecot passwd-file, a Postfix map)
//! reported: how many entries it read, and which lines it skipped and why.
//! A bad line never takes the others down.

use std::fmt;
use std::fs::Metadata;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// The outcome of loading a table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// Entries loaded.
    pub entries: usize,
    /// Lines skipped, in file order. They name the line and the reason,
    /// never the line's content (it may hold a password).
    pub errors: Vec<LineError>,
}

impl LoadReport {
    /// True when every line was read.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A line that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
#[non_exhaustive]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// Why, without the line's content.
    pub reason: String,
}

impl LineError {
    pub(crate) fn new(line: usize, reason: impl fmt::Display) -> Self {
        Self {
            line,
            reason: reason.to_string(),
        }
    }
}

/// What identifies a version of a file, to reload only when it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl FileStamp {
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        Ok(Self::from_metadata(&std::fs::metadata(path)?))
    }

    fn from_metadata(m: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            modified: m.modified().ok(),
            len: m.len(),
            #[cfg(unix)]
            inode: m.ino(),
        }
    }
}
