//! `/api/v1/runs/{id}…` and `/api/v1/history`: saved runs listed, shown,
//! exported, compared and deleted, and one URL's price history, over
//! [`crate::store::history::Store`].

use fanout_shared::history::{diff, results_csv};
use fanout_shared::input::validation::{check_run_id, parse_page};
use fanout_shared::wire::protocol::ApiError;
use worker::{Env, Request, Response, Result};

use crate::context::{Settings, authorize, error_response, json_response};
use crate::store::history::Store;

fn unavailable() -> ApiError {
    ApiError::new(503, "history_unavailable", "this deployment keeps no run history (no D1 binding `DB`)")
}

fn internal(e: String) -> ApiError {
    ApiError::new(500, "history_error", e)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, "run_not_found", format!("no saved run {id:?} (it may have been deleted or expired)"))
}

fn respond(r: std::result::Result<Response, ApiError>) -> Result<Response> {
    r.or_else(|e| error_response(&e))
}

/// Everything under `/api/v1/runs/…` except `POST /api/v1/runs`, and
/// `GET /api/v1/history`.
pub async fn route(req: &Request, env: &Env, settings: &Settings, path: &str) -> Result<Response> {
    respond(route_inner(req, env, settings, path).await)
}

async fn route_inner(
    req: &Request,
    env: &Env,
    settings: &Settings,
    path: &str,
) -> std::result::Result<Response, ApiError> {
    authorize(req, settings)?;
    let store = Store::open(env, settings).ok_or_else(unavailable)?;
    let url = req.url().map_err(|e| internal(e.to_string()))?;
    let query = url.query().unwrap_or("");
    let method = req.method();
    let json = |v: &serde_json::Value| json_response(200, v).map_err(|e| internal(e.to_string()));
    if path == "/api/v1/history" {
        if method != worker::Method::Get {
            return Err(ApiError::method_not_allowed(&method, path));
        }
        let Some(target) = url.query_pairs().find(|(k, _)| k == "url").map(|(_, v)| v.into_owned()) else {
            return Err(ApiError::refused("no_url", "give the page as ?url=https://…"));
        };
        let points = store.price_history(&target).await.map_err(internal)?;
        return json(&serde_json::json!({ "url": target, "points": points }));
    }
    let rest = path.trim_start_matches("/api/v1/runs").trim_start_matches('/');
    if rest.is_empty() {
        if method != worker::Method::Get {
            return Err(ApiError::method_not_allowed(&method, path));
        }
        let (limit, offset) = parse_page(query)?;
        let (runs, total) = store.runs(limit, offset).await.map_err(internal)?;
        return json(&serde_json::json!({ "runs": runs, "total": total, "limit": limit, "offset": offset }));
    }
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let id = check_run_id(id)?;
    match (method, tail) {
        (worker::Method::Get, "") => {
            let run = store.run(id).await.map_err(internal)?.ok_or_else(|| not_found(id))?;
            let results = store.results(id, true).await.map_err(internal)?;
            json(&serde_json::json!({ "run": run, "results": results }))
        }
        (worker::Method::Delete, "") => {
            store.run(id).await.map_err(internal)?.ok_or_else(|| not_found(id))?;
            store.delete(id).await.map_err(internal)?;
            json(&serde_json::json!({ "deleted": id }))
        }
        (worker::Method::Get, "export.csv") => {
            store.run(id).await.map_err(internal)?.ok_or_else(|| not_found(id))?;
            let csv = results_csv(&store.results(id, false).await.map_err(internal)?);
            let mut resp = Response::ok(csv).map_err(|e| internal(e.to_string()))?;
            let h = resp.headers_mut();
            let _ = h.set("content-type", "text/csv; charset=utf-8");
            let _ = h.set("content-disposition", &format!("attachment; filename=\"fanout-{id}.csv\""));
            Ok(resp)
        }
        (worker::Method::Get, "diff") => {
            let run = store.run(id).await.map_err(internal)?.ok_or_else(|| not_found(id))?;
            let against = url.query_pairs().find(|(k, _)| k == "against").map_or("previous".into(), |(_, v)| v);
            let other = if against == "previous" {
                store.previous(&run).await.map_err(internal)?.ok_or_else(|| {
                    ApiError::new(
                        404,
                        "no_previous_run",
                        format!("run {id} is the oldest saved run; nothing to compare with"),
                    )
                })?
            } else {
                let other = check_run_id(&against)?;
                store.run(other).await.map_err(internal)?.ok_or_else(|| not_found(other))?
            };
            let (old, new) = (
                store.results(&other.id, false).await.map_err(internal)?,
                store.results(id, false).await.map_err(internal)?,
            );
            json(&serde_json::json!({ "run": run, "against": other, "diff": diff(&old, &new) }))
        }
        (method, "" | "export.csv" | "diff") => Err(ApiError::method_not_allowed(&method, path)),
        _ => Err(ApiError::new(404, "not_found", format!("no API endpoint at {path}"))),
    }
}
