#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What recording costs the request path: one HTTP request's counter and histogram, one gateway call, one
//! upstream attempt and one decision (what a chat call records), from 1 thread and from every core at once
//! on the same series (the worst case: every core adds to the same atomics).
//!
//! Run: `cargo bench -p gatehouse-server --bench metrics`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_server::observability::Metrics;

const ROUNDS: u64 = 2_000_000;

fn record(m: &Metrics) {
    m.http_request("POST", "/v1/chat/completions", 200, Duration::from_micros(850));
    m.gateway_call("chat", Some("mock/gpt"), 200);
    m.upstream("mock", "chat", Duration::from_micros(700), None);
}

fn run(threads: usize) -> f64 {
    let m = Arc::new(Metrics::default());
    record(&m);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    record(black_box(&m));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    started.elapsed().as_nanos() as f64 / ROUNDS as f64
}

fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("one chat call's recording (http request + gateway call + upstream attempt):");
    println!("  1 thread: {:.0} ns per call", run(1));
    if cores > 1 {
        println!("  {cores} threads on the same series: {:.0} ns per call per thread", run(cores));
    }
}
