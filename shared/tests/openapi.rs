//! The OpenAPI 3.1 document of the whole API (`edge/openapi.json`, served at
//! `GET /api/v1/openapi.json`), generated here from the wire types' own
//! JSON Schemas (schemars reads their serde attributes), so a field added,
//! renamed or made optional in Rust changes the document with it.
//!
//! The paths, their parameters and their statuses are listed here, by hand:
//! the edge's route table is not data. `make test` runs Schemathesis against
//! a live edge with this document, which fails on any path, status, header
//! or body the edge answers and the document does not say.
//!
//! This test fails when the committed document is not the generated one;
//! `FANOUT_WRITE_OPENAPI=1 cargo test -p fanout-shared --features
//! extract,crawl,watch,schema --test openapi` (`make openapi`) rewrites it.

#![cfg(all(feature = "schema", feature = "crawl", feature = "watch"))]
#![allow(missing_docs)]

use fanout_shared::history::{PricePoint, RunDiff, RunRecord, SavedResult};
use fanout_shared::load::protocol::{LoadEvent, LoadRequest};
use fanout_shared::wire::config::Limits;
use fanout_shared::wire::jobs::{JobCreated, JobList, JobRequest, JobStatus};
use fanout_shared::wire::json::MAX_SAFE_INTEGER;
use fanout_shared::wire::protocol::{ApiErrorBody, ConfigResponse, Event, RunRequest};
use fanout_shared::wire::watches::{
    DeliveryLog, TestRequest, TestSent, WatchCreated, WatchDetail, WatchList, WatchPatch, WatchPrices, WatchRequest,
};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

/// Every `kind` an API error may have.
const ERROR_KINDS: &[&str] = &[
    "malformed_json",
    "malformed_body",
    "unsupported_media_type",
    "body_too_large",
    "no_urls",
    "no_url",
    "too_many_urls",
    "invalid_url",
    "blocked_target",
    "option_out_of_range",
    "conflicting_options",
    "invalid_pattern",
    "invalid_page",
    "invalid_after",
    "invalid_run_id",
    "invalid_job_id",
    "invalid_watch_id",
    "invalid_rule",
    "invalid_webhook",
    "invalid_channel",
    "unauthorized",
    "rate_limited",
    "not_found",
    "method_not_allowed",
    "run_not_found",
    "no_previous_run",
    "job_not_found",
    "watch_not_found",
    "job_exists",
    "watch_busy",
    "channel_not_set",
    "too_many_jobs",
    "too_many_watches",
    "history_unavailable",
    "history_error",
    "jobs_unavailable",
    "job_unreachable",
    "sitemap_unavailable",
    "internal",
];

struct Doc {
    generator: SchemaGenerator,
}

impl Doc {
    /// A `$ref` to `T`'s schema (added to the components).
    fn r<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    fn json_body<T: JsonSchema>(&mut self) -> Value {
        json!({ "required": true, "content": { "application/json": { "schema": self.r::<T>() } } })
    }

    /// [`Self::json_body`] with an example (Schemathesis's examples phase sends it).
    fn json_example<T: JsonSchema>(&mut self, example: Value) -> Value {
        let mut body = self.json_body::<T>();
        body["content"]["application/json"]["example"] = example;
        body
    }

    /// A `status` answer with a JSON body of `T`.
    fn ok<T: JsonSchema>(&mut self, description: &str) -> Value {
        json!({ "description": description, "content": { "application/json": { "schema": self.r::<T>() } } })
    }

    /// An NDJSON stream whose every line is a `T`.
    fn ndjson<T: JsonSchema>(&mut self, description: &str) -> Value {
        json!({
            "description": description,
            "content": { "application/x-ndjson": { "schema": self.r::<T>(), "x-ndjson-item": true } }
        })
    }
}

/// `response` with OpenAPI links from the id at `id` (a runtime expression)
/// to each of `operations`, whose path parameter is `id`: how a client (and
/// Schemathesis's stateful phase) goes from a created resource to its routes.
fn links(mut response: Value, id: &str, operations: &[&str]) -> Value {
    let map: serde_json::Map<String, Value> = operations
        .iter()
        .map(|op| ((*op).to_owned(), json!({ "operationId": op, "parameters": { "id": id } })))
        .collect();
    response["links"] = Value::Object(map);
    response
}

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiErrorBody" } } } })
}

/// The statuses every API route may answer besides its own.
fn common(mut responses: Value, public: bool) -> Value {
    let map = responses.as_object_mut().expect("an object");
    if !public {
        map.insert("401".into(), json!({ "$ref": "#/components/responses/Unauthorized" }));
        map.insert("429".into(), json!({ "$ref": "#/components/responses/RateLimited" }));
    }
    map.insert("405".into(), error("`method_not_allowed`: another method is served on this path"));
    responses
}

/// An operation's answers: `ok` (status, response), then its `errors` and
/// any `extra` ones, then the [`common`] ones.
fn answers(ok: (&str, Value), errors: &Value, extra: Value) -> Value {
    let mut m = errors.clone();
    let map = m.as_object_mut().expect("an object");
    if let Value::Object(e) = extra {
        map.extend(e);
    }
    map.insert(ok.0.into(), ok.1);
    common(m, false)
}

/// The largest value of schemars's integer `format`s where it states none:
/// `uint32` is a `u32`; a `uint64` is read exactly only up to 2⁵³ − 1 by
/// JavaScript clients (and the edge's `whole_numbers`).
fn integer_ranges(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let max = match map.get("format").and_then(Value::as_str) {
                Some("uint32") => Some(json!(u32::MAX)),
                Some("uint64" | "int64") => Some(json!(MAX_SAFE_INTEGER)),
                Some("uint16") => Some(json!(u16::MAX)),
                _ => None,
            };
            if let Some(max) = max {
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(integer_ranges);
        }
        Value::Array(items) => items.iter_mut().for_each(integer_ranges),
        _ => {}
    }
}

fn page_params() -> Value {
    json!([
        { "name": "limit", "in": "query", "required": false, "description": "Page size, 1 to 100 (default 20): `invalid_page` otherwise",
          "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } },
        { "name": "offset", "in": "query", "required": false, "description": "Items to skip (default 0)",
          "schema": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64, "default": 0 } }
    ])
}

fn id_param(name: &str, what: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true,
            "description": format!("The {what}'s id: 1 to 64 letters, digits, `-` or `_`"),
            "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" } })
}

fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "#/components/schemas/".into();
        s.meta_schema = None;
    });
    let mut d = Doc { generator: settings.into_generator() };
    let bad_request = error(
        "Bad input: the request is not what this document allows (`{\"error\": {\"kind\", \"message\"}}`; \
         the message says what to fix)",
    );
    let blocked = error(
        "`blocked_target`: the request is well formed, but this deployment does not fetch (or send to) that target",
    );
    let conflicting = error(
        "`conflicting_options` or `invalid_pattern`: every value fits the schema, but a rule it cannot state \
         refuses them: two options that do not go together, one out of line with another (`retry.base_ms` above \
         `retry.max_ms`, a crawl's `max_pages` below its start pages, a schedule's jitter above its interval), \
         or a glob that does not compile",
    );
    let not_found = |what: &str| error(&format!("No such {what}"));

    let run_events = d.ndjson::<Event>(
        "The run's events as they happen, one JSON object per line (`application/x-ndjson`): `queued`, \
         `started`, `retrying`, exactly one of `done` / `failed` / `cancelled` per URL, `heartbeat` when \
         quiet, `save_error`, and last `summary`. The header `x-fanout-run-id` names the saved run.",
    );
    let load_events = d.ndjson::<LoadEvent>("The load test's `load_snapshot` lines, then its `load_summary`.");
    // A job's line is a run event with its place in the job's log first
    // (`JobLine::to_ndjson`; heartbeats have none).
    let event = d.r::<Event>();
    let job_events = json!({
        "description": "The job's events after `after`, each with its `seq`, then, while it runs, new ones as they \
            come, with heartbeats (no `seq`); ends when the job does (at once, empty, when it has ended and nothing is after `after`).",
        "content": { "application/x-ndjson": { "schema": { "allOf": [event,
            { "type": "object", "properties": { "seq": { "type": "integer", "minimum": 1 } } }] } } }
    });

    let mut paths = serde_json::Map::new();
    paths.insert(
        "/api/v1/health".into(),
        json!({ "get": { "operationId": "health", "summary": "Liveness", "security": [],
            "responses": common(json!({ "200": { "description": "The edge is up",
                "content": { "application/json": { "schema": { "type": "object", "required": ["ok", "version"],
                    "properties": { "ok": { "const": true }, "version": { "type": "string" },
                                    "wasm_memory_bytes": { "type": "integer", "minimum": 0 } } } } } } }), true) } }),
    );
    paths.insert(
        "/api/v1/config".into(),
        json!({ "get": { "operationId": "config", "summary": "Limits and defaults in force, and whether a token is needed", "security": [],
            "responses": common(json!({ "200": d.ok::<ConfigResponse>("The configuration") }), true) } }),
    );
    paths.insert(
        "/api/v1/openapi.json".into(),
        json!({ "get": { "operationId": "openapi", "summary": "This document", "security": [],
            "responses": common(json!({ "200": { "description": "The OpenAPI 3.1 document",
                "content": { "application/json": { "schema": { "type": "object" } } } } }), true) } }),
    );
    paths.insert(
        "/api/v1/runs".into(),
        json!({
            "post": { "operationId": "startRun", "summary": "Fetch a list (or crawl) and stream its events",
                "requestBody": d.json_example::<RunRequest>(json!({
                    "urls": ["http://127.0.0.1:8787/demo/products/1", "http://127.0.0.1:8787/demo/products/2"],
                    "concurrency": 10, "timeout_ms": 2000, "retry": { "max_attempts": 2, "base_ms": 100, "max_ms": 200 },
                    "extract": true, "deadline_ms": 5000, "save": false })),
                "responses": common(json!({ "200": run_events, "400": bad_request.clone(), "403": blocked.clone(), "422": conflicting.clone(),
                    "413": error("`body_too_large`: the request body is over `MAX_REQUEST_BYTES`"),
                    "415": error("`unsupported_media_type`: send `Content-Type: application/json`") }), false) },
            "get": { "operationId": "listRuns", "summary": "Saved runs, newest first", "parameters": page_params(),
                "responses": common(json!({ "200": { "description": "A page of runs",
                    "content": { "application/json": { "schema": { "type": "object", "required": ["runs", "total", "limit", "offset"],
                        "properties": { "runs": { "type": "array", "items": d.r::<RunRecord>() }, "total": { "type": "integer" },
                                        "limit": { "type": "integer" }, "offset": { "type": "integer" } } } } } },
                    "400": bad_request.clone(), "503": error("`history_unavailable`: no D1 binding") }), false) }
        }),
    );
    let run_id = id_param("id", "run");
    paths.insert(
        "/api/v1/runs/{id}".into(),
        json!({
            "parameters": [run_id.clone()],
            "get": { "operationId": "getRun", "summary": "A saved run with its results in the order given",
                "responses": common(json!({ "200": { "description": "The run",
                    "content": { "application/json": { "schema": { "type": "object", "required": ["run", "results"],
                        "properties": { "run": d.r::<RunRecord>(), "results": { "type": "array", "items": d.r::<SavedResult>() } } } } } },
                    "400": bad_request.clone(), "404": not_found("run"), "503": error("`history_unavailable`") }), false) },
            "delete": { "operationId": "deleteRun", "summary": "Delete a saved run",
                "responses": common(json!({ "200": { "description": "Deleted",
                    "content": { "application/json": { "schema": { "type": "object", "required": ["deleted"], "properties": { "deleted": { "type": "string" } } } } } },
                    "400": bad_request.clone(), "404": not_found("run"), "503": error("`history_unavailable`") }), false) }
        }),
    );
    paths.insert(
        "/api/v1/runs/{id}/export.csv".into(),
        json!({ "parameters": [run_id.clone()],
            "get": { "operationId": "exportRun", "summary": "A saved run's results as CSV",
                "responses": common(json!({ "200": { "description": "One row per URL", "content": { "text/csv": { "schema": { "type": "string" } } } },
                    "400": bad_request.clone(), "404": not_found("run"), "503": error("`history_unavailable`") }), false) } }),
    );
    paths.insert(
        "/api/v1/runs/{id}/diff".into(),
        json!({ "parameters": [run_id.clone(), { "name": "against", "in": "query", "required": false,
                "description": "`previous` (default) or another run's id",
                "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" } }],
            "get": { "operationId": "diffRun", "summary": "What changed between two saved runs",
                "responses": common(json!({ "200": { "description": "The diff",
                    "content": { "application/json": { "schema": { "type": "object", "required": ["run", "against", "diff"],
                        "properties": { "run": d.r::<RunRecord>(), "against": d.r::<RunRecord>(), "diff": d.r::<RunDiff>() } } } } },
                    "400": bad_request.clone(), "404": not_found("run (or no previous run)"), "503": error("`history_unavailable`") }), false) } }),
    );
    paths.insert(
        "/api/v1/history".into(),
        json!({ "get": { "operationId": "urlHistory", "summary": "One URL's price and availability in every saved run",
            "parameters": [{ "name": "url", "in": "query", "required": true, "schema": { "type": "string" } }],
            "responses": common(json!({ "200": { "description": "Its points",
                "content": { "application/json": { "schema": { "type": "object", "required": ["url", "points"],
                    "properties": { "url": { "type": "string" }, "points": { "type": "array", "items": d.r::<PricePoint>() } } } } } },
                "400": bad_request.clone(), "503": error("`history_unavailable`") }), false) } }),
    );
    paths.insert(
        "/api/v1/sitemap".into(),
        json!({ "get": { "operationId": "readSitemap", "summary": "Read a sitemap (indexes followed) through the edge",
            "parameters": [{ "name": "url", "in": "query", "required": true, "schema": { "type": "string", "pattern": fanout_shared::contract::URL_PATTERN } }],
            "responses": common(json!({ "200": { "description": "The URLs found",
                "content": { "application/json": { "schema": { "type": "object", "required": ["urls", "sitemaps", "truncated", "errors"],
                    "properties": { "urls": { "type": "array", "items": { "type": "string" } }, "sitemaps": { "type": "integer" },
                                    "truncated": { "type": "boolean" }, "errors": { "type": "array", "items": { "type": "string" } } } } } } },
                "400": bad_request.clone(), "403": blocked.clone(), "502": error("`sitemap_unavailable`: it could not be read") }), false) } }),
    );
    paths.insert(
        "/api/v1/load".into(),
        json!({ "post": { "operationId": "loadTest", "summary": "One URL, N requests at concurrency C, streamed",
            "requestBody": d.json_example::<LoadRequest>(json!({
                "url": "http://127.0.0.1:8787/demo/products/1", "requests": 20, "concurrency": 5 })),
            "responses": common(json!({ "200": load_events, "400": bad_request.clone(), "403": blocked.clone(),
                "422": conflicting.clone(), "413": error("`body_too_large`"),
                "415": error("`unsupported_media_type`") }), false) } }),
    );
    paths.insert(
        "/api/v1/jobs".into(),
        json!({
            "post": { "operationId": "createJob", "summary": "A background job: a list, a sitemap or a crawl",
                "requestBody": d.json_example::<JobRequest>(json!({
                    "urls": ["http://127.0.0.1:8787/demo/products/1"], "concurrency": 5, "timeout_ms": 2000 })),
                "responses": common(json!({ "201": links(d.ok::<JobCreated>("Queued"), "$response.body#/job_id",
                        &["getJob", "jobEvents", "cancelJob", "deleteJob"]), "400": bad_request.clone(),
                    "403": blocked.clone(), "422": conflicting.clone(),
                    "409": error("`job_exists`"), "413": error("`body_too_large`"), "415": error("`unsupported_media_type`"),
                    "503": error("`jobs_unavailable` or `too_many_jobs`") }), false) },
            "get": { "operationId": "listJobs", "summary": "Jobs, newest first", "parameters": page_params(),
                "responses": common(json!({ "200": d.ok::<JobList>("A page of jobs"), "400": bad_request.clone(),
                    "503": error("`jobs_unavailable`") }), false) }
        }),
    );
    let job_id = id_param("id", "job");
    let job_status = d.ok::<JobStatus>("The job's status");
    let job_errors = json!({ "400": bad_request.clone(), "404": not_found("job"), "502": error("`job_unreachable`") });
    let job = |ok: Value| answers(("200", ok), &job_errors, json!({}));
    paths.insert(
        "/api/v1/jobs/{id}".into(),
        json!({ "parameters": [job_id.clone()],
            "get": { "operationId": "getJob", "summary": "A job's status", "responses": job(job_status.clone()) },
            "delete": { "operationId": "deleteJob", "summary": "Cancel and forget a job", "responses": job(json!({ "description": "Deleted",
                "content": { "application/json": { "schema": { "type": "object", "required": ["deleted"],
                    "properties": { "deleted": { "const": true } } } } } })) } }),
    );
    paths.insert(
        "/api/v1/jobs/{id}/cancel".into(),
        json!({ "parameters": [job_id.clone()],
            "post": { "operationId": "cancelJob", "summary": "Cancel a job", "responses": job(job_status) } }),
    );
    paths.insert(
        "/api/v1/jobs/{id}/events".into(),
        json!({ "parameters": [job_id, { "name": "after", "in": "query", "required": false,
                "description": "Only events with a greater `seq` (default 0)",
                "schema": { "type": "integer", "minimum": 0, "maximum": MAX_SAFE_INTEGER } }],
            "get": { "operationId": "jobEvents", "summary": "A job's events, then its live ones", "responses": job(job_events) } }),
    );
    paths.insert(
        "/api/v1/watches".into(),
        json!({
            "post": { "operationId": "createWatch", "summary": "A job on a schedule, compared run to run, with alerts",
                "requestBody": d.json_example::<WatchRequest>(json!({
                    "name": "Kettle price", "job": { "urls": ["http://127.0.0.1:8787/demo/products/1"] },
                    "schedule": { "every_minutes": 60, "jitter_minutes": 5 },
                    "rules": [{ "kind": "price_drop", "percent": 10 }, { "kind": "back_in_stock" }] })),
                "responses": common(json!({ "201": links(d.ok::<WatchCreated>("Created; the secret is shown only here"),
                        "$response.body#/watch/watch_id",
                        &["getWatch", "patchWatch", "runWatch", "testWatch", "watchDeliveries", "watchPrices", "deleteWatch"]),
                    "400": bad_request.clone(), "403": blocked.clone(), "422": conflicting.clone(),
                    "413": error("`body_too_large`"), "415": error("`unsupported_media_type`"),
                    "503": error("`too_many_watches` or `history_unavailable`") }), false) },
            "get": { "operationId": "listWatches", "summary": "Watches", "parameters": page_params(),
                "responses": common(json!({ "200": d.ok::<WatchList>("A page of watches"), "400": bad_request.clone(),
                    "503": error("`history_unavailable`") }), false) }
        }),
    );
    let watch_id = id_param("id", "watch");
    let watch_errors =
        json!({ "400": bad_request.clone(), "404": not_found("watch"), "503": error("`history_unavailable`") });
    let with = |ok: (&str, Value), extra: Value| answers(ok, &watch_errors, extra);
    let detail = d.ok::<WatchDetail>("The watch and its last 100 runs");
    let created = d.ok::<WatchCreated>("The watch (and a new secret, when the webhook changed)");
    let deleted = json!({ "description": "Deleted", "content": { "application/json": { "schema": { "type": "object",
        "required": ["deleted"], "properties": { "deleted": { "const": true } } } } } });
    let started = d.ok::<JobCreated>("The run's job");
    let deliveries = d.ok::<DeliveryLog>("Every delivery attempt");
    let sent = d.ok::<TestSent>("What each channel answered");
    let prices = d.ok::<WatchPrices>("One series per product");
    let patch = d.json_body::<WatchPatch>();
    let test = json!({ "required": false, "content": { "application/json": { "schema": d.r::<TestRequest>() } } });
    paths.insert(
        "/api/v1/watches/{id}".into(),
        json!({ "parameters": [watch_id.clone()],
            "get": { "operationId": "getWatch", "summary": "A watch and its runs", "responses": with(("200", detail), json!({})) },
            "patch": { "operationId": "patchWatch", "summary": "Change a watch (pause and resume here)", "requestBody": patch,
                "responses": with(("200", created), json!({ "403": blocked, "422": conflicting,
                    "413": error("`body_too_large`"), "415": error("`unsupported_media_type`") })) },
            "delete": { "operationId": "deleteWatch", "summary": "Delete a watch", "responses": with(("200", deleted), json!({})) } }),
    );
    paths.insert(
        "/api/v1/watches/{id}/run".into(),
        json!({ "parameters": [watch_id.clone()],
            "post": { "operationId": "runWatch", "summary": "Run a watch now",
                "responses": with(("201", started), json!({ "409": error("`watch_busy`: its last run goes on") })) } }),
    );
    paths.insert(
        "/api/v1/watches/{id}/deliveries".into(),
        json!({ "parameters": [watch_id.clone()],
            "get": { "operationId": "watchDeliveries", "summary": "A watch's delivery log", "responses": with(("200", deliveries), json!({})) } }),
    );
    paths.insert(
        "/api/v1/watches/{id}/test".into(),
        json!({ "parameters": [watch_id.clone()],
            "post": { "operationId": "testWatch", "summary": "Send a sample alert to a channel (or every one), once", "requestBody": test,
                "responses": with(("200", sent), json!({ "409": error("`channel_not_set`: the watch has no such channel (or none)"),
                    "413": error("`body_too_large`"), "415": error("`unsupported_media_type`") })) } }),
    );
    paths.insert(
        "/api/v1/watches/{id}/prices".into(),
        json!({ "parameters": [watch_id],
            "get": { "operationId": "watchPrices", "summary": "A watch's prices over its runs", "responses": with(("200", prices), json!({})) } }),
    );

    let _ = d.r::<ApiErrorBody>();
    // The bounds on request values (some a deployment's limits; the
    // defaults here, the edge's own in what it serves).
    let mut holder = json!({ "components": { "schemas": d.generator.take_definitions(true) } });
    let missing = fanout_shared::contract::apply(&mut holder, &Limits::default());
    assert!(missing.is_empty(), "bounds with no place in the schemas: {missing:?}");
    let Value::Object(mut schemas) = holder["components"]["schemas"].take() else { unreachable!("an object") };
    for schema in schemas.values_mut() {
        integer_ranges(schema);
    }
    if let Some(kind) = schemas.get_mut("ApiError").and_then(|s| s.pointer_mut("/properties/kind")) {
        kind["description"] = json!(format!(
            "Stable machine-readable kind, one of: {}",
            ERROR_KINDS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fanout",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Fetch hundreds of web pages concurrently at the edge and stream per-URL events, \
                timings and extracted product data back. Runs, load tests and job events are NDJSON streams: \
                the schema of such a response is the schema of each of its lines. Every `/api/` route but \
                health, config and this document needs `Authorization: Bearer <API_TOKEN>`, unless the \
                deployment is opened with `OPEN_ACCESS` (then rate limited per client IP). Errors are \
                `{\"error\": {\"kind\", \"message\"}}`.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "The deployment's `API_TOKEN` secret" } },
            "responses": {
                "Unauthorized": { "description": "`unauthorized`: no token, or not this deployment's; the message says how to set one",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiErrorBody" } } } },
                "RateLimited": { "description": "`rate_limited`: an open deployment's per-client limit; try again after `Retry-After` seconds",
                    "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiErrorBody" } } } }
            }
        }
    })
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let doc = serde_json::to_string_pretty(&document()).expect("serialisable") + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../edge/openapi.json");
    if std::env::var_os("FANOUT_WRITE_OPENAPI").is_some() {
        std::fs::write(path, &doc).expect("written");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == doc, "edge/openapi.json is not the document the wire types give: run `make openapi`");
}

#[test]
fn every_schema_it_refers_to_is_in_it() {
    let doc = document();
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (i, _) in text.match_indices("#/components/schemas/") {
        let name: String = text[i + 21..].chars().take_while(|c| *c != '"').collect();
        assert!(schemas.contains_key(&name), "{name} is referred to but not defined");
    }
    assert!(schemas.contains_key("Event") && schemas.contains_key("RunRequest"));
}

#[test]
fn an_edge_with_the_default_limits_serves_the_committed_document() {
    let committed = serde_json::to_string_pretty(&document()).expect("serialisable") + "\n";
    let served = fanout_shared::contract::with_limits(&committed, &Limits::default()).expect("JSON");
    assert!(served == committed, "the default limits are the committed document's");
    let small = Limits { max_concurrency: 3, max_urls_per_request: 4, ..Limits::default() };
    let served: Value =
        serde_json::from_str(&fanout_shared::contract::with_limits(&committed, &small).expect("JSON")).expect("JSON");
    let run = &served["components"]["schemas"]["RunRequest"]["properties"];
    assert_eq!((run["concurrency"]["maximum"].as_u64(), run["urls"]["maxItems"].as_u64()), (Some(3), Some(4)));
}
