//! Serving on every core: one single-threaded runtime per core, each accepting on its own `SO_REUSEPORT`
//! listener and calling upstreams through its own HTTP client, so that a request, its connection and its
//! upstream connection all stay on one thread. On a multi-threaded runtime they drift apart, and each hop
//! between workers is a futex wake-up: at one connection that was a third of the gateway's CPU time.
//! Background work (the request log's writer, polling the store for changes) runs on the caller's runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use gatehouse_server::gateway::upstream;
use gatehouse_server::App;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{oneshot, watch};

/// How long graceful shutdown waits for the request log to be stored.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One listener per shard on the same address (the first one's port when `addr` asks for any port); the
/// kernel spreads incoming connections over them.
pub fn bind(addr: SocketAddr, shards: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = listener(addr)?;
    let addr = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..shards {
        all.push(listener(addr)?);
    }
    Ok(all)
}

fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// How many shards to run: one per core.
pub fn shard_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Serves on `listeners`, one shard thread each, until `shutdown` resolves; then lets every connection
/// finish and stores what the request log still holds.
pub async fn serve(
    listeners: Vec<std::net::TcpListener>,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let background = gatehouse_server::state::spawn_background(&app);
    let (stop, stopped) = watch::channel(false);
    let (release, released) = watch::channel(false);
    let mut threads = Vec::new();
    let mut finished = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let client = upstream::client(&app.config).context("cannot build the upstream HTTP client")?;
        let (done, shard_done) = oneshot::channel();
        let shard =
            Shard { app: app.clone(), listener, client, stopped: stopped.clone(), released: released.clone(), done };
        let thread = std::thread::Builder::new()
            .name(format!("gatehouse-shard-{i}"))
            .spawn(move || shard.run())
            .context("cannot start a server thread")?;
        threads.push(thread);
        finished.push(shard_done);
    }
    shutdown.await;
    let _ = stop.send(true);
    let mut result = Ok(());
    for shard_done in finished {
        match shard_done.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(anyhow::anyhow!("a server thread failed")),
        }
    }
    background.abort();
    // Every request has finished: store what the request log still holds before the process exits.
    app.drain_request_log(DRAIN_TIMEOUT).await;
    let _ = release.send(true);
    for thread in threads {
        let _ = thread.join();
    }
    result
}

struct Shard {
    app: App,
    listener: std::net::TcpListener,
    client: reqwest::Client,
    stopped: watch::Receiver<bool>,
    released: watch::Receiver<bool>,
    /// How serving went, sent once the shard has stopped.
    done: oneshot::Sender<anyhow::Result<()>>,
}

impl Shard {
    /// Serves until stopped, reports, then keeps its runtime until released: database connections this shard
    /// opened are registered with its runtime's I/O driver, and the request log's last batches, written on
    /// the caller's runtime, may go through them.
    fn run(self) {
        let Shard { app, listener, client, stopped, mut released, done } = self;
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                let _ = done.send(Err(anyhow::Error::new(e).context("cannot start a server runtime")));
                return;
            }
        };
        runtime.block_on(async move {
            let _ = done.send(serve_shard(app, listener, client, stopped).await);
            let _ = released.wait_for(|r| *r).await;
        });
    }
}

async fn serve_shard(
    app: App,
    listener: std::net::TcpListener,
    client: reqwest::Client,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    // Every task of this runtime runs on this thread.
    upstream::use_own_client(client);
    let router = gatehouse_server::router(app.clone());
    let stop = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    // Header-read and idle timeouts, and the connection limit shared by every shard: see `net`.
    gatehouse_server::net::serve_connections(listener, app, router, stop).await.context("server failed")
}

/// The address to listen on: the first `listen` resolves to.
pub async fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("cannot resolve {listen}"))?
        .next()
        .with_context(|| format!("{listen} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_server::{AppState, OsEntropy, ServerConfig, SystemClock};
    use gatehouse_store::RequestLog;
    use std::sync::Arc;

    fn entry(n: i64) -> RequestLog {
        RequestLog {
            at: time::OffsetDateTime::from_unix_timestamp(1_800_000_000 + n).unwrap(),
            subject: "user:a@example.com".into(),
            subject_id: None,
            token_id: format!("tok{n}"),
            virtual_account: None,
            model: "oa/gpt".into(),
            route: "chat".into(),
            status: 200,
            latency_us: 10,
            upstream_latency_us: None,
            input_tokens: None,
            output_tokens: None,
            request_id: None,
            prompt: None,
            completion: None,
            cost_usd: None,
            refused_by: None,
            request_bytes: None,
            response_bytes: None,
            guardrails: Vec::new(),
        }
    }

    #[tokio::test]
    async fn shards_share_one_port_and_shutdown_drains_the_request_log() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = gatehouse_store::open(&url).await.unwrap();
        // Batches would wait an hour to fill: only the shutdown's drain can write these in time.
        let config = ServerConfig { request_log_flush_interval: Duration::from_secs(3600), ..ServerConfig::default() };
        let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
        let app = AppState::new(store.clone(), Arc::new(SystemClock), Arc::new(OsEntropy), config, key).await.unwrap();
        let listeners = bind("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let addr = listeners[0].local_addr().unwrap();
        assert!(listeners.iter().all(|l| l.local_addr().unwrap() == addr));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(listeners, app.clone(), async move {
            let _ = stopped.await;
        }));
        // Fresh connections, so that the kernel spreads them over the shards.
        for _ in 0..12 {
            let http = reqwest::Client::new();
            let r = http.get(format!("http://{addr}/healthz")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        for n in 0..3 {
            app.log_request(entry(n));
        }
        assert_eq!(app.request_logs_written(), 0, "still gathering");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), served).await.unwrap().unwrap().unwrap();
        let stored = store.request_logs(&gatehouse_store::RequestLogFilter::default()).await.unwrap();
        assert_eq!(stored.len(), 3);
        assert!(reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await.is_err(), "stopped");
    }

    #[tokio::test]
    async fn half_sent_requests_are_dropped_while_others_are_served() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = gatehouse_store::open(&url).await.unwrap();
        let config = ServerConfig { header_read_timeout: Duration::from_secs(1), ..ServerConfig::default() };
        let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
        let app = AppState::new(store, Arc::new(SystemClock), Arc::new(OsEntropy), config, key).await.unwrap();
        let listeners = bind("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = listeners[0].local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(listeners, app, async move {
            let _ = stopped.await;
        }));
        // What made the server unreachable: many requests whose headers never end.
        let mut slow = Vec::new();
        for _ in 0..300 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
            slow.push(c);
        }
        let r = reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        for c in slow.iter_mut() {
            let mut buf = [0u8; 512];
            let closed = loop {
                match tokio::time::timeout(Duration::from_secs(3), c.read(&mut buf)).await {
                    Err(_) => break false,
                    Ok(Ok(0)) | Ok(Err(_)) => break true,
                    Ok(Ok(_)) => continue,
                }
            };
            assert!(closed, "a half-sent request was kept open");
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), served).await.unwrap().unwrap().unwrap();
    }
}
