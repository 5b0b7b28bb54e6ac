//! The driver table of the `pn` binary (every driver it ships, by Dovecot's names) and the
//! user's plugin settings the engine loads them from.

use pn_config::{DriverSpec, Location, Settings, UserSettings};
use pn_core::{DriverRegistry, PluginEnv};

/// All drivers pn ships, registered under the names Dovecot uses.
pub(crate) fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    registry.register(pn_driver_ox::NAME, pn_driver_ox::init);
    registry.register(pn_driver_lua::NAME, pn_driver_lua::init);
    registry.register(pn_driver_webhook::NAME, pn_driver_webhook::init);
    registry.register(
        pn_driver_push::devicetoken::NAME,
        pn_driver_push::devicetoken::init,
    );
    registry.register(pn_driver_push::webpush::NAME, pn_driver_push::webpush::init);
    registry
}

/// Plugin settings of one user with the config lines they came from, and the driver lists
/// pn-config built: 2.3's numbered keys followed by 2.4's `push_notification NAME { }`
/// filters, which the engine could not find among the plugin settings.
pub(crate) struct UserPlugin(pub(crate) UserSettings);

impl PluginEnv for UserPlugin {
    fn get(&self, key: &str) -> Option<String> {
        self.0.plugin.get(key).cloned()
    }

    fn location(&self, key: &str) -> Option<Location> {
        self.0.locations.get(key).cloned()
    }

    fn driver_specs(&self, root: &str) -> Option<Vec<DriverSpec>> {
        match root {
            "push_notification_driver" => Some(self.0.drivers.clone()),
            "push_notification_backend" => Some(self.0.backends.clone()),
            _ => None,
        }
    }
}

/// Sends what a one-shot command's drivers queued, then hands every item a push service
/// answered `404`/`410` to `pn_driver_push::gone::on_gone`, which removes the dead device
/// token or Web Push subscription from the user's METADATA. The dispatcher's outcomes come
/// in queue order, so they pair with the items taken from the queue here.
pub(crate) fn drain_with_feedback(
    dispatcher: &pn_dispatch::Dispatcher,
    outbox: &pn_core::MemoryOutbox,
    host: &dyn pn_core::MailboxHost,
    user: &pn_core::UserInfo,
) {
    use pn_core::Outbox as _;
    let items: Vec<pn_core::OutboxItem> = outbox.take_all().into_iter().map(|(_, i)| i).collect();
    let batch = pn_core::MemoryOutbox::new();
    for item in &items {
        if let Err(e) = batch.enqueue(item.clone()) {
            tracing::error!("Could not queue {}: {e}", item.event_id);
        }
    }
    let outcomes = dispatcher.drain_blocking(&batch);
    for (item, outcome) in items.iter().zip(&outcomes) {
        if !pn_driver_push::gone::is_gone(outcome.status) {
            continue;
        }
        forget_gone(host, user, item);
    }
}

/// Removes the device token or Web Push subscription `item` was sent to, after its push
/// service answered `404`/`410`.
pub(crate) fn forget_gone(
    host: &dyn pn_core::MailboxHost,
    user: &pn_core::UserInfo,
    item: &pn_core::OutboxItem,
) {
    match pn_driver_push::gone::on_gone(host, user, item) {
        Ok(true) => tracing::info!(
            target: "pn_driver_push",
            "{}: removed the destination of {}: its push service reports it gone",
            item.driver,
            item.event_id
        ),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(target: "pn_driver_push", "{}: not removed: {e}", item.driver)
        }
    }
}

/// The `special_use` mailboxes of every `namespace NAME { mailbox NAME { special_use = … } }`
/// as the plugin value `pn_special_use` (`pn_driver_webhook::special_use`); `None` when the
/// configuration flags none. Section names are relative to their namespace, as pn's one
/// namespace has no prefix; a namespace `separator` other than `/` becomes pn's `/`.
pub(crate) fn special_use(settings: &Settings) -> Option<String> {
    let mut mailboxes: Vec<(String, String)> = Vec::new();
    for (path, setting) in settings.iter() {
        let [ns, mailbox] = path.sections.as_slice() else {
            continue;
        };
        let Some(name) = mailbox.name.as_deref() else {
            continue;
        };
        if ns.kind != "namespace" || mailbox.kind != "mailbox" || path.key != "special_use" {
            continue;
        }
        let separator = settings
            .get_path(&pn_config::SettingPath {
                sections: vec![ns.clone()],
                key: "separator".to_owned(),
            })
            .map(|s| s.value.to_string())
            .filter(|s| s.chars().count() == 1 && s != "/");
        let name = match separator {
            Some(sep) => name.replace(sep.as_str(), "/"),
            None => name.to_owned(),
        };
        mailboxes.push((name, setting.value.to_string()));
    }
    (!mailboxes.is_empty()).then(|| {
        pn_driver_webhook::special_use::encode(
            mailboxes.iter().map(|(n, f)| (n.as_str(), f.as_str())),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(text: &str) -> Settings {
        pn_config::Config::parse_str(
            text,
            std::path::Path::new("test.conf"),
            &pn_config::ParseOptions::default(),
        )
        .unwrap()
        .effective("lmtp")
    }

    #[test]
    fn special_use_mailboxes_of_every_namespace() {
        let s = settings(
            "namespace inbox {\n  separator = .\n  mailbox Junk {\n    special_use = \\Junk\n  }\n  \
             mailbox Archive.Spam {\n    special_use = \\Junk\n  }\n  \
             mailbox \"Sent Messages\" {\n    special_use = \\Sent\n  }\n  \
             mailbox Other {\n    auto = create\n  }\n}\n\
             namespace other {\n  mailbox Bin {\n    special_use = \\Trash\n  }\n}\n",
        );
        let value = special_use(&s).unwrap();
        let mut junk = pn_driver_webhook::special_use::junk_or_trash(&value);
        junk.sort();
        assert_eq!(junk, ["Archive/Spam", "Bin", "Junk"]);
        assert!(value.contains("Sent Messages\t\\Sent\n"), "{value:?}");
        assert_eq!(special_use(&settings("plugin {\n  a = b\n}\n")), None);
    }
}
