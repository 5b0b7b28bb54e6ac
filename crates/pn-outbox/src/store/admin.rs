//! What `pn queue` reads and changes: listings, one item, retry, purge, counts, endpoints.

use rusqlite::{TransactionBehavior, params};

use super::{Store, now_ms};
use crate::OutboxStoreError;

/// One row of [`Store::items`].
#[derive(Debug, Clone)]
pub struct ItemRow {
    /// Row id.
    pub id: i64,
    /// The event id.
    pub event_id: String,
    /// User.
    pub user: String,
    /// Driver.
    pub driver: String,
    /// Endpoint (origin, no credentials).
    pub endpoint: String,
    /// Created (ms since the epoch).
    pub created_ms: i64,
    /// Failed sends so far.
    pub failures: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it became a dead letter.
    pub dead_ms: Option<i64>,
    /// When its queue's head may next be sent (queued items only).
    pub next_due_ms: Option<i64>,
    /// The stored item as JSON, without the request body (see [`ItemRow::item`]).
    pub body: String,
    /// The request body.
    pub data: Vec<u8>,
}

/// One row of [`Store::endpoints`].
#[derive(Debug, Clone)]
pub struct EndpointRow {
    /// Origin.
    pub endpoint: String,
    /// Consecutive failures.
    pub failures: u32,
    /// Failing since (ms).
    pub failing_since_ms: Option<i64>,
    /// Disabled since (ms).
    pub disabled_ms: Option<i64>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Items queued for it.
    pub queued: i64,
}

/// Counts for `pn queue stats`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Items waiting to be sent.
    pub queued: i64,
    /// Dead letters.
    pub dead: i64,
    /// Queued items whose queue is due now.
    pub due: i64,
    /// Age of the oldest queued item.
    pub oldest_ms: Option<i64>,
    /// Endpoints disabled.
    pub disabled_endpoints: i64,
}

impl ItemRow {
    /// The stored item.
    pub fn item(&self) -> Result<pn_core::OutboxItem, serde_json::Error> {
        super::decode(&self.body, self.data.clone())
    }
}

impl Store {
    /// Endpoints known to the outbox.
    pub fn endpoints(&self) -> Result<Vec<EndpointRow>, OutboxStoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT e.endpoint, e.failures, e.failing_since_ms, e.disabled_ms, e.last_error, \
             (SELECT count(*) FROM items i WHERE i.endpoint = e.endpoint AND i.dead_ms IS NULL) \
             FROM endpoints e ORDER BY e.endpoint",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(EndpointRow {
                    endpoint: r.get(0)?,
                    failures: r.get(1)?,
                    failing_since_ms: r.get(2)?,
                    disabled_ms: r.get(3)?,
                    last_error: r.get(4)?,
                    queued: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Items, queued (`dead` false) or dead letters, in event order, at most `limit`.
    pub fn items(&self, dead: bool, limit: usize) -> Result<Vec<ItemRow>, OutboxStoreError> {
        let sql = format!(
            "SELECT i.id, i.event_id, i.user, i.driver, i.endpoint, i.created_ms, i.failures, \
             i.last_error, i.dead_ms, q.next_due_ms, i.body, i.data FROM items i \
             LEFT JOIN queues q ON q.key = i.key AND i.dead_ms IS NULL \
             WHERE i.dead_ms IS {} NULL ORDER BY i.id LIMIT ?1",
            if dead { "NOT" } else { "" }
        );
        self.select(&sql, params![i64::try_from(limit).unwrap_or(i64::MAX)])
    }

    /// One item by row id or event id.
    pub fn item(&self, id: &str) -> Result<Option<ItemRow>, OutboxStoreError> {
        let sql = "SELECT i.id, i.event_id, i.user, i.driver, i.endpoint, i.created_ms, \
                   i.failures, i.last_error, i.dead_ms, q.next_due_ms, i.body, i.data FROM items i \
                   LEFT JOIN queues q ON q.key = i.key AND i.dead_ms IS NULL \
                   WHERE i.event_id = ?1 OR CAST(i.id AS TEXT) = ?1 LIMIT 1";
        Ok(self.select(sql, params![id])?.into_iter().next())
    }

    fn select(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<ItemRow>, OutboxStoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(ItemRow {
                    id: r.get(0)?,
                    event_id: r.get(1)?,
                    user: r.get(2)?,
                    driver: r.get(3)?,
                    endpoint: r.get(4)?,
                    created_ms: r.get(5)?,
                    failures: r.get(6)?,
                    last_error: r.get(7)?,
                    dead_ms: r.get(8)?,
                    next_due_ms: r.get(9)?,
                    body: r.get(10)?,
                    data: r.get(11)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Makes items due now: dead letters are queued again (failures reset), queued items'
    /// queues are due at once. `None` means every item. Returns how many matched.
    pub fn retry(&mut self, ids: Option<&[String]>) -> Result<usize, OutboxStoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(i64, String, String)> = {
            let mut stmt = tx.prepare("SELECT id, key, endpoint, event_id FROM items")?;
            stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .filter_map(Result::ok)
            .filter(|(id, _, _, ev)| {
                ids.is_none_or(|ids| ids.iter().any(|x| *x == id.to_string() || x == ev))
            })
            .map(|(id, k, e, _)| (id, k, e))
            .collect()
        };
        for (id, key, endpoint) in &rows {
            tx.execute(
                "UPDATE items SET dead_ms = NULL, failures = 0 WHERE id = ?1 AND dead_ms IS NOT NULL",
                params![id],
            )?;
            tx.execute(
                "INSERT INTO queues(key, endpoint, next_due_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(key) DO UPDATE SET next_due_ms = ?3, owner = NULL",
                params![key, endpoint, now],
            )?;
        }
        tx.commit()?;
        Ok(rows.len())
    }

    /// Deletes dead letters (all, or the given ones). Returns how many.
    pub fn purge(&mut self, ids: Option<&[String]>) -> Result<usize, OutboxStoreError> {
        match ids {
            None => Ok(self
                .conn
                .execute("DELETE FROM items WHERE dead_ms IS NOT NULL", [])?),
            Some(ids) => {
                let tx = self.conn.transaction()?;
                let mut n = 0;
                for id in ids {
                    n += tx.execute(
                        "DELETE FROM items WHERE dead_ms IS NOT NULL AND \
                         (event_id = ?1 OR CAST(id AS TEXT) = ?1)",
                        params![id],
                    )?;
                }
                tx.commit()?;
                Ok(n)
            }
        }
    }

    /// Counts for `pn queue stats`.
    pub fn stats(&self) -> Result<Stats, OutboxStoreError> {
        let now = now_ms();
        let count = |sql: &str| -> Result<i64, rusqlite::Error> {
            self.conn.query_row(sql, [], |r| r.get(0))
        };
        Ok(Stats {
            queued: count("SELECT count(*) FROM items WHERE dead_ms IS NULL")?,
            dead: count("SELECT count(*) FROM items WHERE dead_ms IS NOT NULL")?,
            due: self.conn.query_row(
                "SELECT count(*) FROM items i JOIN queues q ON q.key = i.key \
                 WHERE i.dead_ms IS NULL AND q.next_due_ms <= ?1",
                params![now],
                |r| r.get(0),
            )?,
            oldest_ms: self
                .conn
                .query_row(
                    "SELECT min(created_ms) FROM items WHERE dead_ms IS NULL",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .map(|c| now - c),
            disabled_endpoints: count(
                "SELECT count(*) FROM endpoints WHERE disabled_ms IS NOT NULL",
            )?,
        })
    }
}
