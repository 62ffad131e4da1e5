//! Step 6 of `--harden`: no_new_privs.
#![allow(unsafe_code)]

use crate::sys::tracer::trace;
use nix::errno::Errno;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// no_new_privs belongs to the thread that sets it (and what it starts after): set in
    /// a thread of its own, it reads back as 1 there, and the test's thread is untouched.
    #[test]
    fn no_new_privs_is_set_and_reads_back() {
        // SAFETY: prctl with integer arguments.
        let get = || unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
        let before = get();
        let (r, after) = std::thread::spawn(move || {
            let r = no_new_privs();
            (r, get())
        })
        .join()
        .unwrap();
        assert_eq!(r, Ok(()));
        assert_eq!(after, 1);
        assert_eq!(get(), before);
    }
}
