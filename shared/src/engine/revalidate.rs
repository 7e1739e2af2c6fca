//! Conditional re-fetch (RFC 9110 §13.1): a URL fetched before is asked
//! whether it changed, with the validators of its last saved answer. A
//! `304 Not Modified` ends the URL `done`, unchanged, with the saved product
//! carried forward, no body downloaded and nothing extracted.
//!
//! The shell loads the priors (the edge, from its history) and wraps its
//! fetcher in [`WithPriors`], which hands each attempt its URL's prior; the
//! fetcher sends [`Prior::headers`] and turns a `304` into
//! [`unchanged`]. A `200` (the validator changed, or the server
//! ignores conditional requests) is an ordinary answer.

use std::collections::HashMap;

use crate::engine::runner::{Fetcher, Progress};
use crate::engine::scheduler::{AttemptRequest, Response};
use crate::wire::protocol::{Prior, Validators};

/// The answer for a `304` to [`Self::headers`]: unchanged, the product
/// carried forward, `size` bytes not downloaded. `fresh` is what the
/// `304` itself sent, if anything; it updates the validators kept
/// (RFC 9110 §15.4.5), and the old ones are kept otherwise.
pub fn unchanged(prior: &Prior, fresh: Option<Validators>) -> Response {
    let mut validators = prior.validators.clone();
    if let Some(f) = fresh {
        validators.etag = f.etag.or(validators.etag);
        validators.last_modified = f.last_modified.or(validators.last_modified);
    }
    Response {
        status: 304,
        bytes: 0,
        product: prior.product.clone(),
        validators: Some(validators),
        not_modified: true,
        bytes_saved: prior.size,
        ..Response::default()
    }
}

/// A fetcher whose attempts carry their URL's [`Prior`], when it has one.
pub struct WithPriors<F> {
    inner: F,
    priors: HashMap<String, Prior>,
}

impl<F> WithPriors<F> {
    /// `inner`, revalidating the URLs in `priors` (by URL as requested).
    pub fn new(inner: F, priors: HashMap<String, Prior>) -> Self {
        Self { inner, priors }
    }
}

impl<F: Fetcher> Fetcher for WithPriors<F> {
    type Attempt = F::Attempt;
    type Abort = F::Abort;

    fn start(&self, req: &AttemptRequest, progress: Progress) -> (Self::Attempt, Self::Abort) {
        match self.priors.get(&req.url).filter(|_| !req.text) {
            Some(prior) => {
                let req = AttemptRequest { prior: Some(Box::new(prior.clone())), ..req.clone() };
                self.inner.start(&req, progress)
            }
            None => self.inner.start(req, progress),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scheduler::Scheduler;
    use crate::input::Job;
    use std::rc::Rc;

    use crate::engine::sim::{Platform, RequestScript, Script, simulate_wrapped};
    use crate::wire::protocol::{Event, Field, Product, RunOptions, Source};

    fn prior() -> Prior {
        let name = Field { value: "Kettle".to_owned(), source: Source::Saved };
        Prior {
            validators: Validators {
                etag: Some("\"v1\"".into()),
                last_modified: Some("Mon, 07 Dec 2026 00:00:00 GMT".into()),
            },
            product: Some(Product { name: Some(name), ..Product::default() }),
            size: 5000,
        }
    }

    #[test]
    fn both_validators_are_sent() {
        let p = prior();
        assert_eq!(
            p.headers(),
            vec![("if-none-match", "\"v1\""), ("if-modified-since", "Mon, 07 Dec 2026 00:00:00 GMT")]
        );
        let only_date = Prior { validators: Validators { etag: None, ..p.validators.clone() }, ..p };
        assert_eq!(only_date.headers().len(), 1);
    }

    #[test]
    fn a_304_is_unchanged_carries_the_product_and_counts_the_bytes_saved() {
        let r = unchanged(&prior(), None);
        assert!(r.not_modified);
        assert_eq!((r.status, r.bytes, r.bytes_saved), (304, 0, 5000));
        assert_eq!(r.product, prior().product);
        assert_eq!(r.validators, Some(prior().validators), "the old validators are kept");
        // A 304 that sends a new ETag updates it, and keeps the date.
        let fresh = Validators { etag: Some("\"v2\"".into()), last_modified: None };
        let v = unchanged(&prior(), Some(fresh)).validators.unwrap_or_default();
        assert_eq!(v.etag.as_deref(), Some("\"v2\""));
        assert_eq!(v.last_modified, prior().validators.last_modified);
    }

    /// Through the real runner, on virtual time: the URL with a prior is
    /// handed it (the scripted shell answers 304 to it), the one without
    /// is fetched in full.
    #[test]
    fn only_urls_with_a_prior_are_revalidated() {
        let urls = ["http://h0.test/seen", "http://h0.test/new"];
        let jobs = urls.iter().enumerate().map(|(i, u)| Job { id: i as u32, url: (*u).into() }).collect();
        let opts = RunOptions { concurrency: 2, per_host: 2, ..RunOptions::default() };
        let priors = HashMap::from([(urls[0].to_owned(), prior())]);
        let machine = Scheduler::new(jobs, opts, Box::new(crate::engine::retry::tests::ZeroRng));
        let script: RequestScript = Rc::new(|req: &AttemptRequest| match &req.prior {
            Some(p) => Script::Answer(Box::new(unchanged(p, None))),
            None => Script::Answer(Box::new(Response { status: 200, bytes: 900, ..Response::default() })),
        });
        let out = simulate_wrapped(machine, script, Platform::default(), |f| WithPriors::new(f, priors), None, None);
        let done: Vec<_> = out
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Done { id, not_modified, bytes, bytes_saved, product, .. } => {
                    Some((*id, *not_modified, *bytes, *bytes_saved, product.is_some()))
                }
                _ => None,
            })
            .collect();
        assert!(done.contains(&(0, true, 0, 5000, true)), "{done:?}");
        assert!(done.contains(&(1, false, 900, 0, false)), "{done:?}");
        let stats = &out.summary().stats;
        assert_eq!((stats.unchanged, stats.bytes_saved), (1, 5000), "the summary counts the bytes not downloaded");
    }
}
