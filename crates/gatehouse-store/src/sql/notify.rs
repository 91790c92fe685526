//! Postgres' commit notifications, and telling an unreachable database from a refused statement.

use std::time::Duration;

use sqlx::postgres::PgListener;

/// The channel every commit notifies, with the new version as the payload.
pub(crate) const CHANNEL: &str = "gatehouse_changes";

/// How long to wait before connecting again after a failed attempt.
const RETRY: Duration = Duration::from_secs(1);

/// Forwards notifications to `wake` until every receiver is gone. After a lost connection `wake` is sent
/// the last value again once listening resumes: what was committed meanwhile was not notified.
pub(crate) async fn listen(url: String, wake: tokio::sync::watch::Sender<i64>) {
    while !wake.is_closed() {
        let mut listener = match PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "cannot connect to listen for changes; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "cannot listen for changes; trying again");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        // Whatever was committed before this point was not seen: have the caller check.
        wake.send_modify(|_| {});
        loop {
            tokio::select! {
                () = wake.closed() => return,
                next = listener.try_recv() => match next {
                    Ok(Some(n)) => {
                        let notified = n.payload().parse::<i64>().ok();
                        wake.send_modify(|v| *v = notified.unwrap_or(*v).max(*v));
                    }
                    // The connection was lost; `try_recv` reconnects on its next call.
                    Ok(None) => {
                        tracing::debug!("lost the change notification connection");
                        wake.send_modify(|_| {});
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "change notifications interrupted; reconnecting");
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                },
            }
        }
    }
}

/// Whether `e` means the database could not be reached, rather than that it refused a statement.
pub(crate) fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // 08: connection exceptions; 57P01-03: the server is shutting down or starting up; 53300: too many
        // connections.
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300"))
        }
        _ => false,
    }
}
