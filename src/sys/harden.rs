//! `--harden`: what real runtimes do past the article, as system calls. Each function
//! names its man page and says why it is done the way it is, and in which order:
//!
//! 1. a user namespace first (unshare(CLONE_NEWUSER), the guide writes the maps, then
//!    setresuid(0)), because every namespace created after it is owned by it, so that
//!    root inside has its capabilities over them and over nothing of the host's;
//! 2. pivot_root(2) in place of chroot, then the old root detached;
//! 3. a cgroup namespace;
//! 4. masked and read-only paths in /proc (mount(2) needs CAP_SYS_ADMIN: before the cut);
//! 5. the capability cut;
//! 6. no_new_privs (seccomp without CAP_SYS_ADMIN needs it);
//! 7. seccomp last, just before the execve: the filter then covers only the command.
#![allow(unsafe_code)]

use super::error::SysError;
use super::tracer::{trace, trace_as};
use nix::errno::Errno;
use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Root inside is this uid (and gid) outside, for 65536 ids: what `dockerd
/// --userns-remap` and podman give a container, and where /etc/subuid ranges start.
pub const MAP_OUTSIDE: u32 = 100_000;
pub const MAP_COUNT: u32 = 65_536;

/// The line for /proc/PID/uid_map and gid_map: inside, outside, count.
pub fn map_line() -> String {
    format!("0 {MAP_OUTSIDE} {MAP_COUNT}")
}

/// unshare(CLONE_NEWUSER): the caller enters a new user namespace with every
/// capability *in it*, and none over anything owned by the host's. Its ids are
/// unmapped until someone in the parent namespace writes the maps.
pub fn unshare_user() -> Result<(), Errno> {
    let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER);
    trace(|| "unshare(CLONE_NEWUSER)".into(), "2 unshare", &r);
    r
}

/// unshare(CLONE_NEWCGROUP): the caller's current cgroup becomes the root of what it
/// sees in /proc/self/cgroup and in any cgroup filesystem it mounts.
pub fn unshare_cgroup() -> Result<(), Errno> {
    let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP);
    trace(|| "unshare(CLONE_NEWCGROUP)".into(), "2 unshare", &r);
    r
}

/// After the maps: setresgid(0,0,0), setgroups(0, NULL), setresuid(0,0,0). Until then
/// the process still carries the host's uid 0 for files, which is what the user
/// namespace is meant to end. The uid change also clears the parent-death signal and the
/// dumpable flag (credentials changed, see prctl(2)): both are set again.
pub fn become_root(guide: i32) -> Result<(), Errno> {
    // SAFETY: plain system calls with integer arguments.
    let r = match unsafe { libc::setresgid(0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "setresgid(0, 0, 0)".into(), "2 setresgid", &r);
    r?;
    // SAFETY: an empty list.
    let r = match unsafe { libc::setgroups(0, std::ptr::null()) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "setgroups(0, NULL)".into(), "2 setgroups", &r);
    r?;
    // SAFETY: as above.
    let r = match unsafe { libc::setresuid(0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "setresuid(0, 0, 0)".into(), "2 setresuid", &r);
    r?;
    // SAFETY: prctl with integer arguments.
    let r = match unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(|| "prctl(PR_SET_DUMPABLE, 1)".into(), "2 prctl", &r);
    if !super::ns::die_with_parent(guide) {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

fn stat_of(p: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Leaves the chroot the chroot lesson made, as any process holding CAP_SYS_CHROOT can
/// (the escape of the chroot lesson's demonstration): chroot into a directory below,
/// climb with chdir("..") until "." is its own parent (the root of the mount
/// namespace), chroot("."). pivot_root(2) works on the mount namespace's root, which the
/// chroot never changed.
pub fn try_leave_chroot() -> Result<(), SysError> {
    let r = nix::unistd::chroot("dev").or_else(|_| nix::unistd::chroot("proc"));
    trace(|| "chroot(\"dev\")".into(), "2 chroot", &r);
    r.map_err(SysError::at("chroot(\"dev\")"))?;
    let mut n = 0;
    while n < 4096 && stat_of(".") != stat_of("..") {
        nix::unistd::chdir("..").map_err(SysError::at("chdir(\"..\")"))?;
        n += 1;
    }
    trace(
        || format!("chdir(\"..\") ×{n}"),
        "2 chdir",
        &Ok::<(), Errno>(()),
    );
    let r = nix::unistd::chroot(".");
    trace(|| "chroot(\".\")".into(), "2 chroot", &r);
    r.map_err(SysError::at("chroot(\".\")"))
}

/// What runc does (libcontainer/rootfs_linux.go, pivotRoot): bind $ROOTFS on itself
/// (pivot_root wants a mount point), chdir into it, pivot_root(".", "."), which stacks
/// the old root on top of the new one; fchdir to the old root, make it rslave (so that
/// its unmount cannot travel anywhere), umount2(".", MNT_DETACH), chdir("/"). See
/// pivot_root(2), mount_namespaces(7).
pub fn try_pivot_root(root: &Path) -> Result<(), SysError> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let at = SysError::at;
    super::ns::do_mount(
        &root.to_string_lossy(),
        root,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(at("mount --rbind $ROOTFS $ROOTFS"))?;
    let old = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(at("open(\"/\")"))?;
    let r = nix::unistd::chdir(root);
    trace(|| format!("chdir(\"{}\")", root.display()), "2 chdir", &r);
    r.map_err(at("chdir($ROOTFS)"))?;
    let r = nix::unistd::pivot_root(".", ".");
    trace(|| "pivot_root(\".\", \".\")".into(), "2 pivot_root", &r);
    r.map_err(at("pivot_root(\".\", \".\")"))?;
    let r = nix::unistd::fchdir(&old);
    trace(|| "fchdir(old root)".into(), "2 fchdir", &r);
    r.map_err(at("fchdir(old root)"))?;
    let r = nix::mount::mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    );
    trace(
        || "mount(NULL, \".\", NULL, MS_SLAVE|MS_REC, NULL)".into(),
        "2 mount",
        &r,
    );
    r.map_err(at("mount --make-rslave ."))?;
    let r = nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH);
    trace(|| "umount2(\".\", MNT_DETACH)".into(), "2 umount2", &r);
    r.map_err(at("umount2(\".\", MNT_DETACH)"))?;
    let r = nix::unistd::chdir("/");
    trace(|| "chdir(\"/\")".into(), "2 chdir", &r);
    r.map_err(at("chdir(\"/\")"))
}

/// runc's default masked paths (`maskedPaths` of `runc spec` and of Docker): files get
/// /dev/null bound over them, directories an empty read-only tmpfs.
pub const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's default read-only paths (`readonlyPaths`): bound on themselves, then remounted
/// read-only.
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What happened to one path of [`MASKED`] or [`READ_ONLY`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Masked {
    /// /dev/null bound over a file.
    Null,
    /// An empty read-only tmpfs over a directory.
    Tmpfs,
    /// Bound on itself, remounted read-only.
    ReadOnly,
    /// Not there (no such file in this kernel, or /sys is not mounted inside).
    Absent,
}

/// The mount flags a read-only remount must keep: in a user namespace the kernel refuses
/// a remount that would clear nosuid, nodev, noexec or the atime flags of a mount made
/// outside it (they are locked), as runc's comment in `remountReadonly` explains.
fn kept_flags(path: &str) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            m |= ms;
        }
    }
    m
}

/// Masks [`MASKED`] and makes [`READ_ONLY`] read-only, after pivot_root (the paths are
/// the container's own). Returns what happened to each path.
pub fn try_mask_paths() -> Result<Vec<(String, Masked)>, SysError> {
    let mut out = vec![];
    let null = Path::new("/dev/null");
    for p in MASKED {
        let path = Path::new(p);
        let m = match std::fs::symlink_metadata(path) {
            Err(_) => Masked::Absent,
            Ok(m) if m.is_dir() => {
                super::ns::do_mount(
                    "tmpfs",
                    path,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("mode=0555"),
                )
                .map_err(|e| SysError::on("mount -t tmpfs -o ro", p, e))?;
                Masked::Tmpfs
            }
            Ok(_) => {
                super::ns::do_mount(&null.to_string_lossy(), path, None, MsFlags::MS_BIND, None)
                    .map_err(|e| SysError::on("mount --bind /dev/null", p, e))?;
                Masked::Null
            }
        };
        out.push((p.to_string(), m));
    }
    for p in READ_ONLY {
        let path = Path::new(p);
        if std::fs::symlink_metadata(path).is_err() {
            out.push((p.to_string(), Masked::Absent));
            continue;
        }
        super::ns::do_mount(p, path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
            .map_err(|e| SysError::on("mount --rbind", p, e))?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(p);
        let r = nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>);
        trace(
            || {
                format!(
                    "mount(NULL, \"{p}\", NULL, {}, NULL)",
                    super::ns::flag_names(flags)
                )
            },
            "2 mount",
            &r,
        );
        r.map_err(|e| SysError::on("mount -o remount,bind,ro", p, e))?;
        out.push((p.to_string(), Masked::ReadOnly));
    }
    Ok(out)
}

/// Docker's default capability set is kept once, in `capnames`.
pub use super::capnames::docker_mask;

/// Cuts every capability set to `keep` (capabilities(7)): the bounding set one
/// PR_CAPBSET_DROP at a time (which needs CAP_SETPCAP, so it goes first), the ambient set
/// cleared, then capset(2) of effective, permitted and inheritable at once. From here on
/// mount(2) and everything else outside the set fail with EPERM, in this process already.
pub fn cut_caps(keep: u64) -> Result<(), Errno> {
    use caps::{CapSet, Capability, CapsHashSet};
    let all = caps::all();
    for c in &all {
        if keep & (1 << c.index()) == 0
            && caps::has_cap(None, CapSet::Bounding, *c).unwrap_or(false)
        {
            let r = caps::drop(None, CapSet::Bounding, *c).map_err(|_| Errno::last());
            trace(|| format!("prctl(PR_CAPBSET_DROP, {c})"), "2 prctl", &r);
            r?;
        }
    }
    let r = caps::clear(None, CapSet::Ambient).map_err(|_| Errno::last());
    trace(
        || "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)".into(),
        "2 prctl",
        &r,
    );
    r?;
    let set: CapsHashSet = all
        .iter()
        .copied()
        .filter(|c| keep & (1 << c.index()) != 0)
        .collect::<Vec<Capability>>()
        .into_iter()
        .collect();
    let inh: CapsHashSet = Default::default();
    // Effective must stay within permitted at every step: shrink it first.
    for (s, v, name) in [
        (CapSet::Effective, &set, "effective"),
        (CapSet::Permitted, &set, "permitted"),
        (CapSet::Inheritable, &inh, "inheritable"),
    ] {
        let r = caps::set(None, s, v).map_err(|_| Errno::last());
        trace(
            || {
                format!(
                    "capset({name} = {keep:#x})",
                    keep = if name == "inheritable" { 0 } else { keep }
                )
            },
            "2 capset",
            &r,
        );
        r?;
    }
    Ok(())
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1): no execve(2) from here on can grant more than the
/// process has (set-user-ID bits and file capabilities are ignored). It is inherited and
/// cannot be unset. Without CAP_SYS_ADMIN, seccomp(2) refuses a filter unless it is set.
pub fn no_new_privs() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments.
    let r = match unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace(
        || "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)".into(),
        "2 prctl",
        &r,
    );
    r
}

/// The system calls the filter refuses with EPERM, in the spirit of Docker's default
/// profile (which allows a list and refuses the rest; this one refuses a list): the
/// kernel keyring (not namespaced), new user namespaces (the door to capabilities over
/// new namespaces, and to much kernel attack surface), file handles (open_by_handle_at
/// is how the "shocker" exploit left Docker containers), mounts, modules, kexec, BPF,
/// perf, clocks, swap, reboot, accounting, quotas, setns, userfaultfd, and io_uring (its
/// ring runs operations the filter never sees as system calls; Docker's profile refuses it
/// since 25.0).
pub fn blocked() -> Vec<(&'static str, i64)> {
    #[allow(unused_mut)]
    let mut v = vec![
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("reboot", libc::SYS_reboot),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("acct", libc::SYS_acct),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("quotactl", libc::SYS_quotactl),
        ("setns", libc::SYS_setns),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        ("syslog", libc::SYS_syslog),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
    ];
    // Port I/O exists only on x86 (iopl(2), ioperm(2)); arm64 has no such calls.
    #[cfg(target_arch = "x86_64")]
    v.extend([("iopl", libc::SYS_iopl), ("ioperm", libc::SYS_ioperm)]);
    v
}

/// The architecture the filter is built for: the one hako is compiled for. hako is
/// meant for x86_64 and aarch64 (built and tested on x86_64 only).
#[cfg(target_arch = "x86_64")]
const ARCH: Option<seccompiler::TargetArch> = Some(seccompiler::TargetArch::x86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<seccompiler::TargetArch> = Some(seccompiler::TargetArch::aarch64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<seccompiler::TargetArch> = None;

/// The personality(2) values the filter lets through, compared as 32-bit values as the
/// kernel reads the argument: PER_LINUX (0), PER_LINUX with UNAME26 (0x0020000), PER_LINUX32
/// (0x0008), both (0x0020008), and 0xffffffff, which only queries. Any other value is
/// refused with EPERM: flags such as READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE would weaken
/// the memory protections of the programs the container runs (Docker's profile allows the
/// same five).
pub const PERSONALITY_ALLOWED: [u32; 5] = [0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// Why the seccomp program could not be built (a bug in hako's rules, or an
/// architecture the filter is not written for): the stage then fails with EINVAL.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("seccompiler: {0}")]
    Backend(#[from] seccompiler::BackendError),
    #[error("hako's seccomp filter is written for x86_64 and aarch64 only")]
    Arch,
    #[error("seccompiler's program does not begin with its architecture check")]
    Shape,
}

/// The filter as a BPF program (seccompiler compiles it, for x86_64 or aarch64): the calls of
/// [`blocked`] return EPERM; unshare(2) and clone(2) return EPERM when their flags ask
/// for CLONE_NEWUSER; clone3(2) returns ENOSYS, as in Docker's profile, because its flags
/// are in memory the filter cannot read, and libc then falls back to clone(2); any
/// x32-ABI number (x86_64 only: bit 30 set, the same arch value) returns EPERM, so that
/// nothing blocked is reached through its x32 twin; any other architecture (32-bit
/// int 0x80 on x86_64, AArch32 on arm64) kills the process.
pub fn filter() -> Result<Vec<libc::sock_filter>, FilterError> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    use std::collections::BTreeMap;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in blocked() {
        rules.insert(nr, vec![]);
    }
    let newuser = || -> Result<Vec<SeccompRule>, FilterError> {
        Ok(vec![SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_NEWUSER as u64),
            libc::CLONE_NEWUSER as u64,
        )?])?])
    };
    rules.insert(libc::SYS_unshare, newuser()?);
    rules.insert(libc::SYS_clone, newuser()?);
    // personality(2): one rule whose conditions all hold (refused) when the value is none
    // of the allowed ones.
    let not_allowed = PERSONALITY_ALLOWED
        .iter()
        .map(|v| SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, *v as u64))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_personality, vec![SeccompRule::new(not_allowed)?]);
    let main = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        ARCH.ok_or(FilterError::Arch)?,
    )?;
    let prog: seccompiler::BpfProgram = main.try_into()?;
    // seccompiler begins with the architecture check (3 instructions). After it: x32
    // numbers refused, clone3 answered ENOSYS, then seccompiler's own rules.
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    // x32 shares x86_64's arch value with bit 30 set in the number; arm64 has no such
    // twin ABI, so only x86_64 needs the first test (harmless elsewhere, but not there).
    let x32 = [
        ins(JGE_K, 0, 1, 0x4000_0000),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
    ];
    let x32: &[libc::sock_filter] = if cfg!(target_arch = "x86_64") {
        &x32
    } else {
        &[]
    };
    let mut ours = vec![ins(LD_W_ABS, 0, 0, 0)]; // seccomp_data.nr
    ours.extend_from_slice(x32);
    ours.extend([
        ins(JEQ_K, 0, 1, libc::SYS_clone3 as u32),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]);
    if prog.len() < 3 || prog[0].code != LD_W_ABS || prog[2].code != RET_K {
        return Err(FilterError::Shape);
    }
    let mut out: Vec<libc::sock_filter> = vec![];
    for (i, f) in prog.iter().enumerate() {
        if i == 3 {
            out.extend(ours.iter().copied());
        }
        out.push(ins(f.code, f.jt, f.jf, f.k));
    }
    Ok(out)
}

/// seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog): from here on, for this process and every
/// child and exec after it, the kernel runs the filter on each system call. Without
/// CAP_SYS_ADMIN it needs no_new_privs (EACCES otherwise): a filter could otherwise
/// fool a set-user-ID program into running with privileges it did not expect.
pub fn install_filter(prog: &[libc::sock_filter]) -> Result<(), Errno> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points to `prog`, which outlives the call; the kernel copies it.
    let r = match unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    };
    trace_as(
        || {
            format!(
                "seccomp(SECCOMP_SET_MODE_FILTER, 0, {{len = {}, filter = …}})",
                prog.len()
            )
        },
        "2 seccomp",
        &r,
        |_| "0".into(),
    );
    r
}

// ------------------------------------------------------------------ probes

/// What one probe inside saw: the errno, or a number (bytes read, a magic value).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seen {
    pub errno: Option<i32>,
    pub n: u64,
    pub text: String,
}

impl Seen {
    pub fn of<T>(r: Result<T, Errno>, n: impl FnOnce(&T) -> u64) -> Seen {
        match r {
            Ok(v) => Seen {
                errno: None,
                n: n(&v),
                text: String::new(),
            },
            Err(e) => Seen {
                errno: Some(e as i32),
                n: 0,
                text: String::new(),
            },
        }
    }
    /// `= 0`, or `= -1 EPERM`.
    pub fn shown(&self) -> String {
        match self.errno {
            None => format!("= {}", self.n),
            Some(e) => format!("= -1 {}", Errno::from_raw(e)),
        }
    }
}

/// In a child: mount a tmpfs on a directory the probe makes itself (undone at once if
/// it worked, and the directory removed), so that the answer does not depend on what
/// the rootfs holds: mount(2) looks the target up before it checks CAP_SYS_ADMIN, so a
/// missing /tmp would read ENOENT. When root inside may not create a directory in `/`
/// (a `dir:` rootfs whose owner is not mapped), the target is `/proc`, which the proc
/// lesson mounted: a tmpfs that got on it would be detached at once, uncovering proc.
pub fn try_mount() -> Seen {
    super::demo::in_child(|| {
        let own = format!("/.hako-mnt-{}", std::process::id());
        let made = nix::unistd::mkdir(
            own.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(0o700),
        );
        trace(|| format!("mkdir(\"{own}\", 0700)"), "2 mkdir", &made);
        let target = if made.is_ok() { own.as_str() } else { "/proc" };
        let r = nix::mount::mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        );
        trace(
            || format!("mount(\"tmpfs\", \"{target}\", \"tmpfs\", 0, NULL)"),
            "2 mount",
            &r,
        );
        if r.is_ok() {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        }
        if made.is_ok() {
            let _ = std::fs::remove_dir(&own);
        }
        Seen::of(r, |_| 0)
    })
    .unwrap_or_else(|e| Seen::of::<()>(Err(e), |_| 0))
}

/// In a child: unshare(CLONE_NEWUSER), the call the filter refuses.
pub fn try_unshare_user() -> Seen {
    super::demo::in_child(|| Seen::of(unshare_user(), |_| 0))
        .unwrap_or_else(|e| Seen::of::<()>(Err(e), |_| 0))
}

/// The magic number of ext2/3/4, at byte 1080 of the device (superblock at 1024,
/// s_magic at 0x38).
pub const EXT_MAGIC: u16 = 0xEF53;

/// The disk way out: mknod(2) of a block device (`major`:`minor`, the host's root) in
/// /tmp (or /), then open it read-only and read the 2-byte magic of its superblock, then
/// unlink the node. Nothing is ever written to the device. Returns the magic in `n`, or
/// the errno of the step that failed in `errno` and the step in `text`.
pub fn mknod_and_read(major: u64, minor: u64) -> Seen {
    use std::io::{Read, Seek, SeekFrom};
    let dir = if Path::new("/tmp").is_dir() {
        "/tmp"
    } else {
        "/"
    };
    let node = format!(
        "{}/.hako-disk-{}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    let dev = libc::makedev(major as u32, minor as u32);
    let r = nix::sys::stat::mknod(
        node.as_str(),
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        dev,
    );
    trace(
        || format!("mknod(\"{node}\", S_IFBLK|0600, makedev({major}, {minor}))"),
        "2 mknod",
        &r,
    );
    if let Err(e) = r {
        return Seen {
            errno: Some(e as i32),
            n: 0,
            text: "mknod".into(),
        };
    }
    let read = (|| -> Result<u16, Errno> {
        let mut f = std::fs::File::open(&node).map_err(|e| super::common::io_errno(&e))?;
        f.seek(SeekFrom::Start(1080))
            .map_err(|e| super::common::io_errno(&e))?;
        let mut b = [0u8; 2];
        f.read_exact(&mut b)
            .map_err(|e| super::common::io_errno(&e))?;
        Ok(u16::from_le_bytes(b))
    })();
    trace_as(
        || format!("open(\"{node}\", O_RDONLY) + pread(2 bytes at 1080)"),
        "2 open",
        &read,
        |m| format!("magic {m:#06x}"),
    );
    let _ = std::fs::remove_file(&node);
    match read {
        Ok(m) => Seen {
            errno: None,
            n: m as u64,
            text: String::new(),
        },
        Err(e) => Seen {
            errno: Some(e as i32),
            n: 0,
            text: "open".into(),
        },
    }
}

/// Shifts the owners of a rootfs hako made into the mapped range (uid u → MAP_OUTSIDE + u
/// for u < MAP_COUNT), without following links, as `podman`'s and `docker
/// --userns-remap`'s storage does: root inside then owns its files. chown clears the
/// set-user-ID and set-group-ID bits, so the mode is put back after it.
pub fn shift_owners(root: &Path) -> Result<u64, SysError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut n = 0u64;
    let mut stack = vec![root.to_path_buf()];
    let shift = |id: u32| {
        if id < MAP_COUNT {
            MAP_OUTSIDE + id
        } else {
            id
        }
    };
    while let Some(p) = stack.pop() {
        let at = |call: &'static str| {
            let p = p.display().to_string();
            move |e: std::io::Error| SysError::on(call, p, super::common::io_errno(&e))
        };
        let m = std::fs::symlink_metadata(&p).map_err(at("lstat"))?;
        std::os::unix::fs::lchown(&p, Some(shift(m.uid())), Some(shift(m.gid())))
            .map_err(at("lchown"))?;
        if !m.file_type().is_symlink() && m.mode() & 0o6000 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(at("chmod"))?;
        }
        n += 1;
        if m.is_dir()
            && m.dev()
                == std::fs::symlink_metadata(root)
                    .map(|r| r.dev())
                    .unwrap_or(0)
        {
            // A directory left unread would keep the host's owners inside.
            let rd = std::fs::read_dir(&p).map_err(at("opendir"))?;
            for e in rd {
                stack.push(e.map_err(at("readdir"))?.path());
            }
        }
    }
    trace(
        || {
            format!(
                "lchown(…) ×{n} under \"{}\" (uid/gid + {MAP_OUTSIDE})",
                root.display()
            )
        },
        "2 lchown",
        &Ok::<(), Errno>(()),
    );
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter, installed in a forked child (no_new_privs first, so no privilege is
    /// needed), refuses io_uring and every personality value but the allowed five. The child
    /// reports each answer as one bit of its exit status.
    #[test]
    fn filter_refuses_io_uring_and_unusual_personalities() {
        let prog = filter().expect("the filter compiles");
        // SAFETY: the child makes only raw system calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            unsafe {
                let mut bits = 0;
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(100);
                }
                let fprog = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                if libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &fprog as *const libc::sock_fprog,
                ) != 0
                {
                    libc::_exit(101);
                }
                let eperm = || *libc::__errno_location() == libc::EPERM;
                let mut params = [0u8; 120];
                if libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()) == -1 && eperm()
                {
                    bits |= 1;
                }
                if libc::syscall(libc::SYS_io_uring_enter, 0, 0, 0, 0, 0, 0) == -1 && eperm() {
                    bits |= 2;
                }
                // READ_IMPLIES_EXEC: refused. The high half is ignored (32-bit compare).
                if libc::personality(0x0400000) == -1 && eperm() {
                    bits |= 4;
                }
                if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) != -1 {
                    bits |= 8;
                }
                if libc::syscall(libc::SYS_personality, 0x1_0000_0000u64) != -1 {
                    bits |= 16;
                }
                libc::_exit(bits);
            }
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 31, "answers as bits");
    }

    #[test]
    fn blocked_names_are_unique_and_include_io_uring() {
        let names: Vec<&str> = blocked().iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for n in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            assert!(names.contains(&n), "{n}");
        }
    }
}
