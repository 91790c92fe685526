//! What the API does, apart from HTTP: functions that take the application state (its published snapshot),
//! the caller and typed input, and return typed results or an `ApiError`. Handlers only parse the request,
//! call one of these and shape the answer; nothing here knows axum.

pub mod apply;
pub mod audit;
pub mod export;
