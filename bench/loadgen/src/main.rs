//! A closed-loop load generator: N connections, each sending the same POST back to back for a fixed time,
//! recording every latency. Prints one JSON line: requests/s, errors, and latency percentiles in µs.
//!
//! usage: gatehouse-loadgen URL TOKEN BODY_JSON [--connections N] [--seconds S] [--warmup S] [--header NAME:VALUE]...
//!        [--first-token]
//!
//! `--first-token`: for streamed chat answers, the latency recorded is the time to the first event that
//! carries text (`"content":"<something>"`), not to the end of the answer.

use std::time::{Duration, Instant};

struct Args {
    url: String,
    token: String,
    body: String,
    connections: usize,
    seconds: u64,
    warmup: u64,
    /// Sent with every request, e.g. an MCP session id.
    headers: Vec<(String, String)>,
    first_token: bool,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut positional = Vec::new();
    let (mut connections, mut seconds, mut warmup) = (32usize, 10u64, 2u64);
    let mut headers = Vec::new();
    let mut first_token = false;
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next().ok_or(format!("{name} needs a value"))?.parse().map_err(|e| format!("{name}: {e}"))
        };
        match a.as_str() {
            "--connections" => connections = num("--connections")? as usize,
            "--seconds" => seconds = num("--seconds")?,
            "--warmup" => warmup = num("--warmup")?,
            "--header" => {
                let h = it.next().ok_or("--header needs a value")?;
                let (name, value) = h.split_once(':').ok_or("--header: NAME:VALUE")?;
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "--first-token" => first_token = true,
            _ => positional.push(a),
        }
    }
    let [url, token, body]: [String; 3] = positional.try_into().map_err(|_| {
        "usage: gatehouse-loadgen URL TOKEN BODY_JSON [--connections N] [--seconds S] [--warmup S] \
             [--header NAME:VALUE]... [--first-token]"
    })?;
    Ok(Args {
        url,
        token,
        body,
        connections: connections.max(1),
        seconds: seconds.max(1),
        warmup,
        headers,
        first_token,
    })
}

async fn worker(
    client: reqwest::Client,
    a: std::sync::Arc<Args>,
    start: Instant,
    warm_until: Instant,
    end: Instant,
) -> (Vec<u32>, u64) {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut errors = 0u64;
    let _ = start;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let mut rb = client.post(&a.url).bearer_auth(&a.token).header("content-type", "application/json");
        for (name, value) in &a.headers {
            rb = rb.header(name, value);
        }
        let r = rb.body(a.body.clone()).send().await;
        let (ok, dt) = match r {
            Ok(resp) if a.first_token => match first_text(resp, t0).await {
                Some(d) => (true, d),
                None => (false, t0.elapsed()),
            },
            Ok(resp) => (resp.status().is_success() && resp.bytes().await.is_ok(), t0.elapsed()),
            Err(_) => (false, t0.elapsed()),
        };
        if t0 >= warm_until {
            if ok {
                lat.push(u32::try_from(dt.as_micros()).unwrap_or(u32::MAX));
            } else {
                errors += 1;
            }
        }
    }
    (lat, errors)
}

/// Reads a streamed answer to its end; the time (from `t0`, the request's start) at which the first event
/// with text arrived.
async fn first_text(mut resp: reqwest::Response, t0: Instant) -> Option<Duration> {
    if !resp.status().is_success() {
        return None;
    }
    let mut seen = Vec::new();
    let mut first = None;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if first.is_none() {
                    seen.extend_from_slice(&c);
                    if has_text(&seen) {
                        first = Some(t0.elapsed());
                    }
                }
            }
            Ok(None) => return first,
            Err(_) => return None,
        }
    }
}

fn has_text(buf: &[u8]) -> bool {
    let key = b"\"content\":\"";
    buf.windows(key.len() + 1).any(|w| &w[..key.len()] == key && w[key.len()] != b'"')
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let a = match parse() {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let client = match reqwest::Client::builder().pool_max_idle_per_host(a.connections).tcp_nodelay(true).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let warm_until = start + Duration::from_secs(a.warmup);
    let end = warm_until + Duration::from_secs(a.seconds);
    let tasks: Vec<_> =
        (0..a.connections).map(|_| tokio::spawn(worker(client.clone(), a.clone(), start, warm_until, end))).collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    all.sort_unstable();
    let rps = all.len() as f64 / a.seconds as f64;
    println!(
        "{{\"requests\":{},\"errors\":{},\"rps\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
        all.len(),
        errors,
        rps,
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 0.999)
    );
    if all.is_empty() {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
