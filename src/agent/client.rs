//! The guide's side of the agent: [`Agent`], with one method per request, each
//! returning its typed answer. What went wrong is an [`AgentError`] (the agent's own
//! failure with its errno, an answer of the wrong kind, a line that is no message, an
//! agent that went away), turned into one sentence of the catalogs when it leaves
//! the agent module as a `crate::error::Error`.

use super::protocol::{line, parse, HardenStep, Probe, Reply, Request};
use crate::error::{Error, Kind, Result};
use crate::sys::demo::{EscapeOutcome, PtyOutcome};
use crate::sys::harden::{Masked, Seen};
use crate::sys::{self, Errno};
use crate::ui::i18n::{t, tf};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;

/// What can go wrong between the guide and the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent tried and the kernel refused: `what` the step was (a sentence of
    /// the catalogs), the call or path it failed `at`, and the errno.
    #[error("{what} (at {at}): {errno}")]
    Failed {
        what: String,
        at: String,
        errno: Errno,
    },
    /// The agent answered, but not what this request gets.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    /// A line that is no message.
    #[error("garbled message: {line}")]
    Garbled { line: String },
    /// The agent went away (its socket closed): killed by `signal`, or exited with
    /// `code`.
    #[error("the agent went away (signal {signal:?}, status {code:?})")]
    Gone {
        signal: Option<i32>,
        code: Option<i32>,
    },
}

impl From<AgentError> for Error {
    /// The one sentence each case gets, from the catalogs.
    fn from(e: AgentError) -> Error {
        match e {
            AgentError::Failed { what, at, errno } => {
                sys::failure(&tf("do.agent_step", &[("what", &what), ("at", &at)]), errno)
            }
            AgentError::Unexpected { expected, got } => Error::failed(tf(
                "err.agent_unexpected",
                &[("expected", &expected), ("got", &got)],
            )),
            AgentError::Garbled { line } => {
                Error::failed(tf("err.agent_garbled", &[("line", &line)]))
            }
            AgentError::Gone {
                signal: Some(9), ..
            } => Error::failed(t("err.agent_killed")),
            AgentError::Gone {
                signal: Some(sig), ..
            } => Error::failed(tf("err.agent_signal", &[("sig", &sig)])),
            AgentError::Gone { signal: None, code } => {
                Error::failed(tf("err.agent_exited", &[("code", &code.unwrap_or(-1))]))
            }
        }
    }
}

/// An answer of the wrong kind.
fn unexpected(expected: &'static str, got: &Reply) -> AgentError {
    AgentError::Unexpected {
        expected,
        got: got.name(),
    }
}

/// What each request does, as the sentence an error names (the step's own line in
/// the catalogs, the one its lesson shows).
fn label(req: &Request) -> &'static str {
    t(match req {
        Request::Join { .. } => "ns.step_join",
        Request::Unshare => "ns.step_unshare",
        Request::Fork => "ns.step_fork",
        Request::MountProc { .. } => "proc.step",
        Request::Devpts { .. } => "devpts.step",
        Request::DevNull { .. } => "devnull.step",
        Request::Hostname { .. } => "hostname.step",
        Request::Chroot { .. } => "chroot.step",
        Request::OpenStdio { .. } => "do.open_terminal",
        Request::Exec { .. } => "chroot.step_exec",
        Request::PtmxDemo { .. } => "devpts.demo_step",
        Request::EscapeDemo => "chroot.demo_step",
        Request::Trace { .. } => "label.trace_on",
        Request::Harden(step) => match step {
            HardenStep::UnshareUser => "userns.step_unshare",
            HardenStep::BecomeRoot { .. } => "userns.step_root",
            HardenStep::PivotRoot { .. } => "pivot.step",
            HardenStep::CgroupNs => "cgroupns.step",
            HardenStep::Masks => "masks.step",
            HardenStep::Caps { .. } => "caps.step",
            HardenStep::NoNewPrivs => "nnp.step",
            HardenStep::Seccomp => "seccomp.step",
        },
        Request::Probe(_) => "harden.step_probe",
    })
}

/// The command's standard descriptors, as PID 1 set them up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdio {
    /// A pty of its own, `/dev/pts/N` inside (the guide keeps the master).
    Pty(u32),
    /// Pipes that stand for hako's terminal as these descriptors (1, 2).
    Pipes(Vec<i32>),
}

/// The guide's handle on the agent and, after the fork, on PID 1.
pub struct Agent {
    child: Child,
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    /// PID 1 of the new PID namespace, as the host sees it.
    pub pid1: Option<i32>,
    /// PID 1 is stopped at its exec, traced by the guide.
    pub stopped: bool,
    /// The command's exit status, once it ended (the agent is reaped then).
    pub status: Option<i32>,
    /// The master of the command's terminal, when it has one.
    pub master: Option<std::os::fd::OwnedFd>,
    /// The read ends of the pipes that stand for hako's terminal as the command's
    /// stdout or stderr (stdin not a terminal): (1 or 2, read end).
    pub pipes: Vec<(i32, std::os::fd::OwnedFd)>,
    /// The command is in a session of its own while hako's terminal is not its own:
    /// Ctrl-C reaches hako only, which passes it on to the command's process group.
    pub forward_sigint: bool,
}

impl Agent {
    pub fn spawn() -> Result<Agent> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| sys::failure(t("do.socketpair"), sys::io_errno(&e)))?;
        let child = sys::process::spawn_agent(theirs.as_raw_fd())
            .map_err(|e| sys::failure(t("do.spawn_agent"), e))?;
        // Our copy of the agent's end closes here: only the agent holds it now, so when
        // it (or PID 1 after it) exits or execs, a read here sees EOF.
        drop(theirs);
        Agent::over(child, ours)
    }

    /// The handle on an agent process `child` that answers on `stream`.
    fn over(child: Child, stream: UnixStream) -> Result<Agent> {
        let reader = BufReader::new(
            stream
                .try_clone()
                .map_err(|e| sys::failure(t("do.socketpair"), sys::io_errno(&e)))?,
        );
        Ok(Agent {
            child,
            stream,
            reader,
            pid1: None,
            stopped: false,
            status: None,
            master: None,
            pipes: vec![],
            forward_sigint: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    // ------------------------------------------------------------ the messages

    fn send(&mut self, req: &Request) -> std::result::Result<(), AgentError> {
        if self.stream.write_all(line(req).as_bytes()).is_err() {
            return Err(self.gone());
        }
        Ok(())
    }

    /// Reads one reply; EOF means the agent is gone.
    fn recv(&mut self) -> std::result::Result<Reply, AgentError> {
        let mut text = String::new();
        match self.reader.read_line(&mut text) {
            Ok(0) | Err(_) => Err(self.gone()),
            Ok(_) => parse(&text).ok_or_else(|| AgentError::Garbled {
                line: text.trim().to_string(),
            }),
        }
    }

    /// Sends a request and returns its reply; a `Failed` reply becomes the error
    /// that says what failed and why.
    fn call(&mut self, req: &Request) -> std::result::Result<Reply, AgentError> {
        self.send(req)?;
        match self.recv()? {
            Reply::Failed { errno, at } => Err(AgentError::Failed {
                what: label(req).to_string(),
                at,
                errno: Errno::from_raw(errno),
            }),
            r => Ok(r),
        }
    }

    /// A request whose answer is `Done`: the paths it created.
    fn done(&mut self, req: &Request) -> Result<Vec<PathBuf>> {
        match self.call(req)? {
            Reply::Done { created } => Ok(created),
            other => Err(unexpected("Done", &other).into()),
        }
    }

    // ------------------------------------------------------------ one method per request

    /// The agent writes its PID into these `cgroup.procs` files.
    pub fn join(&mut self, procs: &[PathBuf]) -> Result<()> {
        self.done(&Request::Join {
            procs: procs.to_vec(),
        })
        .map(drop)
    }

    /// unshare(2) of the five namespaces, and / made recursively private.
    pub fn unshare(&mut self) -> Result<()> {
        self.done(&Request::Unshare).map(drop)
    }

    /// fork(2): PID 1 of the new PID namespace serves from now on. Returns its PID
    /// as the host sees it (also kept in `pid1`).
    pub fn fork(&mut self) -> Result<i32> {
        match self.call(&Request::Fork)? {
            Reply::Forked { pid } => {
                self.pid1 = Some(pid);
                Ok(pid)
            }
            other => Err(unexpected("Forked", &other).into()),
        }
    }

    /// Mounts a proc at `root`/proc; returns what it created there.
    pub fn mount_proc(&mut self, root: &Path) -> Result<Vec<PathBuf>> {
        self.done(&Request::MountProc {
            root: root.to_path_buf(),
        })
    }

    /// Mounts a new devpts instance at `root`/dev/pts, with `root`/dev/ptmx to its
    /// ptmx; returns what it created.
    pub fn devpts(&mut self, root: &Path) -> Result<Vec<PathBuf>> {
        self.done(&Request::Devpts {
            root: root.to_path_buf(),
        })
    }

    /// Binds the host's /dev/null on `root`/dev/null; returns what it created.
    pub fn dev_null(&mut self, root: &Path) -> Result<Vec<PathBuf>> {
        self.done(&Request::DevNull {
            root: root.to_path_buf(),
        })
    }

    pub fn sethostname(&mut self, name: &str) -> Result<()> {
        self.done(&Request::Hostname {
            name: name.to_string(),
        })
        .map(drop)
    }

    /// chroot + chdir + CAP_SYS_CHROOT dropped.
    pub fn chroot(&mut self, root: &Path) -> Result<()> {
        self.done(&Request::Chroot {
            root: root.to_path_buf(),
        })
        .map(drop)
    }

    /// --trace inside on or off from now on.
    pub fn trace(&mut self, on: bool) -> Result<()> {
        self.done(&Request::Trace { on }).map(drop)
    }

    /// One confining step of `--harden` whose answer is `Done` (every step but
    /// `Masks`, which has [`Agent::mask_paths`]).
    pub fn harden(&mut self, step: HardenStep) -> Result<()> {
        self.done(&Request::Harden(step)).map(drop)
    }

    /// `--harden`'s masks: what was done to each path.
    pub fn mask_paths(&mut self) -> Result<Vec<(String, Masked)>> {
        match self.call(&Request::Harden(HardenStep::Masks))? {
            Reply::Masked(list) => Ok(list),
            other => Err(unexpected("Masked", &other).into()),
        }
    }

    /// What PID 1 sees when it tries something, for a check.
    pub fn probe(&mut self, p: Probe) -> Result<Seen> {
        match self.call(&Request::Probe(p))? {
            Reply::Seen(s) => Ok(s),
            other => Err(unexpected("Seen", &other).into()),
        }
    }

    /// The article's ptmx recipe and the fixed one: (article, fixed).
    pub fn ptmx_demo(&mut self, root: &Path) -> Result<(PtyOutcome, PtyOutcome)> {
        match self.call(&Request::PtmxDemo {
            root: root.to_path_buf(),
        })? {
            Reply::Ptmx { article, fixed } => Ok((*article, *fixed)),
            other => Err(unexpected("Ptmx", &other).into()),
        }
    }

    /// The classic chroot escape, with CAP_SYS_CHROOT and without: (with, without).
    pub fn escape_demo(&mut self) -> Result<(EscapeOutcome, EscapeOutcome)> {
        match self.call(&Request::EscapeDemo)? {
            Reply::Escape { with_cap, without } => Ok((*with_cap, *without)),
            other => Err(unexpected("Escape", &other).into()),
        }
    }

    /// Asks PID 1 to stand in for each of hako's standard descriptors that is a
    /// terminal: a pty of the command's own when stdin is one, else pipes. Keeps the
    /// guide's ends; None when no descriptor is a terminal.
    pub fn open_stdio(&mut self) -> Result<Option<Stdio>> {
        let ttys = sys::tty::terminals();
        if !ttys.iter().any(|t| *t) {
            return Ok(None);
        }
        let req = Request::OpenStdio { ttys };
        self.send(&req)?;
        let (text, mut fds) = sys::tty::recv_fds(self.stream.as_raw_fd())
            .map_err(|e| sys::failure(t("do.open_terminal"), e))?;
        if text.is_empty() {
            return Err(self.died());
        }
        let reply = parse::<Reply>(&text).ok_or_else(|| AgentError::Garbled {
            line: text.trim().to_string(),
        })?;
        match reply {
            Reply::Stdio { pty, pipes } if fds.len() == pty.map_or(pipes.len(), |_| 1) => {
                Ok(Some(match pty {
                    Some(n) => {
                        self.master = fds.pop();
                        Stdio::Pty(n)
                    }
                    None => {
                        self.pipes = pipes.iter().copied().zip(fds).collect();
                        self.forward_sigint = true;
                        Stdio::Pipes(pipes)
                    }
                }))
            }
            Reply::Failed { errno, at } => Err(AgentError::Failed {
                what: label(&req).to_string(),
                at,
                errno: Errno::from_raw(errno),
            }
            .into()),
            _ => Err(AgentError::Garbled {
                line: text.trim().to_string(),
            }
            .into()),
        }
    }

    /// Asks PID 1 to become the command: `execve(path, argv, env)`. No answer comes
    /// when it works (the socket closes at the exec); the guide sees the exec from
    /// outside. When it did not happen, [`Agent::exec_failure`] reads why.
    pub fn exec(&mut self, path: &str, argv: &[String], env: &[(String, String)]) -> Result<()> {
        self.send(&Request::Exec {
            path: path.to_string(),
            argv: argv.to_vec(),
            env: env.to_vec(),
        })?;
        Ok(())
    }

    /// After an `exec` that did not happen: the errno execve(2) (or the set-up
    /// before it) failed with.
    pub fn exec_failure(&mut self) -> Result<Errno> {
        match self.recv()? {
            Reply::Failed { errno, .. } => Ok(Errno::from_raw(errno)),
            other => Err(unexpected("Failed", &other).into()),
        }
    }

    // ------------------------------------------------------------ the process

    /// Why the agent's socket closed: its exit, once reaped.
    fn gone(&mut self) -> AgentError {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.wait().ok();
        AgentError::Gone {
            signal: status.and_then(|s| s.signal()),
            code: status.and_then(|s| s.code()),
        }
    }

    /// The sentence for an agent that went away mid-walk.
    pub fn died(&mut self) -> Error {
        self.gone().into()
    }

    /// Waits for the agent, which waits for PID 1 and passes its status on. Ctrl-C
    /// belongs to the command meanwhile (the terminal sends it there too); SIGTERM or
    /// SIGHUP to hako end the container: SIGTERM to PID 1, then SIGKILL after a grace
    /// period, since PID 1 ignores signals it has no handler for.
    pub fn wait_command(&mut self) -> Result<i32> {
        use crate::sys::pids::kill;
        use crate::sys::signals;
        use crate::sys::Signal;
        let agent = self.pid();
        let mut term_at: Option<std::time::Instant> = None;
        loop {
            match sys::pids::wait(agent, term_at.is_some()) {
                Ok(Some(c)) => {
                    self.status = Some(c);
                    break;
                }
                Ok(None) | Err(Errno::EINTR) => {}
                Err(_) => {
                    self.status = Some(Kind::Failed.code());
                    break;
                }
            }
            match signals::peek() {
                Some(Signal::SIGINT) => {
                    signals::take();
                    self.pass_sigint();
                }
                Some(_) if term_at.is_none() => {
                    if let Some(p) = self.pid1 {
                        let _ = kill(p, Signal::SIGTERM);
                    }
                    term_at = Some(std::time::Instant::now());
                }
                _ => {}
            }
            if let Some(t0) = term_at {
                if t0.elapsed() > std::time::Duration::from_millis(1500) {
                    if let Some(p) = self.pid1 {
                        let _ = kill(p, Signal::SIGKILL);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if term_at.is_some() {
            signals::take();
            return Err(Error::new(Kind::Terminated, t("err.terminated")));
        }
        Ok(self.status.unwrap_or(0))
    }

    /// Ctrl-C typed while the command runs in a session of its own (pipes for hako's
    /// terminal): SIGINT to its process group, as the terminal would have sent it.
    pub fn pass_sigint(&self) {
        use crate::sys::pids::kill;
        use crate::sys::Signal;
        if let (true, Some(p), None) = (self.forward_sigint, self.pid1, self.status) {
            let _ = kill(-p, Signal::SIGINT);
        }
    }

    /// Ends the container now: SIGKILL to PID 1 and the agent (PID 1 of a namespace
    /// ignores every other signal it has no handler for), then reaps the agent.
    pub fn kill(&mut self) {
        use crate::sys::pids::kill;
        use crate::sys::Signal;
        if self.status.is_some() {
            return; // reaped: its PID may belong to someone else by now
        }
        if let Some(p) = self.pid1 {
            let _ = kill(p, Signal::SIGKILL);
        }
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn alive(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.alive() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request a caller can make, one of each.
    fn every_request() -> Vec<Request> {
        let root = PathBuf::from("/r");
        let mut all = vec![
            Request::Join { procs: vec![] },
            Request::Unshare,
            Request::Fork,
            Request::MountProc { root: root.clone() },
            Request::Devpts { root: root.clone() },
            Request::DevNull { root: root.clone() },
            Request::Hostname { name: "h".into() },
            Request::Chroot { root: root.clone() },
            Request::OpenStdio { ttys: [true; 3] },
            Request::Exec {
                path: "/bin/sh".into(),
                argv: vec![],
                env: vec![],
            },
            Request::PtmxDemo { root: root.clone() },
            Request::EscapeDemo,
            Request::Trace { on: false },
            Request::Probe(Probe::Mount),
        ];
        for step in [
            HardenStep::UnshareUser,
            HardenStep::BecomeRoot { guide: 1 },
            HardenStep::PivotRoot { root },
            HardenStep::CgroupNs,
            HardenStep::Masks,
            HardenStep::Caps { keep: 0 },
            HardenStep::NoNewPrivs,
            HardenStep::Seccomp,
        ] {
            all.push(Request::Harden(step));
        }
        all
    }

    #[test]
    fn every_request_is_named_by_a_sentence_of_the_catalogs() {
        for req in every_request() {
            let l = label(&req);
            // `t` gives the key back when the catalogs lack it.
            assert!(
                l.contains(' ') && !l.contains(".step"),
                "{req:?} is labelled {l:?}"
            );
        }
    }

    #[test]
    fn an_unexpected_answer_is_one_sentence_naming_both() {
        let e = unexpected("Mounted", &Reply::Forked { pid: 3 });
        assert!(matches!(
            e,
            AgentError::Unexpected {
                expected: "Mounted",
                got: "Forked"
            }
        ));
        assert_eq!(e.to_string(), "expected Mounted, got Forked");
        let err: Error = e.into();
        assert_eq!(err.kind, Kind::Failed);
        assert!(err.msg.contains("Mounted") && err.msg.contains("Forked"));
        assert!(
            !err.msg.contains('{') && !err.msg.contains('\n'),
            "{}",
            err.msg
        );
    }

    #[test]
    fn the_agents_own_failure_keeps_the_step_the_place_and_the_errno() {
        let err: Error = AgentError::Failed {
            what: label(&Request::Hostname { name: "h".into() }).to_string(),
            at: "sethostname".into(),
            errno: Errno::EPERM,
        }
        .into();
        assert_eq!(err.kind, Kind::Failed);
        for part in [t("hostname.step"), "sethostname", "EPERM"] {
            assert!(err.msg.contains(part), "{} lacks {part}", err.msg);
        }
    }

    /// An agent that answers each request with the next of `replies` (raw lines), then
    /// closes its socket; the process behind it is `sh -c 'exit 3'`.
    fn fake(replies: Vec<String>) -> (Agent, std::thread::JoinHandle<Vec<String>>) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("sh");
        let served = std::thread::spawn(move || {
            let mut reader = BufReader::new(theirs.try_clone().expect("clone"));
            let mut out = theirs;
            let mut asked = vec![];
            for r in replies {
                let mut text = String::new();
                if reader.read_line(&mut text).unwrap_or(0) == 0 {
                    break;
                }
                asked.push(text);
                out.write_all(r.as_bytes()).expect("reply");
            }
            asked
        });
        (Agent::over(child, ours).expect("agent"), served)
    }

    #[test]
    fn each_method_gets_its_typed_answer_or_a_typed_error() {
        let replies = vec![
            line(&Reply::Done {
                created: vec![PathBuf::from("/r/proc")],
            }),
            line(&Reply::Forked { pid: 4321 }),
            line(&Reply::Failed {
                errno: Errno::EPERM as i32,
                at: "sethostname".into(),
            }),
            line(&Reply::Masked(vec![("/proc/kcore".into(), Masked::Null)])),
            "not json\n".to_string(),
        ];
        let (mut a, served) = fake(replies);
        let root = PathBuf::from("/r");
        assert_eq!(a.mount_proc(&root).expect("Done"), vec![root.join("proc")]);
        // A Forked where Done was due: expected Done, got Forked.
        let e = a.chroot(&root).expect_err("wrong answer");
        assert!(
            e.msg.contains("Done") && e.msg.contains("Forked"),
            "{}",
            e.msg
        );
        assert_eq!(a.pid1, None);
        let e = a.sethostname("h").expect_err("refused");
        assert!(
            e.msg.contains(t("hostname.step")) && e.msg.contains("EPERM"),
            "{}",
            e.msg
        );
        assert_eq!(a.mask_paths().expect("Masked").len(), 1);
        let e = a.unshare().expect_err("garbled");
        assert!(e.msg.contains("not json"), "{}", e.msg);
        // The socket closed: the agent is gone, and its exit status says how.
        let e = a.fork().expect_err("gone");
        assert!(e.msg.contains('3'), "{}", e.msg);
        let asked = served.join().expect("served");
        let asked: Vec<Request> = asked.iter().filter_map(|l| parse(l)).collect();
        assert!(matches!(asked[0], Request::MountProc { .. }));
        assert!(matches!(asked[1], Request::Chroot { .. }));
        assert!(matches!(asked[2], Request::Hostname { ref name } if name == "h"));
        assert!(matches!(asked[3], Request::Harden(HardenStep::Masks)));
        assert!(matches!(asked[4], Request::Unshare));
    }

    #[test]
    fn an_agent_that_went_away_says_how() {
        let killed: Error = AgentError::Gone {
            signal: Some(9),
            code: None,
        }
        .into();
        assert_eq!(killed.msg, t("err.agent_killed"));
        let exited: Error = AgentError::Gone {
            signal: None,
            code: Some(125),
        }
        .into();
        assert!(exited.msg.contains("125"), "{}", exited.msg);
        let garbled: Error = AgentError::Garbled {
            line: "{\"Nope\":1}".into(),
        }
        .into();
        assert!(garbled.msg.contains("Nope"), "{}", garbled.msg);
    }
}
