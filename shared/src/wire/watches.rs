//! The wire contract of watches (`/api/v1/watches`): a saved job that runs
//! on a schedule, the alert rules evaluated on each run's changes, the
//! webhook that is told, and the log of its deliveries.

use serde::{Deserialize, Serialize};

use crate::wire::jobs::{JobRequest, JobState};

/// When a watch runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Minutes between runs (at least the deployment's `MIN_WATCH_MINUTES`).
    pub every_minutes: u32,
    /// Each run starts up to this many minutes late, at random, so that many
    /// watches of the same interval do not all start on one tick.
    #[serde(default)]
    pub jitter_minutes: u32,
    /// A paused watch does not run by schedule (`run` still runs it).
    #[serde(default)]
    pub paused: bool,
}

/// One alert rule. Rules are evaluated per product URL on what changed
/// between a watch's new run and its previous one, so each alerts when its
/// condition becomes true, not on every run while it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// The price fell by at least `percent` % or by at least `amount` (give
    /// one), in the same currency.
    PriceDrop {
        /// Least drop, in percent of the old price.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<f64>,
        /// Least drop, as a decimal amount (`"5.00"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount: Option<String>,
    },
    /// The price is now at or below `target` and was not before (or had no
    /// price), in `currency` when given.
    PriceAtOrBelow {
        /// The target price, a decimal (`"99.90"`).
        target: String,
        /// Only prices in this ISO 4217 currency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
    },
    /// Was out of stock (or any other stated availability but in stock),
    /// is in stock now.
    BackInStock,
    /// Was in stock, is now stated as something else.
    OutOfStock,
    /// The price moved, either way, or its currency changed.
    PriceChange,
    /// Fetched before, fails now.
    NewlyFailing,
    /// Failed before, fetched now.
    Recovered,
}

impl Rule {
    /// The rule in a few words, as alerts name it (`price_drop ≥ 10%`).
    pub fn label(&self) -> String {
        match self {
            Self::PriceDrop { percent: Some(p), .. } => format!("price_drop ≥ {p}%"),
            Self::PriceDrop { amount: Some(a), .. } => format!("price_drop ≥ {a}"),
            Self::PriceDrop { .. } => "price_drop".into(),
            Self::PriceAtOrBelow { target, currency: Some(c) } => format!("price_at_or_below {target} {c}"),
            Self::PriceAtOrBelow { target, currency: None } => format!("price_at_or_below {target}"),
            Self::BackInStock => "back_in_stock".into(),
            Self::OutOfStock => "out_of_stock".into(),
            Self::PriceChange => "price_change".into(),
            Self::NewlyFailing => "newly_failing".into(),
            Self::Recovered => "recovered".into(),
        }
    }
}

/// Where a watch's alerts go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The receiver: `POST`ed a JSON body per run with alerts. The same
    /// target rules as fetched URLs apply.
    pub url: String,
    /// The HMAC-SHA256 key of the signature (16 to 256 characters). Left
    /// out, the edge makes one and shows it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Where a channel's alerts go, in its own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A Slack incoming webhook (`https://hooks.slack.com/services/…`):
    /// a message with `text` and Block Kit `blocks`.
    Slack,
    /// A Discord webhook (`https://discord.com/api/webhooks/…`): a message
    /// with `content` and `embeds`.
    Discord,
}

impl ChannelKind {
    /// Its name on the wire and in the delivery log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
        }
    }
}

/// A chat channel that gets a watch's alerts, besides its signed webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Slack or Discord.
    pub kind: ChannelKind,
    /// The channel's incoming-webhook URL (it obeys the same target rules
    /// as fetched URLs).
    pub url: String,
}

/// `POST /api/v1/watches/{id}/test`: send a sample alert to one of the
/// watch's channels (`webhook`, `slack` or `discord`), or to all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The channel; all when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// What a test send got: one attempt per channel (no retries), as logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TestSent {
    /// One attempt per channel.
    pub attempts: Vec<DeliveryAttempt>,
}

/// The body of `POST /api/v1/watches`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// A name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What each run fetches: the body of a job (`urls`, `sitemap` or
    /// `crawl`, with options).
    pub job: JobRequest,
    /// When it runs.
    pub schedule: Schedule,
    /// What to alert on.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Where alerts go; none: alerts are only listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// Slack and Discord channels that also get the alerts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
}

/// The body of `PATCH /api/v1/watches/{id}`: what to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WatchPatch {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRequest>,
    /// A new schedule (pause and resume here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// New rules (all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
    /// A new webhook; `null` removes it.
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Webhook>"))]
    pub webhook: Option<Option<Webhook>>,
    /// The channels, all of them (`[]` removes every one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
}

/// `Option<Option<T>>` that tells a missing field from `null`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A watch as the API shows it (its secret never).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Watch {
    /// Its id.
    pub watch_id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What each run fetches.
    pub job: JobRequest,
    /// When it runs.
    pub schedule: Schedule,
    /// What it alerts on.
    pub rules: Vec<Rule>,
    /// The webhook's URL (its secret is not shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Slack and Discord channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms of the last change.
    pub updated_at: u64,
    /// When the schedule runs it next (Unix ms); none while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<u64>,
    /// Runs started so far.
    pub runs: u32,
    /// The newest run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<WatchRun>,
    /// The last time a due run did not start, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_skip: Option<Skip>,
}

/// A due run that did not start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Skip {
    /// Unix ms (the tick's time).
    pub at: u64,
    /// Why, in words.
    pub reason: String,
}

/// The answer of `POST /api/v1/watches` (201), and of a `PATCH` that set a
/// new webhook: the watch, and the webhook's secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WatchCreated {
    /// The watch.
    pub watch: Watch,
    /// The webhook's signing secret, when it has a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One run of a watch: a background job, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WatchRun {
    /// The job (its id is the run's id in the history).
    pub job_id: String,
    /// Unix ms.
    pub started_at: u64,
    /// Unix ms, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The job's state.
    pub state: JobState,
    /// The earlier run it was compared with (none for a watch's first run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<String>,
    /// Whether its changes have been evaluated (after it finished).
    pub evaluated: bool,
    /// What the rules matched.
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// `manual` (`POST …/run`) or `schedule`.
    pub trigger: String,
    /// Its URLs against the previous run: changed, unchanged, failed
    /// (absent for a first run, or before it was evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<RunCounts>,
}

/// A watch run's URLs against the run before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunCounts {
    /// Price, currency or stock moved; recovered; or new to the list.
    pub changed: u32,
    /// Fetched both times, and the same.
    pub unchanged: u32,
    /// Not fetched this time.
    pub failed: u32,
    /// Of the unchanged, those that answered `304 Not Modified` to a
    /// revalidation: nothing downloaded.
    #[serde(default)]
    pub not_modified: u32,
    /// The body bytes those did not download.
    #[serde(default)]
    pub bytes_saved: u64,
}

/// One rule matched on one URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Alert {
    /// The rule's place in the watch's `rules`, from 0.
    pub rule: u32,
    /// The rule in words ([`Rule::label`]).
    pub rule_label: String,
    /// The URL.
    pub url: String,
    /// Product name (the newer run's, else the older's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Earlier price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_price: Option<String>,
    /// Later price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_price: Option<String>,
    /// Earlier currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_currency: Option<String>,
    /// Later currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `new - old`, exact decimal, when both prices are there in one currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// The change in percent of the old price, rounded to 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Earlier availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_availability: Option<String>,
    /// Later availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_availability: Option<String>,
}

/// The JSON body `POST`ed to a watch's webhook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AlertPayload {
    /// Always `watch.alerts`.
    pub event: String,
    /// Unique per run and watch: receivers may dedupe on it (a retry sends
    /// the same id).
    pub delivery_id: String,
    /// The watch.
    pub watch: PayloadWatch,
    /// The run that found the changes.
    pub run: PayloadRun,
    /// What the rules matched.
    pub alerts: Vec<Alert>,
}

/// The watch, in a payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PayloadWatch {
    /// Its id.
    pub watch_id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The run, in a payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PayloadRun {
    /// Its id (`GET /api/v1/runs/{id}`).
    pub run_id: String,
    /// The run it was compared with.
    pub compared_with: String,
    /// Unix ms.
    pub started_at: u64,
    /// Unix ms.
    pub finished_at: u64,
    /// URLs in the run.
    pub urls: u32,
}

fn webhook_channel() -> String {
    "webhook".into()
}

/// One attempt to deliver a run's alerts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeliveryAttempt {
    /// The payload's `delivery_id`.
    pub delivery_id: String,
    /// Which channel: `webhook`, `slack` or `discord`.
    #[serde(default = "webhook_channel")]
    pub channel: String,
    /// The run.
    pub run_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Unix ms.
    pub at: u64,
    /// The receiver's status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, when something did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the attempt took.
    pub ms: u64,
    /// `delivered`, `retrying` (another attempt at `next_at`) or `failed`.
    pub outcome: String,
    /// When the next attempt goes (Unix ms), when retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<u64>,
}

/// `GET /api/v1/watches`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WatchList {
    /// The page, newest first.
    pub watches: Vec<Watch>,
    /// Watches in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// Where the page starts.
    pub offset: u32,
}

/// `GET /api/v1/watches/{id}`: the watch and its runs, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WatchDetail {
    /// The watch.
    pub watch: Watch,
    /// Its runs, newest first (at most 100).
    pub runs: Vec<WatchRun>,
}

/// `GET /api/v1/watches/{id}/deliveries`: attempts, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeliveryLog {
    /// The attempts (at most 200).
    pub deliveries: Vec<DeliveryAttempt>,
}

/// One product's price over a watch's runs (`GET …/prices`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PriceSeries {
    /// The URL.
    pub url: String,
    /// Its newest name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One point per run that fetched it, oldest first.
    pub points: Vec<SeriesPoint>,
}

/// A product in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SeriesPoint {
    /// The run.
    pub run_id: String,
    /// Unix ms of the run.
    pub at: u64,
    /// Price then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Its currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Availability then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
}

/// `GET /api/v1/watches/{id}/prices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WatchPrices {
    /// One series per product URL (at most 200).
    pub series: Vec<PriceSeries>,
}
