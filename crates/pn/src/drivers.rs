//! The driver table of the `pn` binary (every driver it ships, by Dovecot's names) and the
//! user's plugin settings the engine loads them from.

use pn_config::{DriverSpec, Location, UserSettings};
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
