//! An output never equals an input: before anything is read, every path the run will write
//! (`-o`, `--summary`, `--save-dns`, `--state`, `--reports`) is compared with every path it
//! reads (inputs, `--zone` files, stdin when it is a file) and with the other outputs, by
//! canonical path and by device and inode (a hard link or a symbolic link is the same file).
//! `scan spam.mbox -o spam.mbox` must not replace the mailbox with a CSV.
//!
//! Outputs inside an input directory are allowed; the directory walk skips them
//! ([`crate::input::OwnFiles`]).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a path is used for, as the user would name it in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Input,
    Zone,
    Stdin,
    Output(&'static str),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Input => f.write_str("input"),
            Role::Zone => f.write_str("--zone file"),
            Role::Stdin => f.write_str("standard input"),
            Role::Output(option) => write!(f, "{option}"),
        }
    }
}

/// A path and what it is for.
#[derive(Debug, Clone)]
pub struct Named {
    pub role: Role,
    pub path: PathBuf,
}

/// A refused combination of paths (fatal: exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{first_role} {} and {second_role} {} {why}", first.display(), second.display())]
pub struct Clash {
    first_role: Role,
    first: PathBuf,
    second_role: Role,
    second: PathBuf,
    why: &'static str,
}

/// Device and inode of an existing file.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The canonical form of a path that may not exist yet: its parent's canonical path and
/// its own name.
pub fn canonical(path: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(path) {
        return c;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Character and block devices, FIFOs and sockets (`/dev/null`, `>(gzip)`): written in
/// place, so two outputs may share one and an input "equal" to one loses nothing.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

fn same_file(a: &Path, b: &Path) -> bool {
    if canonical(a) == canonical(b) {
        return true;
    }
    matches!((identity(a), identity(b)), (Some(x), Some(y)) if x == y)
}

/// Refuse outputs that are inputs, outputs that are each other, and a `--reports` directory
/// that holds anything else the run reads or writes (its contents are replaced as a whole).
/// `reports` is the `--reports` directory; `stdin_read` says whether `-` is an input.
pub fn check(
    reads: &[Named],
    writes: &[Named],
    reports: Option<&Path>,
    stdin_read: bool,
) -> Result<(), Clash> {
    let clash = |a: &Named, b: &Named, why| Clash {
        first_role: a.role.clone(),
        first: a.path.clone(),
        second_role: b.role.clone(),
        second: b.path.clone(),
        why,
    };
    for w in writes {
        if is_special(&w.path) {
            continue;
        }
        for r in reads {
            if same_file(&w.path, &r.path) {
                return Err(clash(
                    w,
                    r,
                    "are the same file: an output may not be an input",
                ));
            }
        }
        if stdin_read
            && let Some(stdin) = stdin_identity()
            && identity(&w.path) == Some(stdin)
        {
            let input = Named {
                role: Role::Stdin,
                path: PathBuf::from("-"),
            };
            return Err(clash(
                w,
                &input,
                "are the same file: an output may not be an input",
            ));
        }
    }
    for (i, a) in writes.iter().enumerate() {
        for b in &writes[i + 1..] {
            if !is_special(&a.path) && same_file(&a.path, &b.path) {
                return Err(clash(a, b, "are the same file: give each output its own"));
            }
        }
    }
    if let Some(dir) = reports {
        let dir_canonical = canonical(dir);
        let named = Named {
            role: Role::Output("--reports"),
            path: dir.to_path_buf(),
        };
        for other in reads.iter().chain(writes) {
            let inside = canonical(&other.path).starts_with(&dir_canonical);
            if inside {
                return Err(clash(
                    &named,
                    other,
                    "overlap: the --reports directory is replaced as a whole at the end of the run, so nothing else may be in it",
                ));
            }
        }
    }
    Ok(())
}

/// Device and inode of standard input when it is a regular file (`< spam.mbox`).
fn stdin_identity() -> Option<(u64, u64)> {
    let meta = std::fs::metadata("/dev/stdin").ok()?;
    meta.is_file().then(|| (meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(role: Role, path: &Path) -> Named {
        Named {
            role,
            path: path.to_path_buf(),
        }
    }

    #[test]
    fn an_output_that_is_an_input_is_refused_by_name_link_and_inode() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("spam.mbox");
        std::fs::write(&mbox, "From x\n").unwrap();
        let link = dir.path().join("link.mbox");
        std::os::unix::fs::symlink(&mbox, &link).unwrap();
        let hard = dir.path().join("hard.mbox");
        std::fs::hard_link(&mbox, &hard).unwrap();
        let reads = [named(Role::Input, &mbox)];
        for output in [&mbox, &link, &hard, &dir.path().join(".").join("spam.mbox")] {
            let err = check(&reads, &[named(Role::Output("-o"), output)], None, false)
                .unwrap_err()
                .to_string();
            assert!(err.contains("spam.mbox") && err.contains("-o"), "{err}");
        }
        let fine = dir.path().join("report.csv");
        check(&reads, &[named(Role::Output("-o"), &fine)], None, false).unwrap();
    }

    #[test]
    fn outputs_may_not_be_each_other_except_devices() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x");
        let writes = [
            named(Role::Output("-o"), &out),
            named(Role::Output("--summary"), &out),
        ];
        assert!(check(&[], &writes, None, false).is_err());
        let devnull = Path::new("/dev/null");
        let writes = [
            named(Role::Output("-o"), devnull),
            named(Role::Output("--summary"), devnull),
        ];
        check(&[], &writes, None, false).unwrap();
    }

    #[test]
    fn the_reports_directory_holds_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("letters");
        let inside = reports.join("report.csv");
        let writes = [named(Role::Output("-o"), &inside)];
        assert!(check(&[], &writes, Some(&reports), false).is_err());
        let reads = [named(Role::Input, dir.path())];
        // An input directory that contains the reports directory is fine (the walk skips
        // it); one inside it is not.
        check(&reads, &[], Some(&reports), false).unwrap();
        let reads = [named(Role::Input, &reports.join("Maildir"))];
        assert!(check(&reads, &[], Some(&reports), false).is_err());
    }
}
