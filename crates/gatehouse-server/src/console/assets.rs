//! The console's files, compiled into the binary so `gatehouse serve` needs nothing beside it.

use std::borrow::Cow;

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const STYLE_PATH: &str = "/console/app.css";

const INDEX: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/app.css");

/// The page's ES modules (`app.js` is the entry; it imports the rest), each at its own path. Only these
/// paths are served, and only these are open without a token (see `auth::is_open`).
pub const SCRIPTS: &[(&str, &str)] = &[
    ("/console/app.js", include_str!("assets/app.js")),
    ("/console/api.js", include_str!("assets/api.js")),
    ("/console/ui.js", include_str!("assets/ui.js")),
    ("/console/signin.js", include_str!("assets/signin.js")),
    ("/console/users.js", include_str!("assets/users.js")),
    ("/console/teams.js", include_str!("assets/teams.js")),
    ("/console/virtual-accounts.js", include_str!("assets/virtual-accounts.js")),
    ("/console/roles.js", include_str!("assets/roles.js")),
    ("/console/tokens.js", include_str!("assets/tokens.js")),
    ("/console/integrations.js", include_str!("assets/integrations.js")),
    ("/console/mcp.js", include_str!("assets/mcp.js")),
    ("/console/controls.js", include_str!("assets/controls.js")),
    ("/console/limits.js", include_str!("assets/limits.js")),
    ("/console/usage.js", include_str!("assets/usage.js")),
    ("/console/audit.js", include_str!("assets/audit.js")),
    ("/console/playground.js", include_str!("assets/playground.js")),
    ("/console/combobox.js", include_str!("assets/combobox.js")),
    ("/console/listing.js", include_str!("assets/listing.js")),
    ("/console/orient.js", include_str!("assets/orient.js")),
    ("/console/yaml.js", include_str!("assets/yaml.js")),
    ("/console/form-editor.js", include_str!("assets/form-editor.js")),
    ("/console/resource-form.js", include_str!("assets/resource-form.js")),
    ("/console/va-form.js", include_str!("assets/va-form.js")),
];

pub fn is_script(path: &str) -> bool {
    SCRIPTS.iter().any(|(p, _)| *p == path)
}

/// Only this origin's script and style run, nothing frames the page, and no form posts elsewhere: a
/// stolen-click or injected-markup attack has nothing to work with.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// In a debug build, `GATEHOUSE_CONSOLE_DIR` (the `assets` folder) serves these same files from disk, read on
/// every request, so working on the console needs no rebuild per edit. A release binary serves only what it
/// was built with.
fn live(path: &str, built: &'static str) -> Cow<'static, str> {
    #[cfg(debug_assertions)]
    if let Some(dir) = std::env::var_os("GATEHOUSE_CONSOLE_DIR") {
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Ok(text) = std::fs::read_to_string(std::path::Path::new(&dir).join(name)) {
            return Cow::Owned(text);
        }
    }
    let _ = path;
    Cow::Borrowed(built)
}

fn file(content_type: &'static str, body: Cow<'static, str>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            // The files change with the binary; revalidating each load keeps an upgraded server's page current.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn index() -> Response {
    file("text/html; charset=utf-8", live("/index.html", INDEX))
}

pub fn script(path: &str, body: &'static str) -> Response {
    file("text/javascript; charset=utf-8", live(path, body))
}

pub async fn style() -> Response {
    file("text/css; charset=utf-8", live(STYLE_PATH, STYLE))
}
