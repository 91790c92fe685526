//! The gateway's MCP sessions. A client gets an id the gateway made (random, 256 bits), never an
//! upstream's: the gateway keeps, per session, the upstream session id of each server it talks to on the
//! session's behalf. A session belongs to the caller who opened it (their subject and its identity) and to
//! one server; anyone else presenting its id, or presenting it at another server, is told it does not
//! exist (404), exactly as for an id that never existed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_core::token::Principal;

use super::sse::Link;
use crate::state::Published;

/// Sessions kept at most; beyond this the least recently used one is dropped.
pub const MAX_SESSIONS: usize = 10_000;
/// A session unused this long is dropped.
pub const IDLE: Duration = Duration::from_secs(3600);

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

pub struct Session {
    pub server: String,
    owner: Owner,
    /// The protocol version agreed at `initialize`.
    pub protocol: Mutex<Option<String>>,
    /// Upstream server name to the session id it gave (None: it gave none, or not initialized yet).
    upstream: Mutex<HashMap<String, Option<String>>>,
    /// Upstream server name to the open event stream of a server reached over HTTP+SSE: the stream is the
    /// upstream session, and closes when this session is dropped.
    links: Mutex<HashMap<String, Arc<Link>>>,
    last_used: Mutex<Instant>,
}

impl Session {
    /// The upstream session with `server`: `None` if none was opened yet, `Some(None)` if it was opened and
    /// the server keeps no sessions.
    pub fn upstream(&self, server: &str) -> Option<Option<String>> {
        self.upstream.lock().ok()?.get(server).cloned()
    }

    pub fn set_upstream(&self, server: &str, id: Option<String>) {
        if let Ok(mut m) = self.upstream.lock() {
            m.insert(server.to_owned(), id);
        }
    }

    pub fn forget_upstream(&self, server: &str) {
        if let Ok(mut m) = self.upstream.lock() {
            m.remove(server);
        }
    }

    /// Every upstream session, to end them with this one.
    pub fn upstreams(&self) -> Vec<(String, String)> {
        self.upstream
            .lock()
            .map(|m| m.iter().filter_map(|(s, id)| Some((s.clone(), id.clone()?))).collect())
            .unwrap_or_default()
    }

    /// The live SSE link with `server`, if one is open.
    pub fn link(&self, server: &str) -> Option<Arc<Link>> {
        self.links.lock().ok()?.get(server).filter(|l| !l.ended()).cloned()
    }

    pub fn set_link(&self, server: &str, link: Arc<Link>) {
        if let Ok(mut m) = self.links.lock() {
            m.insert(server.to_owned(), link);
        }
    }

    pub fn forget_link(&self, server: &str) {
        if let Ok(mut m) = self.links.lock() {
            m.remove(server);
        }
    }

    /// Closes every SSE link (the upstream sessions of servers reached over HTTP+SSE).
    pub fn close_links(&self) {
        if let Ok(mut m) = self.links.lock() {
            m.clear();
        }
    }

    pub fn protocol(&self) -> Option<String> {
        self.protocol.lock().ok()?.clone()
    }

    pub fn set_protocol(&self, v: Option<String>) {
        if let Ok(mut p) = self.protocol.lock() {
            *p = v;
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// A new session of `owner` with `server`, under a fresh id.
    pub fn open(&self, id: String, server: &str, owner: Owner) -> Arc<Session> {
        let session = Arc::new(Session {
            server: server.to_owned(),
            owner,
            protocol: Mutex::new(None),
            upstream: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
        });
        if let Ok(mut map) = self.map.lock() {
            let now = Instant::now();
            map.retain(|_, s| s.last_used.lock().map(|t| now.duration_since(*t) < IDLE).unwrap_or(false));
            if map.len() >= MAX_SESSIONS {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_used.lock().map(|t| *t).unwrap_or(now))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
            map.insert(id, session.clone());
        }
        session
    }

    /// The session `id` if it is `owner`'s, with `server`, and still live.
    pub fn find(&self, id: &str, server: &str, owner: &Owner) -> Option<Arc<Session>> {
        let map = self.map.lock().ok()?;
        let s = map.get(id)?;
        let mut last = s.last_used.lock().ok()?;
        if s.server != server || &s.owner != owner || last.elapsed() >= IDLE {
            return None;
        }
        *last = Instant::now();
        Some(s.clone())
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
