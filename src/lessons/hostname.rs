//! hostname: `hostname $UUID`, in the new UTS namespace.

use super::context::Context;
use super::fragment::{Fragment, ScriptCtx, UUID};
use super::lesson::Lesson;
use super::view::View;
use crate::error::Result;
use crate::ui::evidence::Check;
use crate::ui::i18n::{t, tf};

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
        let mut c = Check::new(t("hostname.hint"));
        let inside = match View::of(st).map(|v| v.hostname()) {
            Some(Ok(h)) => h,
            Some(Err(e)) => format!("setns: {e}"),
            None => "-".into(),
        };
        c.row(
            t("hostname.row_inside"),
            crate::ui::sanitize::clean(&inside),
            st.uuid.clone(),
            inside == st.uuid,
        );
        let host = crate::sys::ns::hostname();
        c.row(
            t("hostname.row_host"),
            host.clone(),
            tf("hostname.unchanged", &[("h", &st.host_hostname)]),
            host == st.host_hostname,
        );
        c
    }
}
