//! The mock upstream as a process, for the load benchmark and manual runs. Serves until killed.

use std::net::SocketAddr;
use std::process::ExitCode;

use gatehouse_mock_upstream::{try_start, MockConfig};

const USAGE: &str = "\
usage: gatehouse-mock-upstream [--listen 127.0.0.1:9000] [--record] [--threads N]

  --listen ADDR   loopback address to listen on (default 127.0.0.1:9000; port 0 picks one)
  --record        keep every request, readable at GET /__mock/requests (off: the benchmark wants no
                  per-request cost); counters are always at GET /__mock/stats
  --threads N     tokio worker threads (default: one per core)";

#[derive(Debug, PartialEq)]
struct Args {
    listen: SocketAddr,
    record: bool,
    threads: Option<usize>,
}

/// `Ok(None)` means help was asked for.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args { listen: SocketAddr::from(([127, 0, 0, 1], 9000)), record: false, threads: None };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let v = value("--listen")?;
                out.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--record" => out.record = true,
            "--threads" => {
                let v = value("--threads")?;
                let n: usize = v.parse().map_err(|e| format!("--threads {v}: {e}"))?;
                if n == 0 {
                    return Err("--threads must be at least 1".to_owned());
                }
                out.threads = Some(n);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !out.listen.ip().is_loopback() {
        return Err(format!("--listen {}: the mock listens on loopback addresses only", out.listen));
    }
    Ok(Some(out))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gatehouse-mock-upstream: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = args.threads {
        builder.worker_threads(n);
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse-mock-upstream: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = MockConfig { record_requests: args.record, listen: args.listen };
        let handle = match try_start(config).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("gatehouse-mock-upstream: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        // Scripts wait for this line to learn the server is up (and, with port 0, where).
        println!("gatehouse-mock-upstream listening on {}", handle.base_url());
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Option<Args>, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags() {
        let a = p(&["--listen", "127.0.0.1:9100", "--record", "--threads=1"]).unwrap().unwrap();
        assert_eq!(a, Args { listen: "127.0.0.1:9100".parse().unwrap(), record: true, threads: Some(1) });
        assert_eq!(p(&[]).unwrap().unwrap().listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(p(&["--help"]).unwrap(), None);
        assert!(p(&["--listen", "0.0.0.0:9000"]).is_err());
        assert!(p(&["--listen"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["--threads", "0"]).is_err());
    }
}
