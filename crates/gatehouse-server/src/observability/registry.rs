//! Counters and histograms with labels, and their Prometheus text exposition.
//!
//! A family maps label values to a cell of atomics in a lock-free map (`papaya`): recording looks the cell
//! up without allocating (the borrowed labels hash like the owned ones) and adds with relaxed atomics, so
//! the request path takes no lock any other core holds. The well-known Prometheus crates keep their label
//! families behind a read-write lock, whose every read writes the lock word that all cores share.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Label values as stored: owned, in the order of the family's label names.
type Key = Box<[Box<str>]>;

/// Label values as a caller passes them; hashes exactly as its `Key` does.
struct Query<'a>(&'a [&'a str]);

impl Hash for Query<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A slice hashes its length, then each element; `str` and `Box<str>` hash alike.
        self.0.len().hash(state);
        for v in self.0 {
            v.hash(state);
        }
    }
}

impl papaya::Equivalent<Key> for Query<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0.len() == key.len() && self.0.iter().zip(key.iter()).all(|(a, b)| *a == &**b)
    }
}

/// One metric name with labels: a cell per distinct set of label values.
pub struct Family<C> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    cells: papaya::HashMap<Key, Arc<C>>,
    make: fn() -> C,
}

impl<C> Family<C> {
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str], make: fn() -> C) -> Self {
        Family { name, help, labels, cells: papaya::HashMap::new(), make }
    }

    /// The cell of these label values (in the order of the label names), made on first use.
    pub fn with(&self, values: &[&str]) -> Arc<C> {
        let cells = self.cells.pin();
        if let Some(c) = cells.get(&Query(values)) {
            return c.clone();
        }
        let key: Key = values.iter().map(|v| Box::<str>::from(*v)).collect();
        cells.get_or_insert_with(key, || Arc::new((self.make)())).clone()
    }

    /// Every cell with its labels, sorted, for a stable exposition.
    fn cells(&self) -> Vec<(String, Arc<C>)> {
        let mut out: Vec<(String, Arc<C>)> =
            self.cells.pin().iter().map(|(k, c)| (label_text(self.labels, k), c.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// A monotonically increasing count.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds: 1 ms to 2 minutes (upstream calls can be that long).
pub const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Observations in fixed buckets; the sum is kept in microseconds so it can be an integer atomic.
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the `+Inf` one; each observation goes into exactly one (made cumulative
    /// when exposed).
    buckets: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn latency() -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.iter().position(|b| secs <= *b).unwrap_or(self.bounds.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

/// `{a="x",b="y"}` (empty without labels), values escaped as the text format requires.
fn label_text(names: &[&str], values: &[Box<str>]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (n, v)) in names.iter().zip(values.iter()).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{n}=\"{}\"", escape(v));
    }
    s.push('}');
    s
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `{a="x",le="0.5"}` from `{a="x"}`.
fn with_le(labels: &str, le: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},le=\"{le}\"}}"),
        None => format!("{{le=\"{le}\"}}"),
    }
}

/// The text exposition (version 0.0.4) being written.
#[derive(Default)]
pub struct Exposition {
    pub text: String,
}

impl Exposition {
    fn head(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub fn counters(&mut self, f: &Family<Counter>) {
        self.head(f.name, f.help, "counter");
        for (labels, c) in f.cells() {
            let _ = writeln!(self.text, "{}{labels} {}", f.name, c.get());
        }
    }

    pub fn histograms(&mut self, f: &Family<Histogram>) {
        self.head(f.name, f.help, "histogram");
        for (labels, h) in f.cells() {
            self.histogram_lines(f.name, &labels, &h);
        }
    }

    fn histogram_lines(&mut self, name: &str, labels: &str, h: &Histogram) {
        let mut cumulative = 0;
        for (i, b) in h.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let le = h.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(self.text, "{name}_bucket{} {cumulative}", with_le(labels, &le));
        }
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(self.text, "{name}_sum{labels} {sum}");
        let _ = writeln!(self.text, "{name}_count{labels} {cumulative}");
    }

    /// A histogram without labels.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.head(name, help, "histogram");
        self.histogram_lines(name, "", h);
    }

    /// A value read when scraped.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.head(name, help, "gauge");
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// A count read when scraped (kept elsewhere).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.head(name, help, "counter");
        let _ = writeln!(self.text, "{name} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_labels_find_the_owned_cell() {
        let f: Family<Counter> = Family::new("t_total", "t", &["a", "b"], Counter::default);
        f.with(&["x", "y"]).inc();
        f.with(&["x", "y"]).inc();
        f.with(&["x", "z"]).inc();
        assert_eq!(f.cells.len(), 2);
        let mut e = Exposition::default();
        e.counters(&f);
        assert!(e.text.contains("t_total{a=\"x\",b=\"y\"} 2\n"), "{}", e.text);
        assert!(e.text.contains("t_total{a=\"x\",b=\"z\"} 1\n"), "{}", e.text);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let mut e = Exposition::default();
        e.histogram("h_seconds", "h", &h);
        assert!(e.text.contains("h_seconds_bucket{le=\"0.1\"} 1\n"), "{}", e.text);
        assert!(e.text.contains("h_seconds_bucket{le=\"1\"} 2\n"), "{}", e.text);
        assert!(e.text.contains("h_seconds_bucket{le=\"+Inf\"} 3\n"), "{}", e.text);
        assert!(e.text.contains("h_seconds_count 3\n"), "{}", e.text);
        assert!(e.text.contains("h_seconds_sum 5.55\n"), "{}", e.text);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_text(&["a"], &["q\"\\\n".into()]), "{a=\"q\\\"\\\\\\n\"}");
    }
}
