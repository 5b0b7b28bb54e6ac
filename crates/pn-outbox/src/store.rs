//! The SQLite database: one file in WAL mode with `synchronous = FULL`, so a committed
//! transaction is on disk (the WAL is fsync'd at commit) and many processes — `pn lmtp`, one
//! `pn deliver` per message, `pn dispatch`, `pn queue` — share it through SQLite's own
//! locking.
//!
//! Tables: `items` (one row per notification, queued or dead letter), `queues` (one row per
//! ordering key — user and endpoint — with the time its head may next be sent and the
//! process holding it), `endpoints` (failure counts, when failing started, disabled).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pn_core::{OutboxItem, Payload};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::OutboxStoreError;

mod admin;

pub use admin::{EndpointRow, ItemRow, Stats};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL,
  key TEXT NOT NULL,
  user TEXT NOT NULL,
  driver TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  dead_ms INTEGER,
  body TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS items_key ON items(key, id) WHERE dead_ms IS NULL;
CREATE TABLE IF NOT EXISTS queues(
  key TEXT PRIMARY KEY,
  endpoint TEXT NOT NULL,
  next_due_ms INTEGER NOT NULL,
  owner INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queues_due ON queues(next_due_ms);
CREATE TABLE IF NOT EXISTS endpoints(
  endpoint TEXT PRIMARY KEY,
  failures INTEGER NOT NULL DEFAULT 0,
  failing_since_ms INTEGER,
  disabled_ms INTEGER,
  last_error TEXT
);
";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The endpoint an item goes to: the URL's origin without credentials (`scheme://host:port`),
/// which is what fails or recovers as a whole.
pub fn endpoint_of(item: &OutboxItem) -> String {
    match &item.payload {
        Payload::Http(req) => match pn_dispatch::wire::Target::parse(&req.url) {
            Some(t) => t.origin(),
            None => "invalid-url".to_owned(),
        },
    }
}

/// Notifications of one user to one endpoint go out in event order: they share a key.
pub fn key_of(item: &OutboxItem, endpoint: &str) -> String {
    format!("{}\u{1f}{endpoint}", item.user)
}

/// An item as stored: JSON without the request body, and the body's bytes as a BLOB (JSON
/// would write each byte as a decimal number, several times the size).
fn encode(item: &OutboxItem) -> Result<(String, Vec<u8>), OutboxStoreError> {
    let mut meta = item.clone();
    let data = match &mut meta.payload {
        Payload::Http(req) => std::mem::take(&mut req.body),
    };
    let json = serde_json::to_string(&meta).map_err(OutboxStoreError::Encode)?;
    Ok((json, data))
}

/// The inverse of `encode`.
pub fn decode(meta: &str, data: Vec<u8>) -> Result<OutboxItem, serde_json::Error> {
    let mut item: OutboxItem = serde_json::from_str(meta)?;
    match &mut item.payload {
        Payload::Http(req) => req.body = data,
    }
    Ok(item)
}

/// One open connection.
pub struct Store {
    conn: Connection,
    /// Whether commits are fsync'd (`synchronous = FULL`, the default) or not (`NORMAL`).
    durable: bool,
}

/// A row handed out by [`Store::lease`].
#[derive(Debug, Clone)]
pub struct LeasedRow {
    /// The row id.
    pub id: i64,
    /// Its ordering key.
    pub key: String,
    /// Its endpoint.
    pub endpoint: String,
    /// The item.
    pub item: OutboxItem,
}

/// How a failure was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// The item became a dead letter.
    pub dead: bool,
    /// Consecutive failures of the endpoint, this one included.
    pub endpoint_failures: u32,
    /// Since when the endpoint has been failing (ms since the epoch).
    pub failing_since_ms: i64,
}

impl Store {
    /// Opens (creating when missing) the database at `path` and its directory.
    pub fn open(path: &Path) -> Result<Store, OutboxStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OutboxStoreError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let open = |path: &Path| -> Result<Connection, rusqlite::Error> {
            let conn = Connection::open(path)?;
            // Other processes hold the write lock for one short transaction at a time.
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // FULL: the WAL is fsync'd at every commit, so a commit that returned survives a
            // crash or power loss (NORMAL would only survive a crash of the process).
            conn.pragma_update(None, "synchronous", "FULL")?;
            // Bounded memory whatever the queue's length: an 8 MiB page cache.
            conn.pragma_update(None, "cache_size", -8000)?;
            conn.execute_batch(SCHEMA)?;
            Ok(conn)
        };
        let conn = open(path).map_err(|source| OutboxStoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Store {
            conn,
            durable: true,
        })
    }

    /// Whether the following commits are fsync'd (`synchronous = FULL`) or left to the next
    /// fsync'd one or checkpoint (`NORMAL`: still atomic and crash-safe for the process, may
    /// be lost with the machine).
    pub fn set_durable(&mut self, durable: bool) -> Result<(), OutboxStoreError> {
        if self.durable != durable {
            self.conn.pragma_update(
                None,
                "synchronous",
                if durable { "FULL" } else { "NORMAL" },
            )?;
            self.durable = durable;
        }
        Ok(())
    }

    /// Stores every batch in one transaction (one fsync). With `hold`, the queue of an item
    /// that starts a new queue is held by this process for that long, so that it can send
    /// the item itself (`pn deliver`); the returned rows are those it holds.
    /// An endpoint that is disabled or has `circuit_after` consecutive failures is never
    /// held: its dispatcher's single probe decides when it is tried again, not every
    /// delivery.
    pub fn insert(
        &mut self,
        batches: &[(Vec<OutboxItem>, Option<Duration>)],
        circuit_after: u32,
    ) -> Result<Vec<Vec<LeasedRow>>, OutboxStoreError> {
        let now = now_ms();
        let owner = i64::from(std::process::id());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut all = Vec::new();
        for (items, hold) in batches {
            let hold = *hold;
            let mut held = Vec::new();
            let mut insert = tx.prepare_cached(
                "INSERT INTO items(event_id, key, user, driver, endpoint, created_ms, body, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut queue = tx.prepare_cached(
                "INSERT INTO queues(key, endpoint, next_due_ms, owner) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(key) DO NOTHING",
            )?;
            let mut healthy = tx.prepare_cached(
                "SELECT NOT EXISTS(SELECT 1 FROM endpoints WHERE endpoint = ?1 AND \
                 (disabled_ms IS NOT NULL OR failures >= ?2))",
            )?;
            let mut held_keys: Vec<String> = Vec::new();
            for item in items {
                let endpoint = endpoint_of(item);
                let key = key_of(item, &endpoint);
                let (body, data) = encode(item)?;
                insert.execute(params![
                    item.event_id.to_string(),
                    key,
                    item.user,
                    item.driver,
                    endpoint,
                    now,
                    body,
                    data
                ])?;
                let id = tx.last_insert_rowid();
                let hold = match hold {
                    Some(h)
                        if healthy.query_row(params![endpoint, circuit_after], |r| r.get(0))? =>
                    {
                        Some(h)
                    }
                    _ => None,
                };
                let (due, who) = match hold {
                    Some(h) => (now + ms(h), Some(owner)),
                    None => (now, None),
                };
                let created = queue.execute(params![key, endpoint, due, who])? == 1;
                if hold.is_some() && (created || held_keys.contains(&key)) {
                    if created {
                        held_keys.push(key.clone());
                    }
                    held.push(LeasedRow {
                        id,
                        key,
                        endpoint,
                        item: item.clone(),
                    });
                }
            }
            all.push(held);
        }
        tx.commit()?;
        Ok(all)
    }

    /// Hands out up to `max` items of due queues — each queue's head and the items after it,
    /// in order, as many as `admit` allows for the endpoint (0: none, the circuit breaker; 1:
    /// a probe) — holding each queue for `lease` (renewed by nothing: a send is bounded by its
    /// own timeouts). A queue `admit` refuses is put back by `defer`. Heads older than
    /// `max_age` become dead letters instead; a run stops before an item that is too old.
    pub fn lease(
        &mut self,
        max: usize,
        lease: Duration,
        max_age: Duration,
        defer: Duration,
        mut admit: impl FnMut(&str) -> usize,
    ) -> Result<Vec<LeasedRow>, OutboxStoreError> {
        let now = now_ms();
        let owner = i64::from(std::process::id());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::new();
        {
            let mut due = tx.prepare_cached(
                "SELECT q.key, q.endpoint, e.disabled_ms FROM queues q \
                 LEFT JOIN endpoints e ON e.endpoint = q.endpoint \
                 WHERE q.next_due_ms <= ?1 ORDER BY q.next_due_ms LIMIT ?2",
            )?;
            let rows: Vec<(String, String, Option<i64>)> = due
                .query_map(params![now, i64::try_from(max * 2).unwrap_or(512)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut head = tx.prepare_cached(
                "SELECT id, created_ms, body, data FROM items WHERE key = ?1 AND dead_ms IS NULL \
                 ORDER BY id LIMIT 1",
            )?;
            let mut set_due =
                tx.prepare_cached("UPDATE queues SET next_due_ms = ?2, owner = ?3 WHERE key = ?1")?;
            let mut next = tx.prepare_cached(
                "SELECT id, created_ms, body, data FROM items WHERE key = ?1 AND \
                 dead_ms IS NULL AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let mut drop_queue = tx.prepare_cached("DELETE FROM queues WHERE key = ?1")?;
            let mut bury =
                tx.prepare_cached("UPDATE items SET dead_ms = ?2, last_error = ?3 WHERE id = ?1")?;
            for (key, endpoint, disabled) in rows {
                if out.len() >= max {
                    break;
                }
                if disabled.is_some() {
                    set_due.execute(params![key, now + ms(defer), Option::<i64>::None])?;
                    continue;
                }
                let Some((id, created, body, data)) = head
                    .query_row(params![key], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Vec<u8>>(3)?,
                        ))
                    })
                    .optional()?
                else {
                    drop_queue.execute(params![key])?;
                    continue;
                };
                if now.saturating_sub(created) > ms(max_age) {
                    bury.execute(params![id, now, "too old: pn_retry_max_age reached"])?;
                    set_due.execute(params![key, now, Option::<i64>::None])?;
                    continue;
                }
                let item: OutboxItem = match decode(&body, data) {
                    Ok(item) => item,
                    Err(e) => {
                        let why = format!("unreadable: {e}");
                        bury.execute(params![id, now, why])?;
                        set_due.execute(params![key, now, Option::<i64>::None])?;
                        continue;
                    }
                };
                // Asked last: a yes may be the endpoint's one probe.
                let run = admit(&endpoint).min(max - out.len());
                if run == 0 {
                    set_due.execute(params![key, now + ms(defer), Option::<i64>::None])?;
                    continue;
                }
                set_due.execute(params![key, now + ms(lease), owner])?;
                let followers: Vec<(i64, i64, String, Vec<u8>)> = if run > 1 {
                    next.query_map(params![key, id, i64::try_from(run - 1).unwrap_or(0)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<Result<_, _>>()?
                } else {
                    Vec::new()
                };
                out.push(LeasedRow {
                    id,
                    key: key.clone(),
                    endpoint: endpoint.clone(),
                    item,
                });
                for (id, created, body, data) in followers {
                    if now.saturating_sub(created) > ms(max_age) {
                        break;
                    }
                    let Ok(item) = decode(&body, data) else { break };
                    out.push(LeasedRow {
                        id,
                        key: key.clone(),
                        endpoint: endpoint.clone(),
                        item,
                    });
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// The item was delivered: it is removed, its queue's next item is due at once and the
    /// endpoint is healthy again. Returns whether the endpoint had been failing.
    pub fn ack(&mut self, row: &LeasedRow) -> Result<bool, OutboxStoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM items WHERE id = ?1")?
            .execute(params![row.id])?;
        release_queue(&tx, &row.key, now)?;
        let was_failing = tx
            .prepare_cached(
                "UPDATE endpoints SET failures = 0, failing_since_ms = NULL, last_error = NULL \
                 WHERE endpoint = ?1 AND failures > 0",
            )?
            .execute(params![row.endpoint])?
            > 0;
        if was_failing {
            // Queues that waited out the outage go now, not at their backed-off time.
            tx.prepare_cached(
                "UPDATE queues SET next_due_ms = ?2 WHERE endpoint = ?1 AND owner IS NULL \
                 AND next_due_ms > ?2",
            )?
            .execute(params![row.endpoint, now])?;
        }
        tx.commit()?;
        Ok(was_failing)
    }

    /// The send failed. `dead` makes the item a dead letter (its queue goes on with the next
    /// item); otherwise its queue waits `retry_in`.
    pub fn fail(
        &mut self,
        row: &LeasedRow,
        error: &str,
        dead: bool,
        retry_in: Duration,
    ) -> Result<Failed, OutboxStoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if dead {
            tx.prepare_cached(
                "UPDATE items SET failures = failures + 1, last_error = ?2, dead_ms = ?3 \
                 WHERE id = ?1",
            )?
            .execute(params![row.id, error, now])?;
            release_queue(&tx, &row.key, now)?;
        } else {
            tx.prepare_cached(
                "UPDATE items SET failures = failures + 1, last_error = ?2 WHERE id = ?1",
            )?
            .execute(params![row.id, error])?;
            tx.prepare_cached("UPDATE queues SET next_due_ms = ?2, owner = NULL WHERE key = ?1")?
                .execute(params![row.key, now + ms(retry_in)])?;
        }
        let (failures, since): (u32, i64) = tx
            .prepare_cached(
                "INSERT INTO endpoints(endpoint, failures, failing_since_ms, last_error) \
                 VALUES (?1, 1, ?2, ?3) ON CONFLICT(endpoint) DO UPDATE SET \
                 failures = failures + 1, failing_since_ms = coalesce(failing_since_ms, ?2), \
                 last_error = ?3 RETURNING failures, failing_since_ms",
            )?
            .query_row(params![row.endpoint, now, error], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        tx.commit()?;
        Ok(Failed {
            dead,
            endpoint_failures: failures,
            failing_since_ms: since,
        })
    }

    /// The failures counted for `failures` of `item` so far (for the schedule).
    pub fn failures(&self, id: i64) -> Result<u32, OutboxStoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT failures FROM items WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// Queues held by processes that no longer exist (killed while sending) are due again.
    pub fn release_orphans(&mut self) -> Result<usize, OutboxStoreError> {
        let me = i64::from(std::process::id());
        let owners: Vec<i64> = self
            .conn
            .prepare("SELECT DISTINCT owner FROM queues WHERE owner IS NOT NULL")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut released = 0;
        for owner in owners {
            if owner == me || Path::new(&format!("/proc/{owner}")).exists() {
                continue;
            }
            released += self.conn.execute(
                "UPDATE queues SET owner = NULL, next_due_ms = ?2 WHERE owner = ?1",
                params![owner, now_ms()],
            )?;
        }
        Ok(released)
    }

    /// Several items were delivered (in their queues' order): one transaction for all.
    /// With `release`, their queues go on (next item due now); without, they stay held (a
    /// failure of the item after them is recorded next). Returns the endpoints that had been
    /// failing.
    pub fn ack_all(
        &mut self,
        rows: &[LeasedRow],
        release: bool,
    ) -> Result<Vec<String>, OutboxStoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut keys: Vec<&str> = Vec::new();
        let mut endpoints: Vec<&str> = Vec::new();
        for row in rows {
            tx.prepare_cached("DELETE FROM items WHERE id = ?1")?
                .execute(params![row.id])?;
            if !keys.contains(&row.key.as_str()) {
                keys.push(&row.key);
            }
            if !endpoints.contains(&row.endpoint.as_str()) {
                endpoints.push(&row.endpoint);
            }
        }
        if release {
            for key in keys {
                release_queue(&tx, key, now)?;
            }
        }
        let mut recovered = Vec::new();
        for endpoint in endpoints {
            let was_failing = tx
                .prepare_cached(
                    "UPDATE endpoints SET failures = 0, failing_since_ms = NULL, \
                     last_error = NULL WHERE endpoint = ?1 AND failures > 0",
                )?
                .execute(params![endpoint])?
                > 0;
            if was_failing {
                tx.prepare_cached(
                    "UPDATE queues SET next_due_ms = ?2 WHERE endpoint = ?1 AND owner IS NULL \
                     AND next_due_ms > ?2",
                )?
                .execute(params![endpoint, now])?;
                recovered.push(endpoint.to_owned());
            }
        }
        tx.commit()?;
        Ok(recovered)
    }

    /// This process's own queues are released (it stops sending: shutdown, push wait over).
    pub fn release_mine(&mut self, keys: &[String]) -> Result<(), OutboxStoreError> {
        let me = i64::from(std::process::id());
        let now = now_ms();
        let tx = self.conn.transaction()?;
        for key in keys {
            tx.execute(
                "UPDATE queues SET owner = NULL, next_due_ms = ?3 WHERE key = ?1 AND owner = ?2",
                params![key, me, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks an endpoint disabled (no more sends until [`Store::enable_endpoint`]).
    pub fn disable_endpoint(&mut self, endpoint: &str) -> Result<(), OutboxStoreError> {
        self.conn.execute(
            "UPDATE endpoints SET disabled_ms = ?2 WHERE endpoint = ?1 AND disabled_ms IS NULL",
            params![endpoint, now_ms()],
        )?;
        Ok(())
    }

    /// Enables an endpoint again and makes its queues due now. Returns whether it existed.
    pub fn enable_endpoint(&mut self, endpoint: &str) -> Result<bool, OutboxStoreError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE endpoints SET disabled_ms = NULL, failures = 0, failing_since_ms = NULL \
             WHERE endpoint = ?1",
            params![endpoint],
        )?;
        tx.execute(
            "UPDATE queues SET next_due_ms = ?2, owner = NULL WHERE endpoint = ?1",
            params![endpoint, now],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Milliseconds until the earliest queue is due (0: now), `None` when nothing is queued.
    pub fn next_due_in(&self) -> Result<Option<i64>, OutboxStoreError> {
        let due: Option<i64> =
            self.conn
                .query_row("SELECT min(next_due_ms) FROM queues", [], |r| r.get(0))?;
        Ok(due.map(|d| (d - now_ms()).max(0)))
    }
}

/// The queue's head was settled: the next item (if any) is due now, else the queue goes.
fn release_queue(tx: &rusqlite::Transaction<'_>, key: &str, now: i64) -> rusqlite::Result<()> {
    let more: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM items WHERE key = ?1 AND dead_ms IS NULL)")?
        .query_row(params![key], |r| r.get(0))?;
    if more {
        tx.prepare_cached("UPDATE queues SET next_due_ms = ?2, owner = NULL WHERE key = ?1")?
            .execute(params![key, now])?;
    } else {
        tx.prepare_cached("DELETE FROM queues WHERE key = ?1")?
            .execute(params![key])?;
    }
    Ok(())
}
