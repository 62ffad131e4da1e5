//! A process's seccomp filter, read back from the kernel and run on a call from here.
//!
//! ptrace(2) `PTRACE_SECCOMP_GET_FILTER` copies out the classic BPF program a stopped
//! tracee runs on each of its system calls (seccomp(2)). [`run`] interprets such a
//! program on a `struct seccomp_data` the way the kernel does, so the host can say what
//! the filter answers to a call without the process making it.

use nix::errno::Errno;

/// A classic BPF instruction (`struct sock_filter`, linux/filter.h).
pub type Insn = libc::sock_filter;

/// The architecture this build's filter is for, as seccomp_data.arch names it
/// (AUDIT_ARCH_*, linux/audit.h).
#[cfg(target_arch = "x86_64")]
pub const ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
pub const ARCH: u32 = 0xC000_00B7;

/// linux/ptrace.h (the libc crate does not name it).
const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;

/// The filter `pid` installed last, as the kernel holds it. `pid` must be stopped
/// under this process's ptrace, and this process needs CAP_SYS_ADMIN.
#[allow(unsafe_code)]
pub fn filter_of(pid: i32) -> Result<Vec<Insn>, Errno> {
    let none = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: ptrace(2) PTRACE_SECCOMP_GET_FILTER with a null buffer writes nothing and
    // returns how many instructions filter 0 (the newest) has.
    let n = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0usize, none) };
    let r = if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    };
    super::tracer::trace_as(
        || format!("ptrace(PTRACE_SECCOMP_GET_FILTER, {pid}, 0, NULL)"),
        "2 ptrace",
        &r,
        |n| format!("{n} (instructions)"),
    );
    let n = r?;
    let mut prog = vec![
        Insn {
            code: 0,
            jt: 0,
            jf: 0,
            k: 0
        };
        n
    ];
    // SAFETY: the buffer holds the `n` instructions the kernel said it would copy out.
    let got = unsafe {
        libc::ptrace(
            PTRACE_SECCOMP_GET_FILTER,
            pid,
            0usize,
            prog.as_mut_ptr() as *mut libc::c_void,
        )
    };
    if got < 0 {
        return Err(Errno::last());
    }
    prog.truncate(got as usize);
    Ok(prog)
}

/// A system call as a filter sees it (`struct seccomp_data`, without the instruction
/// pointer, which no filter here reads).
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

impl Call {
    /// unshare(CLONE_NEWUSER): the call the seccomp lesson asks the filter about.
    pub fn unshare_newuser() -> Call {
        Call::new(libc::SYS_unshare, &[libc::CLONE_NEWUSER as u64])
    }

    pub fn new(nr: i64, args: &[u64]) -> Call {
        let mut a = [0u64; 6];
        for (i, v) in args.iter().take(6).enumerate() {
            a[i] = *v;
        }
        Call {
            nr: nr as i32,
            arch: ARCH,
            args: a,
        }
    }

    /// The 32-bit word at byte `off` of seccomp_data (little-endian, as on the
    /// architectures hako builds for); None past its end or off a word boundary.
    fn word(&self, off: u32) -> Option<u32> {
        match off {
            0 => Some(self.nr as u32),
            4 => Some(self.arch),
            8 | 12 => Some(0),
            16..=60 if off % 4 == 0 => {
                let v = self.args[((off - 16) / 8) as usize];
                Some(if off % 8 == 0 {
                    v as u32
                } else {
                    (v >> 32) as u32
                })
            }
            _ => None,
        }
    }
}

/// What the filter returns for `call` (SECCOMP_RET_*), or None when the program does
/// something this interpreter does not know or falls off its end.
pub fn run(prog: &[Insn], call: &Call) -> Option<u32> {
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let code = i.code;
        let src = if code & 0x08 != 0 { x } else { i.k };
        match code & 0x07 {
            // BPF_LD: W ABS / IMM / MEM.
            0x00 => match code & 0xf8 {
                0x20 => a = call.word(i.k)?,
                0x00 => a = i.k,
                0x60 => a = *mem.get(i.k as usize)?,
                _ => return None,
            },
            // BPF_LDX: W IMM / MEM.
            0x01 => match code & 0xf8 {
                0x00 => x = i.k,
                0x60 => x = *mem.get(i.k as usize)?,
                _ => return None,
            },
            0x02 => *mem.get_mut(i.k as usize)? = a,
            0x03 => *mem.get_mut(i.k as usize)? = x,
            // BPF_ALU.
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src)?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src)?,
                    0xa0 => a ^ src,
                    _ => return None,
                }
            }
            // BPF_JMP: forward only.
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc = pc.checked_add(i.k as usize)?;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return None,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            // BPF_RET: K or A.
            0x06 => {
                return match code & 0x18 {
                    0x00 => Some(i.k),
                    0x10 => Some(a),
                    _ => None,
                }
            }
            // BPF_MISC: TAX, TXA.
            _ => match code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                _ => return None,
            },
        }
    }
    None
}

/// A filter's answer, as an errno: Some(Ok(())) when the call is allowed,
/// Some(Err(errno)) when it fails with one, None when it does something else (kill,
/// trap, trace).
pub fn outcome(ret: u32) -> Option<Result<(), Errno>> {
    match ret & libc::SECCOMP_RET_ACTION_FULL {
        libc::SECCOMP_RET_ALLOW => Some(Ok(())),
        libc::SECCOMP_RET_ERRNO => {
            Some(Err(Errno::from_raw((ret & libc::SECCOMP_RET_DATA) as i32)))
        }
        _ => None,
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn ask(nr: i64, args: &[u64]) -> Option<Result<(), Errno>> {
        let prog = crate::sys::harden::filter().unwrap();
        outcome(run(&prog, &Call::new(nr, args))?)
    }

    #[test]
    fn hakos_filter_answers_as_documented() {
        let newuser = libc::CLONE_NEWUSER as u64;
        assert_eq!(ask(libc::SYS_unshare, &[newuser]), Some(Err(Errno::EPERM)));
        assert_eq!(
            ask(libc::SYS_unshare, &[libc::CLONE_NEWNS as u64]),
            Some(Ok(()))
        );
        assert_eq!(ask(libc::SYS_clone, &[newuser]), Some(Err(Errno::EPERM)));
        assert_eq!(ask(libc::SYS_clone3, &[]), Some(Err(Errno::ENOSYS)));
        assert_eq!(ask(libc::SYS_getpid, &[]), Some(Ok(())));
        assert_eq!(ask(libc::SYS_mount, &[]), Some(Err(Errno::EPERM)));
        // An x32 number: refused.
        assert_eq!(
            ask(0x4000_0000 | libc::SYS_getpid, &[]),
            Some(Err(Errno::EPERM))
        );
    }

    #[test]
    fn another_architecture_is_not_allowed() {
        let prog = crate::sys::harden::filter().unwrap();
        let mut c = Call::new(libc::SYS_getpid, &[]);
        c.arch = 0x4000_0003; // AUDIT_ARCH_I386
        let r = run(&prog, &c).unwrap();
        assert_eq!(outcome(r), None, "{r:#x}");
    }

    #[test]
    fn unknown_or_runaway_programs_give_no_answer() {
        let ins = |code: u16, k: u32| Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        let c = Call::new(0, &[]);
        assert_eq!(run(&[], &c), None);
        assert_eq!(run(&[ins(0x20, 0)], &c), None); // falls off the end
        assert_eq!(run(&[ins(0x20, 64), ins(0x06, 0)], &c), None); // past seccomp_data
        assert_eq!(run(&[ins(0x05, 10), ins(0x06, 0)], &c), None); // jumps out
        assert_eq!(run(&[ins(0x06, 0x7fff_0000)], &c), Some(0x7fff_0000));
    }

    #[test]
    fn arguments_are_read_by_halves() {
        let c = Call::new(1, &[0x1111_2222_3333_4444]);
        assert_eq!(c.word(16), Some(0x3333_4444));
        assert_eq!(c.word(20), Some(0x1111_2222));
        assert_eq!(c.word(18), None);
    }
}
