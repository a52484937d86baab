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

/// A table read from a text file and swapped whole on reload, so readers in
/// flight keep the version they started with. On an I/O error the old
/// table stays. Shared by the passwd-file store and the sender map.
pub(crate) struct Reloadable<T> {
    table: std::sync::RwLock<std::sync::Arc<T>>,
    path: Option<std::path::PathBuf>,
    stamp: std::sync::Mutex<Option<FileStamp>>,
    parse: fn(&str) -> (T, LoadReport),
    entries: fn(&T) -> usize,
}

impl<T> Reloadable<T> {
    /// A table from text, with no file behind it.
    pub(crate) fn from_text(
        text: &str,
        parse: fn(&str) -> (T, LoadReport),
        entries: fn(&T) -> usize,
    ) -> (Self, LoadReport) {
        let (table, report) = parse(text);
        (Self::new(table, None, parse, entries), report)
    }

    /// A table from a file; an unreadable file is an error.
    pub(crate) fn open(
        path: &Path,
        parse: fn(&str) -> (T, LoadReport),
        entries: fn(&T) -> usize,
    ) -> io::Result<(Self, LoadReport)> {
        let stamp = FileStamp::of(path)?;
        let text = std::fs::read_to_string(path)?;
        let (table, report) = parse(&text);
        let this = Self::new(table, Some(path.to_path_buf()), parse, entries);
        *this.stamp.lock().unwrap_or_else(|p| p.into_inner()) = Some(stamp);
        Ok((this, report))
    }

    fn new(
        table: T,
        path: Option<std::path::PathBuf>,
        parse: fn(&str) -> (T, LoadReport),
        entries: fn(&T) -> usize,
    ) -> Self {
        Self {
            table: std::sync::RwLock::new(std::sync::Arc::new(table)),
            path,
            stamp: std::sync::Mutex::new(None),
            parse,
            entries,
        }
    }

    /// The file behind the table, if any.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The table now.
    pub(crate) fn current(&self) -> std::sync::Arc<T> {
        std::sync::Arc::clone(&self.table.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads the file again and swaps the new table in.
    pub(crate) fn reload(&self) -> io::Result<LoadReport> {
        let Some(path) = &self.path else {
            return Ok(LoadReport {
                entries: (self.entries)(&self.current()),
                errors: Vec::new(),
            });
        };
        let stamp = FileStamp::of(path)?;
        let text = std::fs::read_to_string(path)?;
        let (table, report) = (self.parse)(&text);
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(table);
        *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) = Some(stamp);
        Ok(report)
    }

    /// Reloads when the file changed (size, time or inode) since it was
    /// last read; `None` when it did not.
    pub(crate) fn reload_if_changed(&self) -> io::Result<Option<LoadReport>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let now = FileStamp::of(path)?;
        let last = *self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if last == Some(now) {
            return Ok(None);
        }
        self.reload().map(Some)
    }
}
