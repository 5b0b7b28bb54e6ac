//! The transaction engine's own cost: one IMAP-like flag change and one delivery, committed,
//! with no driver (`baseline`), with dlog (its log lines filtered out, as in production
//! without debug logging) and with three drivers.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use pn_core::{
    Commit, DriverRegistry, HostError, MailboxHost, MailboxStatus, MemoryOutbox, PushNotifications,
    PushUser, Save, UserInfo,
};
use pn_event::MailFlags;

struct Store;

impl MailboxHost for Store {
    fn status(&self, _user: &UserInfo, _mailbox: &str) -> Result<MailboxStatus, HostError> {
        Ok(MailboxStatus {
            uid_validity: 1,
            ..MailboxStatus::default()
        })
    }
}

fn user(pn: &PushNotifications, drivers: usize) -> PushUser {
    let mut settings = BTreeMap::new();
    for n in 0..drivers {
        let key = match n {
            0 => "push_notification_driver".to_owned(),
            n => format!("push_notification_driver{}", n + 1),
        };
        settings.insert(key, "dlog".to_owned());
    }
    pn.user(
        UserInfo::new("alice@example.com", "imap"),
        Arc::new(settings),
    )
}

fn flag_change(u: &PushUser) {
    let mut t = u.begin_mail_txn("INBOX");
    t.update_flags(
        black_box(7),
        MailFlags::RECENT,
        MailFlags::SEEN | MailFlags::RECENT,
    );
    t.commit(&Commit {
        uid_validity: 1,
        saved_uids: &[],
    });
}

fn delivery(u: &PushUser) {
    let mut t = u.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::RECENT,
        keywords: &[],
        content: &(),
    });
    t.commit(&Commit {
        uid_validity: 1,
        saved_uids: &[black_box(8)],
    });
}

fn engine(c: &mut Criterion) {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    let pn = PushNotifications::new(registry, Arc::new(Store), Arc::new(MemoryOutbox::new()));
    let cases = [("baseline", 0), ("dlog", 1), ("three_drivers", 3)];
    let users: Vec<_> = cases.iter().map(|(_, n)| user(&pn, *n)).collect();
    let mut group = c.benchmark_group("engine_flag_change");
    for ((label, _), u) in cases.iter().zip(&users) {
        group.bench_function(*label, |b| b.iter(|| flag_change(u)));
    }
    group.finish();
    let mut group = c.benchmark_group("engine_delivery");
    for ((label, _), u) in cases.iter().zip(&users) {
        group.bench_function(*label, |b| b.iter(|| delivery(u)));
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
