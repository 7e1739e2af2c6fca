# The built edge (edge/build, from `make build`) served by workerd alone,
# without wrangler dev's local plumbing, for the benchmarks' "plain workerd"
# figures. scripts/bench.sh starts it with
#   workerd serve bench/workerd.capnp --socket-addr http=127.0.0.1:PORT
# Same compatibility settings as wrangler.toml; no D1 binding (nothing is
# saved); loopback targets allowed, as for the benchmark's local upstream.
# The shards a run fans out to (Durable Objects of the same script) live in
# a service of their own, so in an isolate of their own, as they would in
# production: bench/isolate.mjs profiles the two isolates apart.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .fanout),
    (name = "shards", worker = .shards),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8792", http = (), service = "main")],
);

const modules :List(Workerd.Worker.Module) = [
  (name = "index.js", esModule = embed "../edge/build/index.js"),
  (name = "index_bg.wasm", wasm = embed "../edge/build/index_bg.wasm"),
];

const vars :List(Workerd.Worker.Binding) = [
  (name = "ALLOW_PRIVATE_TARGETS", text = "true"),
  (name = "OPEN_ACCESS", text = "true"),
  (name = "MAX_URLS_PER_REQUEST", text = "10000"),
  (name = "MAX_REQUEST_BYTES", text = "4194304"),
  (name = "MAX_CONCURRENCY", text = "200"),
  (name = "MAX_LOAD_REQUESTS", text = "10000"),
  (name = "MAX_LOAD_CONCURRENCY", text = "200"),
  (name = "SHARD", durableObjectNamespace = (serviceName = "shards", className = "ShardObject")),
];

const fanout :Workerd.Worker = (
  modules = .modules,
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["enable_request_signal"],
  bindings = .vars,
  globalOutbound = "internet",
);

const shards :Workerd.Worker = (
  modules = .modules,
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["enable_request_signal"],
  bindings = .vars,
  durableObjectNamespaces = [(className = "ShardObject", uniqueKey = "fanout-shard", enableSql = true)],
  durableObjectStorage = (inMemory = void),
  globalOutbound = "internet",
);
