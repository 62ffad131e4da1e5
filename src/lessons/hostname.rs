//! hostname: `hostname $UUID`, in the new UTS namespace.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, UUID};
use super::judge;
use super::lesson::Lesson;
use super::task::{Setup, Task, Verdict};
use super::view::View;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{fill, lang, t, t_in, tf, Lang};

pub struct Hostname;

fn command(name: &str) -> String {
    format!("hostname {name}")
}

impl Lesson for Hostname {
    fn id(&self) -> &'static str {
        "hostname"
    }

    fn shell(&self, st: &Context) -> String {
        command(&st.uuid)
    }

    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(command(&format!("\"{UUID}\"")))]
    }

    fn run(&self, st: &mut Context) -> Result<Vec<String>> {
        let name = st.uuid.clone();
        st.agent()?.sethostname(&name)?;
        Ok(vec![format!("sethostname(\"{name}\", {})", name.len())])
    }

    /// From the host: uname(2) by a thread that joined the container's UTS
    /// namespace, and the host's own hostname.
    fn check(&self, st: &mut Context) -> Check {
        evidence(View::of(st).as_ref(), &st.uuid, &st.host_hostname)
    }

    fn task(&self) -> Option<&dyn Task> {
        Some(self)
    }
}

/// The evidence: the hostname in the container's UTS namespace (uname(2) by a thread
/// that joined it) is `uuid`, and the host's is still `host_was`.
pub fn evidence(view: Option<&View>, uuid: &str, host_was: &str) -> Check {
    let mut c = Check::new(t("hostname.hint"));
    let inside = match view.map(|v| v.hostname()) {
        Some(Ok(h)) => h,
        Some(Err(e)) => format!("setns: {e}"),
        None => "-".into(),
    };
    c.row(
        t("hostname.row_inside"),
        crate::ui::sanitize::clean(&inside),
        uuid.to_string(),
        inside == uuid,
    );
    let host = crate::sys::ns::hostname();
    c.row(
        t("hostname.row_host"),
        host.clone(),
        tf("hostname.unchanged", &[("h", &host_was)]),
        host == host_was,
    );
    c
}

impl Task for Hostname {
    fn id(&self) -> &'static str {
        "hostname"
    }
    fn inside(&self) -> bool {
        true
    }
    fn solve(&self, s: &Setup) -> Vec<String> {
        vec![command(&s.uuid)]
    }
    fn judge(&self, s: &Setup) -> Verdict {
        judged(lang(), s)
    }
}

/// The judge, in language `l`.
fn judged(l: Lang, s: &Setup) -> Verdict {
    let found = judge::find(s);
    let view = found.view(s);
    let c = evidence(view.as_ref(), &s.uuid, &s.host_hostname);
    let host = crate::sys::ns::hostname();
    let wrong = judge::wrong_gone(l, &found).or((host != s.host_hostname).then(|| {
        fill(
            t_in(l, "hostname.wrong_host"),
            &[
                ("now", &crate::ui::sanitize::clean(&host)),
                ("was", &crate::ui::sanitize::clean(&s.host_hostname)),
            ],
        )
    }));
    judge::verdict(l, "hostname", c, wrong)
}
