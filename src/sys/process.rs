//! Starting processes in ways std cannot on its own: chrooted, for the rootfs check.
#![allow(unsafe_code)]

use nix::errno::Errno;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Runs `argv` with `root` as its root directory (chroot(2) + chdir("/") in the child,
/// between fork and exec), with stdio on /dev/null. The proof that a rootfs works:
/// the kernel resolves the program, its interpreter and libraries inside it.
pub fn run_chrooted(root: &Path, argv: &[&str]) -> Result<ExitStatus, Errno> {
    let root = root.to_path_buf();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/bin:/usr/bin:/sbin:/usr/sbin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure only makes two syscalls (chroot,
    // chdir) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::chroot(&root)?;
            nix::unistd::chdir("/")?;
            Ok(())
        });
    }
    let r = cmd.status().map_err(|e| super::io_errno(&e));
    super::trace(
        || format!("chroot(\"{}\") + execve(\"{}\")", root_display(argv), argv[0]),
        "2 chroot",
        &r,
    );
    r
}

fn root_display(argv: &[&str]) -> String {
    argv.join(" ")
}
