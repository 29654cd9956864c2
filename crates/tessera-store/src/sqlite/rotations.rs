//! The group commit of refresh-token rotations: a writer task takes every rotation queued
//! meanwhile (up to [`MAX_ROTATION_BATCH`]) and commits them in one `BEGIN IMMEDIATE`
//! transaction on the writer connection, each with its own conditions in its SQL, so each is
//! decided as if it were alone; if a batch fails as a whole, each is retried alone.

use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::Sqlite;

use crate::rows::{self, column, conflict_as, db_time, SESSION_COLUMNS};
use crate::{RefreshRecord, Result, Rotation, Session, StoreError, TokenHash};

/// Why a token was not rotated (`Reused` or `Invalid`), read after the rotation's transaction.
async fn explain_unrotated(
    conn: &mut SqliteConnection,
    presented: &TokenHash,
    now: u64,
) -> Result<Rotation> {
    let row = sqlx::query(
        "SELECT t.used_at AS token_used_at, t.expires_at AS token_expires_at, \
                s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, \
                s.user_agent, s.ip, s.revoked_at, u.disabled AS user_disabled, \
                s.credential_epoch = u.credential_epoch AS credentials_current \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         JOIN users u ON u.id = s.user_id \
         WHERE t.hash = ?",
    )
    .bind(&presented.0[..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    let session = rows::session(&row)?;
    Ok(match rows::rotation_decision(&row, &session, now)? {
        crate::RotationDecision::Reused => Rotation::Reused(session),
        // `Rotate` cannot be decided here (the batch would have rotated a live token); if
        // it ever were, refusing is the safe answer.
        crate::RotationDecision::Invalid | crate::RotationDecision::Rotate => Rotation::Invalid,
    })
}

/// The SQL of one rotation inside a batch ([`rotate_batch_on`] puts the transaction around it):
/// mark the token used only if it, its session and its user are all live (the conditions of
/// [`crate::decide_rotation`]); insert its successor (expiring no later than the session); touch
/// the session and return it, tagged with the rotation's `slot` in the batch. Each write runs
/// only if the one before changed exactly one row (`changes() = 1`), so each rotation is all or
/// nothing by construction. Ten parameters, in the order [`bind_rotation`] binds them.
fn rotation_statements(slot: usize) -> String {
    format!(
        "UPDATE refresh_tokens SET used_at = ? \
          WHERE hash = ? AND used_at IS NULL AND expires_at > ? \
            AND session_id IN (SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id \
                               WHERE s.revoked_at IS NULL AND s.expires_at > ? \
                                 AND u.disabled = 0 \
                                 AND s.credential_epoch = u.credential_epoch); \
         INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
          SELECT ?, s.id, ?, MIN(?, s.expires_at) \
          FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
          WHERE t.hash = ? AND changes() = 1; \
         UPDATE sessions SET last_used_at = ? \
          WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = ?) AND changes() = 1 \
          RETURNING {SESSION_COLUMNS}, {slot} AS batch_slot; "
    )
}

/// A rotation waiting for the writer connection, and where its outcome goes.
pub(super) struct PendingRotation {
    /// The digest of the presented token.
    pub(super) presented: TokenHash,
    /// Its successor.
    pub(super) next: RefreshRecord,
    /// The time of the rotation.
    pub(super) now: u64,
    /// Where the outcome goes.
    pub(super) outcome: tokio::sync::oneshot::Sender<Result<Rotation>>,
}

/// Most rotations committed in one transaction.
pub(super) const MAX_ROTATION_BATCH: usize = 32;

/// Rotations queued for the writer task at most; callers beyond wait for room.
pub(super) const ROTATION_QUEUE: usize = 1024;

/// The writer task's loop: takes every rotation queued (up to [`MAX_ROTATION_BATCH`]) and
/// commits them in one transaction, until every sender (every clone of the store) is gone.
///
/// Group commit: while a batch is in SQLite, the requests arriving meanwhile queue and go in the
/// next one, so the hand-offs to SQLite's thread, the write lock and the WAL append are paid per
/// batch instead of per refresh. Each rotation keeps its own conditions, so the outcome of each
/// is what it would have been alone, in queue order: of two rotations of one token in a batch,
/// the first rotates it and the second finds it used.
pub(super) async fn rotate_in_batches(
    writer: SqlitePool,
    mut queue: tokio::sync::mpsc::Receiver<PendingRotation>,
) {
    let mut batch = Vec::with_capacity(MAX_ROTATION_BATCH);
    while queue.recv_many(&mut batch, MAX_ROTATION_BATCH).await > 0 {
        let outcomes = rotate_batch(&writer, &batch).await;
        for (pending, outcome) in batch.drain(..).zip(outcomes) {
            // The caller may have gone (a client hanging up): the rotation stands regardless.
            let _ = pending.outcome.send(outcome);
        }
    }
}

/// Rotates `batch` in one transaction and says what happened to each, in order. If the batch
/// fails as a whole, each rotation is retried alone, so that one failing rotation (or a
/// database that is down) gives each caller its own answer.
async fn rotate_batch(writer: &SqlitePool, batch: &[PendingRotation]) -> Vec<Result<Rotation>> {
    if batch.len() > 1 {
        match writer.acquire().await {
            Ok(mut conn) => match rotate_batch_on(&mut conn, batch).await {
                Ok(outcomes) => return outcomes,
                Err(err) => {
                    tracing::debug!(error = %err, size = batch.len(), "a rotation batch failed; rotating one by one");
                    close_after_failure(conn).await;
                }
            },
            Err(err) => {
                tracing::debug!(error = %err, "no writer connection for a rotation batch");
            }
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for pending in batch {
        outcomes.push(rotate_alone(writer, pending).await);
    }
    outcomes
}

/// One rotation in its own transaction: a batch of one.
async fn rotate_alone(writer: &SqlitePool, pending: &PendingRotation) -> Result<Rotation> {
    let mut conn = writer.acquire().await?;
    match rotate_batch_on(&mut conn, std::slice::from_ref(pending)).await {
        Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| {
            Err(StoreError::Corrupt(
                "a rotation batch of one answered nothing".into(),
            ))
        }),
        Err(err) => {
            close_after_failure(conn).await;
            Err(err)
        }
    }
}

/// Closes a connection whose transaction may still be open: closing rolls it back, where
/// returning it to the pool would keep SQLite's write lock.
async fn close_after_failure(conn: sqlx::pool::PoolConnection<Sqlite>) {
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing a connection after a failed rotation");
    }
}

/// The body of [`rotate_batch`] on one connection: one round trip to SQLite's worker thread for
/// the whole batch (`BEGIN IMMEDIATE`, each rotation's statements, `COMMIT`), then, only for
/// each rotation that did not happen, the read that says why (`Reused` or `Invalid`).
///
/// On an error the transaction may still be open: the caller must close the connection (which
/// rolls it back), never return it to the pool.
async fn rotate_batch_on(
    conn: &mut SqliteConnection,
    batch: &[PendingRotation],
) -> Result<Vec<Result<Rotation>>> {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    for slot in 0..batch.len() {
        sql.push_str(&rotation_statements(slot));
    }
    sql.push_str("COMMIT");
    let mut query = sqlx::query(&sql);
    for pending in batch {
        query = bind_rotation(query, &pending.presented, &pending.next, pending.now)?;
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(conflict_as("refresh token"))?;
    let mut rotated: Vec<Option<Session>> = vec![None; batch.len()];
    for row in &rows {
        let slot: i64 = column(row, "batch_slot")?;
        let slot = usize::try_from(slot)
            .ok()
            .filter(|slot| *slot < batch.len())
            .ok_or_else(|| StoreError::Corrupt(format!("rotation batch slot {slot}")))?;
        rotated[slot] = Some(rows::session(row)?);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for (pending, session) in batch.iter().zip(rotated) {
        outcomes.push(match session {
            Some(session) => Ok(Rotation::Rotated(session)),
            None => explain_unrotated(conn, &pending.presented, pending.now).await,
        });
    }
    Ok(outcomes)
}

/// Binds the ten parameters of one rotation's statements ([`rotation_statements`]).
fn bind_rotation<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    presented: &'q TokenHash,
    next: &'q RefreshRecord,
    now: u64,
) -> Result<sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>> {
    let now_db = db_time(now)?;
    Ok(query
        .bind(now_db)
        .bind(&presented.0[..])
        .bind(now_db)
        .bind(now_db)
        .bind(&next.hash.0[..])
        .bind(db_time(next.created_at)?)
        .bind(db_time(next.expires_at)?)
        .bind(&presented.0[..])
        .bind(now_db)
        .bind(&presented.0[..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::{AccountStore as _, NewSession, NewUser, SessionStore as _};

    const NOW: u64 = 1_700_000_000;
    const LIFE: u64 = 86_400;

    fn record(hash: u8, session_id: &str) -> RefreshRecord {
        RefreshRecord {
            hash: TokenHash([hash; 32]),
            session_id: session_id.to_owned(),
            created_at: NOW,
            expires_at: NOW + LIFE,
        }
    }

    fn pending(presented: u8, next: u8) -> PendingRotation {
        PendingRotation {
            presented: TokenHash([presented; 32]),
            next: record(next, ""),
            now: NOW + 60,
            outcome: tokio::sync::oneshot::channel().0,
        }
    }

    /// A store on a fresh data directory with user `u-1` and the given sessions, each with
    /// its first refresh token.
    async fn store_with_sessions(sessions: &[(&str, u8)]) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        store
            .create_user(&NewUser {
                id: "u-1".into(),
                username: "alice".into(),
                password_hash: "$argon2id$unused".into(),
                created_at: NOW,
            })
            .await
            .unwrap();
        for (session, token) in sessions {
            store
                .create_session(
                    &NewSession {
                        id: (*session).into(),
                        user_id: "u-1".into(),
                        created_at: NOW,
                        expires_at: NOW + LIFE,
                        user_agent: None,
                        ip: None,
                        credential_epoch: 0,
                    },
                    &record(*token, session),
                )
                .await
                .unwrap();
        }
        (dir, store)
    }

    /// One batch holding a rotation that cannot commit (its successor's hash is taken): the
    /// batch's transaction fails as a whole, and each rotation is then decided alone, so the
    /// others still rotate (or see reuse) and only the faulty one fails.
    #[tokio::test]
    async fn a_failing_rotation_in_a_batch_fails_alone() {
        let (_dir, store) = store_with_sessions(&[("s-1", 1), ("s-2", 2), ("s-3", 3)]).await;
        // Token 2's successor would be token 3, which exists.
        let batch = [
            pending(1, 11),
            pending(2, 3),
            pending(1, 12),
            pending(3, 13),
        ];
        let outcomes = rotate_batch(&store.writer, &batch).await;
        assert!(
            matches!(&outcomes[0], Ok(Rotation::Rotated(session)) if session.id == "s-1"),
            "{:?}",
            outcomes[0]
        );
        assert!(
            matches!(&outcomes[1], Err(StoreError::Conflict("refresh token"))),
            "{:?}",
            outcomes[1]
        );
        assert!(
            matches!(&outcomes[2], Ok(Rotation::Reused(session)) if session.id == "s-1"),
            "{:?}",
            outcomes[2]
        );
        assert!(
            matches!(&outcomes[3], Ok(Rotation::Rotated(session)) if session.id == "s-3"),
            "{:?}",
            outcomes[3]
        );
        assert!(store
            .live_refresh_token(&TokenHash([2; 32]), NOW + 60)
            .await
            .unwrap()
            .is_some());
    }

    /// A batch without faults commits whole, in one transaction, with each rotation decided in
    /// queue order.
    #[tokio::test]
    async fn a_batch_decides_each_rotation_in_queue_order() {
        let (_dir, store) = store_with_sessions(&[("s-1", 1)]).await;
        // The successor rotates within the same batch; the original is then reuse; an unknown
        // token is invalid.
        let batch = [pending(1, 2), pending(2, 3), pending(1, 4), pending(9, 10)];
        let mut conn = store.writer.acquire().await.unwrap();
        let outcomes = rotate_batch_on(&mut conn, &batch).await.unwrap();
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(Rotation::Rotated(_)) => "rotated",
                Ok(Rotation::Reused(_)) => "reused",
                Ok(Rotation::Invalid) => "invalid",
                Err(err) => panic!("{err}"),
            })
            .collect();
        assert_eq!(kinds, ["rotated", "rotated", "reused", "invalid"]);
    }
}
