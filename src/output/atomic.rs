//! Reports are written next to their target and renamed over it at the end, so an
//! interrupted run never leaves a half-written file (cron jobs and other tools read them).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The temporary files being written now, so that a run stopped by a signal (Ctrl-C, a
/// cron job's `timeout`) can remove them on its way out ([`remove_temporaries`]).
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temporaries() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // The list is only pushed to and removed from: a panic elsewhere cannot break it.
    TEMPORARIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn forget_temporary(temp: &Path) {
    temporaries().retain(|p| p != temp);
}

/// Remove every temporary file still being written (their targets stay as they were).
/// For a signal handler that is about to end the process.
pub fn remove_temporaries() {
    for temp in temporaries().drain(..) {
        let _ = std::fs::remove_file(temp);
    }
}

/// A file written next to its target and renamed over it at the end, so an interrupted run
/// never leaves a half-written report. Dropped without `commit`: the temporary is removed.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `target`. A symbolic link is followed: the file it points to is
    /// replaced, not the link (a link that points nowhere is replaced itself).
    pub fn create(target: &Path) -> io::Result<Self> {
        let resolved = std::fs::symlink_metadata(target)
            .ok()
            .filter(|meta| meta.file_type().is_symlink())
            .and_then(|_| std::fs::canonicalize(target).ok());
        let target = resolved.as_deref().unwrap_or(target);
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::options().write(true).create_new(true).open(&temp)?;
        temporaries().push(temp.clone());
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            file: Some(BufWriter::new(file)),
        })
    }

    /// Flush, sync and rename over the target. On failure the temporary is removed and
    /// the target stays as it was.
    pub fn commit(mut self) -> io::Result<()> {
        let written = match self.file.take() {
            Some(file) => file
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|file| file.sync_all()),
            None => Ok(()),
        };
        let result = written.and_then(|()| std::fs::rename(&self.temp, &self.target));
        if result.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        forget_temporary(&self.temp);
        result
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.as_mut() {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
            forget_temporary(&self.temp);
        }
    }
}

/// Where a report goes: stdout; a device or pipe given as `-o` (`/dev/null`,
/// `>(gzip > x)`), written in place because it cannot be replaced by a rename; or a regular
/// file, written atomically. Dropped without `commit`, a temporary file is removed.
pub enum Destination {
    Stdout(BufWriter<io::Stdout>),
    InPlace(BufWriter<File>),
    File(AtomicFile),
}

impl Destination {
    pub fn open(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(Destination::Stdout(BufWriter::with_capacity(
                1 << 16,
                io::stdout(),
            )));
        };
        let meta = std::fs::metadata(path);
        if meta.as_ref().is_ok_and(|meta| meta.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "it is a directory; give a file name",
            ));
        }
        if meta.is_ok_and(|meta| !meta.is_file()) {
            let file = File::options().write(true).open(path)?;
            return Ok(Destination::InPlace(BufWriter::with_capacity(
                1 << 16,
                file,
            )));
        }
        AtomicFile::create(path).map(Destination::File)
    }

    /// Flush, and for a regular file rename it into place.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Destination::Stdout(mut out) => out.flush(),
            Destination::InPlace(mut out) => out.flush(),
            Destination::File(file) => file.commit(),
        }
    }
}

impl Write for Destination {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Destination::Stdout(out) => out.write(buf),
            Destination::InPlace(out) => out.write(buf),
            Destination::File(file) => file.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Destination::Stdout(out) => out.flush(),
            Destination::InPlace(out) => out.flush(),
            Destination::File(file) => file.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_file_replaces_target_and_abandoned_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.csv");
        std::fs::write(&target, "old").unwrap();
        let mut d = Destination::open(Some(&target)).unwrap();
        d.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        d.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mut d = Destination::open(Some(&target)).unwrap();
        d.write_all(b"half").unwrap();
        drop(d);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn devices_are_written_in_place() {
        let mut d = Destination::open(Some(Path::new("/dev/null"))).unwrap();
        d.write_all(b"x").unwrap();
        d.commit().unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }

    #[test]
    fn a_symbolic_link_is_followed_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        let link = dir.path().join("latest.csv");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut d = Destination::open(Some(&link)).unwrap();
        d.write_all(b"new").unwrap();
        d.commit().unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn a_directory_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let err = Destination::open(Some(dir.path())).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
