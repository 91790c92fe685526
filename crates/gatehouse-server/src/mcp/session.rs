//! The gateway's MCP sessions. A client gets an id the gateway made (random, 256 bits), never an
//! upstream's: the gateway keeps, per session, the upstream session id of each server it talks to on the
//! session's behalf. A session belongs to the caller who opened it (their subject and its identity) and to
//! one server; anyone else presenting its id, or presenting it at another server, is told it does not
//! exist (404), exactly as for an id that never existed.
//!
//! Sessions are shared by every replica on one database: each is written to the store (under the SHA-256
//! of its id, never the id) when it opens and when an upstream session is first set, and each replica
//! keeps the ones it uses in memory. The store is read on a local miss, and again once a local copy is
//! older than [`RECHECK`], so that a session ended on another replica is ended here too, within that time.
//! The last use is written back at most every [`TOUCH_EVERY`], off the request path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use gatehouse_core::token::Principal;
use gatehouse_store::McpSessionRecord;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::sse::Link;
use crate::error::ApiError;
use crate::state::{App, Published};

/// Sessions kept in one replica's memory at most; beyond this the least recently used one is dropped
/// from memory (it stays in the store, and is read again when next used).
pub const MAX_SESSIONS: usize = 10_000;
/// A session unused this long is ended.
pub const IDLE: Duration = Duration::hours(1);
/// How long a replica uses its copy of a session before reading the store again.
pub const RECHECK: Duration = Duration::seconds(5);
/// How often a session's last use is written to the store.
pub const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    subject: String,
    /// The subject's identity: a user deleted and created again under the same name is someone else.
    identity: Option<String>,
}

impl Owner {
    pub fn of(view: &Published, p: &Principal) -> Owner {
        Owner { subject: p.subject.to_string(), identity: view.snapshot.identity(&p.subject).map(|i| i.to_string()) }
    }
}

/// The SHA-256 (hex) of a session id: what the store keys sessions by.
pub fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

struct Times {
    last_used: OffsetDateTime,
    /// The last use the store has.
    written: OffsetDateTime,
    /// When this copy was last read from (or written to) the store.
    checked: OffsetDateTime,
}

pub struct Session {
    pub server: String,
    owner: Owner,
    id_hash: String,
    created_at: OffsetDateTime,
    /// The protocol version agreed at `initialize`.
    protocol: Mutex<Option<String>>,
    /// Upstream server name to the session id it gave (None: it gave none, or not initialized yet).
    upstream: Mutex<HashMap<String, Option<String>>>,
    /// Upstream server name to the open event stream of a server reached over HTTP+SSE: the stream is the
    /// upstream session, and closes when this session is dropped. Held by the replica that opened it.
    links: Mutex<HashMap<String, Arc<Link>>>,
    times: Mutex<Times>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain values, never half-written, whatever a panic elsewhere left.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    fn from_record(r: McpSessionRecord, now: OffsetDateTime) -> Session {
        Session {
            server: r.server,
            owner: Owner { subject: r.owner_subject, identity: r.owner_identity },
            id_hash: r.id_hash,
            created_at: r.created_at,
            protocol: Mutex::new(r.protocol),
            upstream: Mutex::new(r.upstreams.into_iter().collect()),
            links: Mutex::new(HashMap::new()),
            times: Mutex::new(Times { last_used: r.last_used, written: r.last_used, checked: now }),
        }
    }

    fn record(&self) -> McpSessionRecord {
        McpSessionRecord {
            id_hash: self.id_hash.clone(),
            server: self.server.clone(),
            owner_subject: self.owner.subject.clone(),
            owner_identity: self.owner.identity.clone(),
            protocol: self.protocol(),
            upstreams: lock(&self.upstream).iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            created_at: self.created_at,
            last_used: lock(&self.times).last_used,
        }
    }

    /// The upstream session with `server`: `None` if none was opened yet, `Some(None)` if it was opened and
    /// the server keeps no sessions.
    pub fn upstream(&self, server: &str) -> Option<Option<String>> {
        lock(&self.upstream).get(server).cloned()
    }

    /// Sets an upstream session in this copy; [`Sessions::save`] shares it with the other replicas.
    pub fn set_upstream(&self, server: &str, id: Option<String>) {
        lock(&self.upstream).insert(server.to_owned(), id);
    }

    pub fn forget_upstream(&self, server: &str) {
        lock(&self.upstream).remove(server);
    }

    /// Every upstream session, to end them with this one.
    pub fn upstreams(&self) -> Vec<(String, String)> {
        lock(&self.upstream).iter().filter_map(|(s, id)| Some((s.clone(), id.clone()?))).collect()
    }

    /// The live SSE link with `server`, if one is open.
    pub fn link(&self, server: &str) -> Option<Arc<Link>> {
        lock(&self.links).get(server).filter(|l| !l.ended()).cloned()
    }

    /// Whether this replica ever held a link with `server` for this session (one that ended counts): when
    /// not, the session was opened on another replica, whose link this one cannot use.
    pub fn held_link(&self, server: &str) -> bool {
        lock(&self.links).contains_key(server)
    }

    pub fn set_link(&self, server: &str, link: Arc<Link>) {
        lock(&self.links).insert(server.to_owned(), link);
    }

    pub fn forget_link(&self, server: &str) {
        lock(&self.links).remove(server);
    }

    /// Closes every SSE link (the upstream sessions of servers reached over HTTP+SSE).
    pub fn close_links(&self) {
        lock(&self.links).clear();
    }

    pub fn protocol(&self) -> Option<String> {
        lock(&self.protocol).clone()
    }

    pub fn set_protocol(&self, v: Option<String>) {
        *lock(&self.protocol) = v;
    }

    /// Takes what another replica wrote (its upstream sessions, its protocol), keeping the links held here.
    fn refresh(&self, r: McpSessionRecord, now: OffsetDateTime) {
        *lock(&self.upstream) = r.upstreams.into_iter().collect();
        *lock(&self.protocol) = r.protocol;
        let mut t = lock(&self.times);
        t.last_used = t.last_used.max(r.last_used);
        t.written = t.written.max(r.last_used);
        t.checked = now;
    }
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// A new session of `owner` with `server` under the id `id`, written to the store before the client
    /// learns the id, so that any replica can serve its next message.
    pub async fn open(
        &self,
        app: &App,
        id: &str,
        server: &str,
        owner: Owner,
        protocol: Option<String>,
        upstream: Option<(String, Option<String>)>,
    ) -> Result<Arc<Session>, ApiError> {
        let now = app.now();
        let record = McpSessionRecord {
            id_hash: id_hash(id),
            server: server.to_owned(),
            owner_subject: owner.subject,
            owner_identity: owner.identity,
            protocol,
            upstreams: upstream.into_iter().collect(),
            created_at: now,
            last_used: now,
        };
        app.store.put_mcp_session(&record).await?;
        let session = Arc::new(Session::from_record(record, now));
        let mut map = lock(&self.map);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| now - lock(&s.times).last_used < IDLE);
        }
        if map.len() >= MAX_SESSIONS {
            let oldest = map.iter().min_by_key(|(_, s)| lock(&s.times).last_used).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(session.id_hash.clone(), session.clone());
        drop(map);
        // Now and then, sessions every replica left idle leave the store.
        if session.id_hash.starts_with("00") {
            let store = app.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.expire_mcp_sessions(now - IDLE).await {
                    tracing::warn!(error = %e, "expiring idle MCP sessions failed");
                }
            });
        }
        Ok(session)
    }

    /// The session `id` if it is `owner`'s, with `server`, and still live; from this replica's memory, or
    /// from the store when this replica has no recent copy.
    pub async fn find(
        &self,
        app: &App,
        id: &str,
        server: &str,
        owner: &Owner,
    ) -> Result<Option<Arc<Session>>, ApiError> {
        let now = app.now();
        let hash = id_hash(id);
        let local = lock(&self.map).get(&hash).cloned();
        let fresh = local.as_ref().is_some_and(|s| now - lock(&s.times).checked < RECHECK);
        let session = match (local, fresh) {
            (Some(s), true) => s,
            (local, _) => {
                let Some(record) = app.store.mcp_session(&hash).await? else {
                    // Ended elsewhere (or never existed): its links here close with it.
                    lock(&self.map).remove(&hash);
                    return Ok(None);
                };
                match local {
                    Some(s) => {
                        s.refresh(record, now);
                        s
                    }
                    None => {
                        let s = Arc::new(Session::from_record(record, now));
                        lock(&self.map).insert(hash.clone(), s.clone());
                        s
                    }
                }
            }
        };
        if session.server != server || &session.owner != owner {
            return Ok(None);
        }
        let touch = {
            let mut t = lock(&session.times);
            if now - t.last_used >= IDLE {
                None
            } else {
                t.last_used = now;
                let due = now - t.written >= TOUCH_EVERY;
                if due {
                    t.written = now;
                }
                Some(due)
            }
        };
        match touch {
            None => {
                self.close(app, id).await;
                Ok(None)
            }
            Some(due) => {
                if due {
                    let store = app.store.clone();
                    tokio::spawn(async move {
                        if let Err(e) = store.touch_mcp_session(&hash, now).await {
                            tracing::warn!(error = %e, "recording an MCP session's use failed");
                        }
                    });
                }
                Ok(Some(session))
            }
        }
    }

    /// Writes the session's upstream sessions and protocol for the other replicas.
    pub async fn save(&self, app: &App, s: &Session) -> Result<(), ApiError> {
        app.store.put_mcp_session(&s.record()).await?;
        lock(&s.times).checked = app.now();
        Ok(())
    }

    /// Ends the session `id` on every replica: here at once, elsewhere at their next look at the store.
    pub async fn close(&self, app: &App, id: &str) {
        let hash = id_hash(id);
        lock(&self.map).remove(&hash);
        if let Err(e) = app.store.delete_mcp_session(&hash).await {
            tracing::warn!(error = %e, "ending an MCP session in the store failed");
        }
    }

    /// Drops the session `id` from this replica's memory only (the store is written after).
    pub fn forget(&self, id: &str) {
        lock(&self.map).remove(&id_hash(id));
    }

    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
