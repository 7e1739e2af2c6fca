//! The one place where errors become HTTP responses.

use fanout_shared::protocol::ApiError;
use worker::{Headers, Response, Result};

/// A JSON response with the security headers every API answer carries.
pub fn json_response<T: serde::Serialize>(status: u16, value: &T) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    let body = serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(Response::ok(body)?.with_status(status).with_headers(headers))
}

/// `{"error": {"kind", "message"}}` with the error's status.
pub fn error_response(err: &ApiError) -> Result<Response> {
    let resp = json_response(err.status, &err.to_body())?;
    if err.status == 401 {
        resp.headers().set("www-authenticate", "Bearer")?;
    }
    Ok(resp)
}
