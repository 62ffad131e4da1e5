//! How much one extraction may write, so that an archive cannot fill the learner's disk:
//! - a cap on the bytes of its regular files, counted by their declared (logical) size,
//!   so that a sparse file counts whole even though its holes take no block;
//! - a cap on its number of entries (each costs an inode, and a layer remembers its names);
//! - a budget of bytes the tar reader may read between two entries (long names, extended
//!   headers, the data of entries that are not files): the reader holds those in memory
//!   or skips them, and no rootfs archive needs much of either.
//!
//! The first two have defaults and flags (`--max-unpack SIZE`, `--max-entries N`); the
//! default byte cap is the smaller of 8 GiB and 90% of the free space of the filesystem
//! that holds the rootfs, read when the extraction starts.

use crate::sys::at::DirFd;
use crate::ui::i18n::tf;
use std::path::Path;
use std::sync::OnceLock;

/// The byte cap when the free space allows it: larger than the images a lesson needs
/// (a Debian or Ubuntu rootfs is 100–200 MiB, a toolchain image a few GiB).
pub const MAX_BYTES_DEFAULT: u64 = 8 << 30;
/// The default entry cap: a full distribution with its documentation has about 100,000.
pub const MAX_ENTRIES_DEFAULT: u64 = 1_000_000;
/// The share of the free space the default byte cap may take, in percent.
const FREE_SHARE: u64 = 90;
/// What the tar reader may read between two entries.
pub const META_PER_ENTRY: u64 = 16 << 20;
/// And over the whole extraction, per entry allowed (a header is 512 bytes, a PAX
/// header with a long name about 1 KiB).
pub const META_PER_ALLOWED_ENTRY: u64 = 4 << 10;

/// The flags of this run, set once by `main` (none: the defaults).
static FLAGS: OnceLock<(Option<u64>, Option<u64>)> = OnceLock::new();

/// `--max-unpack` and `--max-entries`, for every extraction of this run.
pub fn set_flags(max_unpack: Option<u64>, max_entries: Option<u64>) {
    let _ = FLAGS.set((max_unpack, max_entries));
}

/// Where the byte cap comes from, for the sentence that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesFrom {
    Flag,
    /// The default, with the free space it was computed from (`None`: unknown).
    Default {
        free: Option<u64>,
    },
}

/// The caps of one extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub bytes_from: BytesFrom,
    pub max_entries: u64,
    pub entries_from_flag: bool,
}

/// The default byte cap for `free` bytes free (unknown: the fixed cap).
pub fn default_max_bytes(free: Option<u64>) -> u64 {
    match free {
        Some(f) => MAX_BYTES_DEFAULT.min((f as u128 * FREE_SHARE as u128 / 100) as u64),
        None => MAX_BYTES_DEFAULT,
    }
}

impl Limits {
    /// The caps given the flags (`None`: not given) and the free space.
    pub fn new(max_unpack: Option<u64>, max_entries: Option<u64>, free: Option<u64>) -> Limits {
        let (max_bytes, bytes_from) = match max_unpack {
            Some(b) => (b, BytesFrom::Flag),
            None => (default_max_bytes(free), BytesFrom::Default { free }),
        };
        Limits {
            max_bytes,
            bytes_from,
            max_entries: max_entries.unwrap_or(MAX_ENTRIES_DEFAULT),
            entries_from_flag: max_entries.is_some(),
        }
    }

    /// The caps of this run for an extraction into `root` (its filesystem's free space).
    pub fn for_root(root: &DirFd) -> Limits {
        let (b, e) = FLAGS.get().copied().unwrap_or_default();
        let free = if b.is_none() {
            root.free_bytes().ok()
        } else {
            None
        };
        Limits::new(b, e, free)
    }

    /// The budget of bytes the tar reader may read outside files' content, in all.
    pub fn meta_total(&self) -> u64 {
        self.max_entries
            .saturating_mul(META_PER_ALLOWED_ENTRY)
            .saturating_add(META_PER_ENTRY)
    }

    /// Where the byte cap comes from, as a sentence fragment.
    pub fn bytes_origin(&self, root: &Path) -> String {
        match self.bytes_from {
            BytesFrom::Flag => tf("x.cap_flag", &[("flag", &"--max-unpack")]),
            BytesFrom::Default { free: Some(free) } => tf(
                "x.cap_default_bytes",
                &[
                    ("max", &human(MAX_BYTES_DEFAULT)),
                    ("free", &human(free)),
                    // The directory that holds the rootfs (TMPDIR): the one to change.
                    (
                        "root",
                        &crate::ui::sanitize::clean_path(root.parent().unwrap_or(root)),
                    ),
                ],
            ),
            BytesFrom::Default { free: None } => {
                tf("x.cap_default", &[("max", &human(MAX_BYTES_DEFAULT))])
            }
        }
    }

    /// Where the entry cap comes from, as a sentence fragment.
    pub fn entries_origin(&self) -> String {
        if self.entries_from_flag {
            tf("x.cap_flag", &[("flag", &"--max-entries")])
        } else {
            tf("x.cap_default", &[("max", &MAX_ENTRIES_DEFAULT)])
        }
    }
}

/// A size as people read it (binary units: 8.00 GiB).
pub fn human(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// A `--max-unpack` value that lets `total` bytes through: whole GiB (or MiB when small).
pub fn suggest_bytes(total: u64) -> String {
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    if total >= G {
        format!("{}G", total.div_ceil(G) + 1)
    } else {
        format!("{}M", total.div_ceil(M) * 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_byte_cap_is_the_smaller_of_8_gib_and_90_percent_of_the_free_space() {
        assert_eq!(default_max_bytes(None), 8 << 30);
        assert_eq!(default_max_bytes(Some(100 << 30)), 8 << 30);
        assert_eq!(default_max_bytes(Some(1 << 30)), (1u64 << 30) * 9 / 10);
        assert_eq!(default_max_bytes(Some(1000)), 900);
        assert_eq!(default_max_bytes(Some(0)), 0);
        assert_eq!(default_max_bytes(Some(u64::MAX)), 8 << 30);
        // On this machine: the free space of /tmp, through fstatvfs.
        let d = DirFd::open(Path::new("/tmp")).unwrap();
        let free = d.free_bytes().unwrap();
        let l = Limits::new(None, None, Some(free));
        assert_eq!(
            l.max_bytes,
            (8u64 << 30).min((free as u128 * 9 / 10) as u64)
        );
        assert_eq!(l.max_entries, 1_000_000);
    }

    #[test]
    fn flags_replace_the_defaults_and_the_sentence_says_where_a_cap_comes_from() {
        let l = Limits::new(Some(64 << 20), Some(100), Some(1 << 40));
        assert_eq!((l.max_bytes, l.max_entries), (64 << 20, 100));
        assert!(l.bytes_origin(Path::new("/x")).contains("--max-unpack"));
        assert!(l.entries_origin().contains("--max-entries"));
        let d = Limits::new(None, None, Some(10 << 30));
        assert_eq!(d.max_bytes, 8 << 30);
        let small = Limits::new(None, None, Some(5 << 30));
        assert_eq!(small.max_bytes, (5u64 << 30) * 9 / 10);
        let s = d.bytes_origin(Path::new("/var/tmp/hako.x"));
        assert!(s.contains("8.00 GiB"), "{s}");
        assert!(s.contains("10.00 GiB"), "{s}");
        assert!(s.contains("filesystem of /var/tmp"), "{s}");
        assert!(d.entries_origin().contains("1000000"));
    }

    #[test]
    fn suggestions_let_the_archive_through() {
        assert_eq!(suggest_bytes(1 << 30), "2G");
        assert_eq!(suggest_bytes((5 << 30) + 1), "7G");
        assert_eq!(suggest_bytes(100 << 20), "200M");
        for t in [1u64, 1 << 20, (1 << 30) - 1, 3 << 30] {
            assert!(crate::spec::parse_size(&suggest_bytes(t)).unwrap() >= t);
        }
    }
}
