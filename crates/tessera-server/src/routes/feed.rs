//! `GET /oauth/revocations`: the revocation feed, so that services trusting Tessera's tokens
//! refuse revoked ones within a second (the protocol: `docs/revocation-feed.md`).
//!
//! A client (HTTP Basic credentials, as for introspection) asks for the revocations recorded
//! after its cursor; `after=0` returns every revocation that still matters (a snapshot). When
//! nothing newer exists the request is held open (a long poll, at most [`MAX_WAIT`]) and answered
//! as soon as this instance learns of a new revocation: recorded here, broadcast through Redis
//! by another instance, or read from the database. The answer always comes from the durable
//! record, never from a cache.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tessera_store::{Revocation, RevocationKind};

use super::oauth::authenticate_client;
use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::{OAuthPeer, OnRedisFailure, RateDecision};

/// The longest a request waits for a revocation before answering with none.
pub const MAX_WAIT: Duration = Duration::from_secs(25);

/// The most revocations in one answer; a client with more to read asks again at once from the
/// cursor it got (the answer says `"more": true`).
pub const MAX_PAGE: usize = 10_000;

/// The query: `after` (required cursor, `0` for everything that still matters) and `wait`
/// (seconds to hold the request when nothing is newer, 0 to 25, default 25).
struct FeedQuery {
    after: i64,
    wait: Duration,
}

fn parse_query(raw: Option<&str>) -> Result<FeedQuery, ApiError> {
    let mut after = None;
    let mut wait = MAX_WAIT;
    for pair in raw
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "after" => {
                let cursor = value.parse::<i64>().ok().filter(|cursor| *cursor >= 0);
                after = Some(cursor.ok_or_else(|| {
                    ApiError::BadRequest(
                        "`after` must be a cursor from an earlier answer, or 0".into(),
                    )
                })?);
            }
            "wait" => {
                let seconds = value
                    .parse::<u64>()
                    .ok()
                    .filter(|seconds| *seconds <= MAX_WAIT.as_secs());
                wait = Duration::from_secs(seconds.ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "`wait` must be a whole number of seconds from 0 to {}",
                        MAX_WAIT.as_secs()
                    ))
                })?);
            }
            _ => {}
        }
    }
    let after = after.ok_or_else(|| {
        ApiError::BadRequest("the `after` parameter is required (0 for a snapshot)".into())
    })?;
    Ok(FeedQuery { after, wait })
}

/// One revocation as the feed shows it.
fn entry(revocation: &Revocation) -> Value {
    let kind = match revocation.kind {
        RevocationKind::Token => "token",
        RevocationKind::Session => "session",
        RevocationKind::User => "user",
    };
    json!({
        "kind": kind,
        "value": revocation.subject,
        "not_before": revocation.not_before,
        "until": revocation.expires_at,
    })
}

/// Database reads of the feed at once, whatever the number of followers: a burst of snapshots
/// or a wake-up of every waiting follower queues here instead of taking the store's connections
/// from logins and refreshes.
pub const CONCURRENT_READS: usize = 2;

/// The revocations after `after` that still matter at `now` (at most [`MAX_PAGE`] read), the
/// cursor to ask from next (past expired entries too, so they are not read again), and whether
/// more are waiting.
///
/// # Errors
/// 400 for a cursor beyond every number the record ever handed out (a database restored from a
/// backup, or another deployment's cursor): the follower must start again from `after=0`, or it
/// would miss what is recorded until the record catches up; the store's error.
async fn page(state: &AppState, after: i64, now: u64) -> Result<(Vec<Value>, i64, bool), ApiError> {
    let (recorded, newest) = {
        let _turn = state
            .feed_reads
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable("the server is stopping"))?;
        let limit = u32::try_from(MAX_PAGE).unwrap_or(u32::MAX);
        state.store.revocations_page(after, limit).await?
    };
    if after > newest {
        return Err(ApiError::BadRequest(
            "`after` is ahead of the revocation record (a restored database, or another \
             deployment's cursor): start again from after=0"
                .into(),
        ));
    }
    let cursor = recorded.last().map_or(after, |(seq, _)| *seq);
    let entries = recorded
        .iter()
        .filter(|(_, revocation)| revocation.expires_at > now)
        .map(|(_, revocation)| entry(revocation))
        .collect();
    Ok((
        entries,
        cursor,
        cursor < newest && recorded.len() == MAX_PAGE,
    ))
}

/// `GET /oauth/revocations?after=CURSOR[&wait=SECONDS]` with HTTP Basic client credentials ->
/// `{"revocations": [{kind, value, not_before, until}], "cursor": NEXT, "more": bool}`; held
/// open up to `wait` seconds (default 25) while nothing is newer than `after`.
///
/// # Errors
/// 401 `invalid_client` without valid client credentials; 400 for a missing or malformed
/// `after` or `wait`; 429 past the per-address limit of the OAuth endpoints or
/// `TESSERA_RATE_LIMIT_PER_IP` requests per minute by one client; 503 if the record cannot be
/// read (a client must then treat its view as stale, never as complete).
pub async fn revocations(
    State(state): State<AppState>,
    _: OAuthPeer,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let client_id = authenticate_client(&state, &headers).await?;
    if let RateDecision::Limited(refusal) = state
        .feed_limiter
        .check(&client_id, state.now(), OnRedisFailure::AsConfigured)
        .await?
    {
        tracing::warn!(event = "rate_limited", client_id = %client_id, retry_after = refusal.retry_after, "too many revocation feed requests by one client");
        return Err(ApiError::TooManyRequests {
            retry_after: refusal.retry_after,
        });
    }
    let query = parse_query(raw.as_deref())?;
    // Subscribed before the first read: a revocation applied between the read and the wait
    // still wakes it.
    let mut newest = state.deny_list.newest_revocation();
    let mut stopping = state.stopping.subscribe();
    let deadline = tokio::time::Instant::now() + query.wait;
    loop {
        newest.borrow_and_update();
        let (entries, cursor, more) = page(&state, query.after, state.now()).await?;
        let waited_enough = tokio::time::Instant::now() >= deadline;
        if !entries.is_empty() || more || waited_enough || *stopping.borrow() {
            let mut response = Json(json!({
                "revocations": entries,
                "cursor": cursor,
                "more": more,
            }))
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(response);
        }
        tokio::select! {
            changed = newest.changed() => {
                if changed.is_err() {
                    return Err(ApiError::Unavailable("the revocation record is not followed"));
                }
            }
            () = tokio::time::sleep_until(deadline) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_needs_a_cursor_and_bounds_the_wait() {
        let parsed = parse_query(Some("after=42&wait=3")).unwrap();
        assert_eq!((parsed.after, parsed.wait), (42, Duration::from_secs(3)));
        assert_eq!(parse_query(Some("after=0")).unwrap().wait, MAX_WAIT);
        for bad in [
            None,
            Some(""),
            Some("after=-1"),
            Some("after=x"),
            Some("after=1&wait=26"),
        ] {
            assert!(
                matches!(parse_query(bad), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
