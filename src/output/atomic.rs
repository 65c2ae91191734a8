//! Reports are written next to their target and renamed over it at the end, so an
//! interrupted run never leaves a half-written file (cron jobs and other tools read them).
//!
//! A run puts all its outputs in place in one commit phase ([`commit_phase`]): a signal that
//! arrives during it waits for it to end, so a run either changes every output or none.

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

/// Held while a run puts its outputs in place: see [`commit_phase`].
static COMMITTING: Mutex<()> = Mutex::new(());

/// Hold this while renaming the run's outputs into place and committing its state: the
/// signal handler takes it too before it removes the temporaries and ends the process, so
/// a run stopped by SIGTERM leaves every output as it was before the run, or (when the
/// signal came during the commit phase) as the run completed them, never a mixture.
pub fn commit_phase() -> std::sync::MutexGuard<'static, ()> {
    COMMITTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remove every temporary file and directory still being written (their targets stay as
/// they were). For a signal handler that is about to end the process: it waits for a
/// commit phase in progress to end first, and the process must exit while it holds the
/// returned guard (so that no commit phase starts after the clean-up).
pub fn remove_temporaries() -> std::sync::MutexGuard<'static, ()> {
    let guard = commit_phase();
    for temp in temporaries().drain(..) {
        if temp.is_dir() {
            let _ = std::fs::remove_dir_all(temp);
        } else {
            let _ = std::fs::remove_file(temp);
        }
    }
    guard
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
        let temp = temporary_beside(target, "");
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

/// The temporary name of `target`, beside it: `.NAME.PID.tmp` (a directory walk skips such
/// names, [`crate::input::OwnFiles::is_temporary_name`]).
fn temporary_beside(target: &Path, suffix: &str) -> PathBuf {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}{suffix}.{}.tmp", std::process::id()))
}

/// The marker file in a directory of letters: spfsleuth replaces only directories that it
/// made (or empty ones), never a directory with other files in it.
pub const STAGED_MARKER: &str = ".spfsleuth-letters";

/// A directory whose contents are replaced as a whole: files are written into a temporary
/// directory beside it, which is swapped in at [`StagedDir::commit`]; the previous contents
/// are then removed. Dropped without `commit`, the temporary directory is removed.
pub struct StagedDir {
    target: PathBuf,
    temp: PathBuf,
    /// The names the target held when the run started (letters of the previous run).
    previous: Vec<String>,
    committed: bool,
}

impl StagedDir {
    /// Start replacing `target`. It must not exist, be empty, or hold the marker of an
    /// earlier run: a directory with someone else's files is refused (the swap would delete
    /// them).
    pub fn create(target: &Path) -> io::Result<StagedDir> {
        let mut previous = Vec::new();
        match std::fs::symlink_metadata(target) {
            Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "it exists and is not a directory",
                ));
            }
            Ok(_) => {
                let mut marked = false;
                for entry in std::fs::read_dir(target)? {
                    let name = entry?.file_name().to_string_lossy().into_owned();
                    if name == STAGED_MARKER {
                        marked = true;
                    } else {
                        previous.push(name);
                    }
                }
                if !marked && !previous.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "it holds files spfsleuth did not write ({} entries, no {STAGED_MARKER} marker); its contents are replaced at each run, so give a new or empty directory",
                            previous.len()
                        ),
                    ));
                }
                previous.sort();
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let temp = temporary_beside(target, "");
        std::fs::create_dir(&temp)?;
        temporaries().push(temp.clone());
        std::fs::write(
            temp.join(STAGED_MARKER),
            "This directory is written by spfsleuth --reports and replaced at each run.\n",
        )?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            temp,
            previous,
            committed: false,
        })
    }

    /// The directory to write into now.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// What the directory held before this run (without the marker), sorted.
    pub fn previous(&self) -> &[String] {
        &self.previous
    }

    /// Swap the new contents in (atomically where the file system can exchange two names,
    /// else by two renames) and remove the old ones.
    pub fn commit(mut self) -> io::Result<()> {
        sync_dir(&self.temp)?;
        let result = if self.target.exists() {
            exchange(&self.temp, &self.target).or_else(|_| {
                let old = temporary_beside(&self.target, ".old");
                std::fs::rename(&self.target, &old)?;
                match std::fs::rename(&self.temp, &self.target) {
                    Ok(()) => std::fs::rename(&old, &self.temp),
                    Err(err) => {
                        let _ = std::fs::rename(&old, &self.target);
                        Err(err)
                    }
                }
            })
        } else {
            std::fs::rename(&self.temp, &self.target)
        };
        // After a swap, the temporary name holds the previous contents.
        let _ = std::fs::remove_dir_all(&self.temp);
        forget_temporary(&self.temp);
        self.committed = true;
        result
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
            forget_temporary(&self.temp);
        }
    }
}

/// Exchange two directory names in one step (Linux renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(io::Error::from)
}

/// Write a directory's entries to disk before it is swapped in.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A report held back until the run has completed: standard output or a device or pipe
/// (which cannot be replaced by a rename) gets the rows only at [`Spooled::commit`], from an
/// anonymous temporary file, so that a run that fails (a DNS outage, a signal) writes
/// nothing there at all; a regular file is an [`AtomicFile`].
pub enum Spooled {
    Later {
        spool: BufWriter<File>,
        target: Option<PathBuf>,
    },
    File(AtomicFile),
}

impl Spooled {
    /// `None` is standard output.
    pub fn open(path: Option<&Path>) -> io::Result<Self> {
        let later = |target: Option<PathBuf>| -> io::Result<Spooled> {
            Ok(Spooled::Later {
                spool: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
                target,
            })
        };
        let Some(path) = path else {
            return later(None);
        };
        let meta = std::fs::metadata(path);
        if meta.as_ref().is_ok_and(|meta| meta.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "it is a directory; give a file name",
            ));
        }
        if meta.is_ok_and(|meta| !meta.is_file()) {
            // Opened now, so that an unusable device is fatal before the run.
            File::options().write(true).open(path)?;
            return later(Some(path.to_path_buf()));
        }
        AtomicFile::create(path).map(Spooled::File)
    }

    /// Put the report in place: copy the spool out, or rename the file over its target.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Spooled::File(file) => file.commit(),
            Spooled::Later { spool, target } => {
                let mut spool = spool.into_inner().map_err(|e| e.into_error())?;
                io::Seek::seek(&mut spool, io::SeekFrom::Start(0))?;
                match target {
                    None => {
                        let stdout = io::stdout();
                        let mut out = stdout.lock();
                        io::copy(&mut spool, &mut out)?;
                        out.flush()
                    }
                    Some(path) => {
                        let mut out = File::options().write(true).open(path)?;
                        io::copy(&mut spool, &mut out)?;
                        out.flush()
                    }
                }
            }
        }
    }
}

impl Write for Spooled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Spooled::Later { spool, .. } => spool.write(buf),
            Spooled::File(file) => file.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Spooled::Later { spool, .. } => spool.flush(),
            Spooled::File(file) => file.flush(),
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
    fn a_staged_directory_replaces_only_its_own_kind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("letters");
        let staged = StagedDir::create(&target).unwrap();
        std::fs::write(staged.path().join("a.eml"), "one").unwrap();
        staged.commit().unwrap();
        assert!(target.join("a.eml").exists());
        let staged = StagedDir::create(&target).unwrap();
        assert_eq!(staged.previous(), ["a.eml"]);
        std::fs::write(staged.path().join("b.eml"), "two").unwrap();
        // Not committed: the old letters stay, the temporary goes.
        drop(staged);
        assert!(target.join("a.eml").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let staged = StagedDir::create(&target).unwrap();
        std::fs::write(staged.path().join("b.eml"), "two").unwrap();
        staged.commit().unwrap();
        assert!(!target.join("a.eml").exists() && target.join("b.eml").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Someone else's directory is never taken over.
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join("notes.txt"), "mine").unwrap();
        assert!(StagedDir::create(&home).is_err());
        assert!(home.join("notes.txt").exists());
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
