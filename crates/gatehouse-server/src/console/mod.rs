//! The web console: a single page served from the binary, signed in with an HttpOnly session cookie.
//!
//! The page is a client of the same JSON API as every other client, so it can never allow what the API
//! refuses: a control it disables is only a courtesy, the server decides.

pub mod assets;
pub mod session;

use axum::routing::get;
use axum::Router;

use crate::state::App;

/// The console's own routes (the session endpoints live under `/api/v1/auth/session`, see `session`).
pub fn routes() -> Router<App> {
    let router = Router::new().route("/", get(assets::index)).route(assets::STYLE_PATH, get(assets::style));
    assets::SCRIPTS
        .iter()
        .fold(router, |router, (path, body)| router.route(path, get(move || async move { assets::script(path, body) })))
}
