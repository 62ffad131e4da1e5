//! hostname: `hostname $UUID`, in the new UTS namespace.

use super::fragment::{Fragment, ScriptCtx, UUID};
use super::{Check, Lesson};
use crate::agent::{Reply, Request};
use crate::error::Result;
use crate::ui::i18n::{t, tf};
use crate::walk::State;

pub struct Hostname;

fn command(name: &str) -> String {
    format!("hostname {name}")
}

impl Lesson for Hostname {
    fn id(&self) -> &'static str {
        "hostname"
    }

    fn shell(&self, st: &State) -> String {
        command(&st.uuid)
    }

    fn script(&self, _sc: &ScriptCtx) -> Vec<Fragment> {
        vec![Fragment::Inside(command(&format!("\"{UUID}\"")))]
    }

    fn run(&self, st: &mut State) -> Result<Vec<String>> {
        let name = st.uuid.clone();
        st.agent()?
            .call(Request::Hostname { name: name.clone() }, t("hostname.step"))?;
        Ok(vec![format!("sethostname(\"{name}\", {})", name.len())])
    }

    fn check(&self, st: &mut State) -> Check {
        let mut c = Check::new(t("hostname.hint"));
        let inside = match st
            .agent
            .as_mut()
            .map(|a| a.call(Request::GetHostname, t("hostname.step")))
        {
            Some(Ok(Reply::Hostname(h))) => h,
            _ => String::new(),
        };
        c.row(
            t("hostname.row_inside"),
            inside.clone(),
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
