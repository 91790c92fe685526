//! Export: everything the caller may read, as the manifests `apply` takes back (credentials left out).

use gatehouse_core::Subject;

use crate::error::{ApiError, NotFound};
use crate::manifest;
use crate::state::App;

/// The caller's readable objects of `manifest_type` (a type or a family of them) and `name`, as
/// multi-document YAML. Naming one object that is missing or unreadable is the same 404 either way.
pub fn export(
    app: &App,
    caller: &Subject,
    manifest_type: Option<String>,
    name: Option<String>,
) -> Result<String, ApiError> {
    let sel = manifest::Selection::new(manifest_type, name)?;
    let docs = manifest::export_selected(&app.snapshot(), caller, app.now(), &sel);
    if docs.is_empty() && sel.names_one() {
        return Err(ApiError::NotFound(NotFound::Readable));
    }
    manifest::to_yaml(&docs)
}
