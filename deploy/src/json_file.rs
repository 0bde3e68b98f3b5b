//! The deploy tool's JSON files (the manifest, the pending record): read when present, replaced
//! atomically. Their errors are [`Error::ManifestIo`] and [`Error::ManifestInvalid`], naming the file.

use std::{
    fs,
    io::{self, Write as _},
    path::Path,
};

use serde::{Serialize, de::DeserializeOwned};

use crate::{Error, Result};

/// The file at `path` parsed as `T`; `Ok(None)` when there is no such file.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path, source)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| invalid(path, e.to_string()))
}

/// Writes `value` (pretty, newline-terminated) over the file at `path`: to a temporary file in its
/// directory (created if needed), fsynced, then renamed over `path`, so a reader sees the old file or
/// the whole new one, never a torn write.
pub(crate) fn write(path: &Path, value: &impl Serialize) -> Result<()> {
    let io_err = |source| io_error(path, source);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err)?;
    let mut text = serde_json::to_string_pretty(value).expect("the deploy tool's files serialize");
    text.push('\n');
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::File::create(&tmp).map_err(io_err)?;
    file.write_all(text.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)
}

/// [`Error::ManifestInvalid`] for the file at `path`.
pub(crate) fn invalid(path: &Path, reason: String) -> Error {
    Error::ManifestInvalid {
        path: path.to_path_buf(),
        reason,
    }
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::ManifestIo {
        path: path.to_path_buf(),
        source,
    }
}
