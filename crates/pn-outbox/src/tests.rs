#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use pn_core::{HttpRequest, Payload};

fn item(user: &str, url: &str, n: u8) -> OutboxItem {
    OutboxItem::new(
        "ox",
        user,
        Payload::Http(HttpRequest {
            method: "PUT".into(),
            url: url.into(),
            headers: vec![],
            body: vec![n],
            max_attempts: 1,
            timeout_msecs: 1000,
            signing: None,
        }),
    )
}

fn outbox(policy: Policy) -> (tempfile::TempDir, Arc<DurableOutbox>) {
    let dir = tempfile::tempdir().unwrap();
    let o = Arc::new(DurableOutbox::new(dir.path().join("outbox.db"), policy));
    (dir, o)
}

fn failure(status: Option<u16>) -> Outcome {
    Outcome {
        success: false,
        status,
        message: "nope".into(),
        attempts: 1,
    }
}

#[test]
fn committed_items_survive_reopening_with_their_event_ids() {
    let (dir, o) = outbox(Policy::default());
    let p = o.producer(None);
    let a = item("u", "http://127.0.0.1:1/x", 1);
    let ids = [a.event_id];
    p.enqueue(a).unwrap();
    assert_eq!(p.staged_len(), 1);
    p.commit().unwrap();
    drop(p);
    drop(o);
    let again = DurableOutbox::new(dir.path().join("outbox.db"), Policy::default());
    let leased = again.lease(10);
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].item.event_id, ids[0]);
    again.ack(&leased[0]);
    assert!(again.lease(10).is_empty());
}

#[test]
fn one_queue_per_user_and_endpoint_in_event_order() {
    let (_dir, o) = outbox(Policy::default());
    let p = o.producer(None);
    for n in 0..3 {
        p.enqueue(item("alice", "http://127.0.0.1:1/x", n)).unwrap();
        p.enqueue(item("bob", "http://127.0.0.1:1/x", n)).unwrap();
    }
    p.commit().unwrap();
    let leased = o.lease(10);
    assert_eq!(leased.len(), 6, "each queue's items in one run");
    for user in ["alice", "bob"] {
        let run: Vec<&Leased> = leased.iter().filter(|l| l.item.user == user).collect();
        assert_eq!(
            run.iter().map(|l| body(&l.item)).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(
            run.iter()
                .all(|l| l.sequence.is_some() && l.sequence == run[0].sequence)
        );
    }
    assert!(o.lease(10).is_empty(), "queues in flight are held");
    o.settle_run(&leased, None, &[]);
    assert_eq!(o.with_reader(|s| s.stats()).unwrap().queued, 0);
    assert!(o.lease(10).is_empty());
}

fn body(item: &OutboxItem) -> u8 {
    match &item.payload {
        Payload::Http(r) => r.body[0],
    }
}

#[test]
fn failures_retry_on_the_schedule_and_permanent_ones_become_dead_letters() {
    let policy = Policy {
        schedule: vec![Duration::from_millis(50)],
        ..Policy::default()
    };
    let (_dir, o) = outbox(policy);
    let p = o.producer(None);
    p.enqueue(item("u", "http://127.0.0.1:1/x", 1)).unwrap();
    p.enqueue(item("u", "http://127.0.0.1:1/x", 2)).unwrap();
    p.commit().unwrap();
    let l = o.lease(10);
    assert_eq!(l.len(), 2);
    o.settle_run(&[], Some((&l[0], &failure(Some(503)))), &l[1..]);
    // Not due before its delay; the second item waits behind the first.
    assert!(o.lease(10).is_empty());
    std::thread::sleep(Duration::from_millis(70));
    let l = o.lease(10);
    assert_eq!(body(&l[0].item), 1);
    o.settle_run(&[], Some((&l[0], &failure(Some(404)))), &l[1..]);
    // 404 is permanent: a dead letter, and the queue goes on with item 2 at once.
    let l2 = o.lease(10);
    assert_eq!(l2.len(), 1);
    assert_eq!(body(&l2[0].item), 2);
    let dead = o.with_reader(|s| s.items(true, 10)).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].failures, 2);
    o.ack(&l2[0]);
    // retry brings the dead letter back.
    assert_eq!(o.with_reader(|s| s.retry(None)).unwrap(), 1);
    assert_eq!(o.lease(10).len(), 1);
}

#[test]
fn an_open_circuit_lets_one_probe_through_and_other_endpoints_go_on() {
    let policy = Policy {
        schedule: vec![Duration::from_millis(1)],
        circuit_after: 2,
        ..Policy::default()
    };
    let (_dir, o) = outbox(policy);
    let p = o.producer(None);
    for u in ["a", "b", "c", "d"] {
        p.enqueue(item(u, "http://127.0.0.1:1/x", 0)).unwrap();
    }
    p.enqueue(item("a", "http://127.0.0.1:2/y", 9)).unwrap();
    p.commit().unwrap();
    let l = o.lease(10);
    assert_eq!(l.len(), 5);
    for x in &l {
        if endpoint(x) == "http://127.0.0.1:1" {
            o.fail(x, &failure(None));
        } else {
            o.ack(x);
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    let probe = o.lease(10);
    assert_eq!(probe.len(), 1, "one probe while the circuit is open");
    assert!(o.lease(10).is_empty());
    o.ack(&probe[0]);
    // The probe's success closes the circuit: every queue of the endpoint is due again.
    assert_eq!(o.lease(10).len(), 3);
}

fn endpoint(l: &Leased) -> String {
    store::endpoint_of(&l.item)
}

#[test]
fn old_items_become_dead_letters() {
    let policy = Policy {
        max_age: Duration::from_millis(1),
        ..Policy::default()
    };
    let (_dir, o) = outbox(policy);
    let p = o.producer(None);
    p.enqueue(item("u", "http://127.0.0.1:1/x", 1)).unwrap();
    p.commit().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert!(o.lease(10).is_empty());
    assert_eq!(o.with_reader(|s| s.stats()).unwrap().dead, 1);
}

#[test]
fn concurrent_commits_share_transactions_and_all_land() {
    let (_dir, o) = outbox(Policy::default());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let o = Arc::clone(&o);
            std::thread::spawn(move || {
                for n in 0..50 {
                    let p = o.producer(None);
                    p.enqueue(item(&format!("u{t}"), "http://127.0.0.1:1/x", n))
                        .unwrap();
                    p.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(o.with_reader(|s| s.stats()).unwrap().queued, 400);
}

#[test]
fn held_items_are_not_leased_until_released() {
    let (_dir, o) = outbox(Policy::default());
    let p = o.producer(Some(Duration::from_secs(60)));
    p.enqueue(item("u", "http://127.0.0.1:1/x", 1)).unwrap();
    p.commit().unwrap();
    assert!(o.lease(10).is_empty(), "held by its producer");
    let keys = vec![store::key_of(
        &item("u", "http://127.0.0.1:1/x", 1),
        "http://127.0.0.1:1",
    )];
    o.with_reader(|s| s.release_mine(&keys)).unwrap();
    assert_eq!(o.lease(10).len(), 1);
}

#[test]
fn an_endpoint_failing_too_long_is_disabled_until_enabled() {
    let policy = Policy {
        schedule: vec![Duration::from_millis(1)],
        disable_after: Duration::ZERO,
        ..Policy::default()
    };
    let (_dir, o) = outbox(policy);
    let p = o.producer(None);
    p.enqueue(item("u", "http://127.0.0.1:1/x", 1)).unwrap();
    p.enqueue(item("v", "http://127.0.0.1:2/x", 2)).unwrap();
    p.commit().unwrap();
    for l in o.lease(10) {
        if endpoint(&l) == "http://127.0.0.1:1" {
            o.fail(&l, &failure(Some(503)));
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    let endpoints = o.with_reader(|s| s.endpoints()).unwrap();
    assert!(endpoints[0].disabled_ms.is_some(), "{endpoints:?}");
    assert!(
        o.lease(10).is_empty(),
        "nothing goes to a disabled endpoint"
    );
    assert!(
        o.with_reader(|s| s.enable_endpoint("http://127.0.0.1:1"))
            .unwrap()
    );
    let l = o.lease(10);
    assert_eq!(l.len(), 1);
    assert_eq!(body(&l[0].item), 1);
}
