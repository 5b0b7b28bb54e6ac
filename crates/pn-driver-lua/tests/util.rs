//! Shared helpers: a log capture, an engine with the lua driver, script files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pn_core::{DriverRegistry, MailboxHost, MemoryOutbox, PushNotifications, PushUser, UserInfo};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One captured log event of the lua driver or the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) level: tracing::Level,
    pub(crate) target: String,
    pub(crate) message: String,
}

/// Collects log lines.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<Line>>>);

impl Capture {
    /// Installs the capture for the current thread.
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()))
    }

    pub(crate) fn take(&self) -> Vec<Line> {
        std::mem::take(&mut *self.0.lock().expect("capture lock"))
    }

    /// The messages of the lua driver at `level`.
    pub(crate) fn lua_messages(lines: &[Line], level: tracing::Level) -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.target == pn_driver_lua::LOG_TARGET && l.level == level)
            .map(|l| l.message.clone())
            .collect()
    }
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        self.0.lock().expect("capture lock").push(Line {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: v.0,
        });
    }
}

/// An engine with only the lua driver.
pub(crate) fn engine(host: Arc<dyn MailboxHost>) -> PushNotifications {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_lua::NAME, pn_driver_lua::init);
    PushNotifications::new(registry, host, Arc::new(MemoryOutbox::new()))
}

/// A user whose `push_notification_driver` is `driver`, plus `extra` settings.
pub(crate) fn user(
    pn: &PushNotifications,
    info: UserInfo,
    driver: &str,
    extra: &[(&str, &str)],
) -> PushUser {
    let mut settings: BTreeMap<String, String> =
        [("push_notification_driver".to_owned(), driver.to_owned())].into();
    for (k, v) in extra {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    pn.user(info, Arc::new(settings))
}

/// Writes a script into `dir` and returns its path.
pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write script");
    path
}

/// `alice@example.com` for `service`.
pub(crate) fn alice(service: &str) -> UserInfo {
    UserInfo::new("alice@example.com", service)
}
