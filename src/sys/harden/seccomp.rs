//! Step 7 of `--harden`: the seccomp filter: the calls it refuses, the program
//! seccompiler builds with hako's own first instructions, and its installation.
#![allow(unsafe_code)]

use crate::sys::tracer::trace_as;
use nix::errno::Errno;

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
