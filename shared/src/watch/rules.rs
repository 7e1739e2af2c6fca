//! Alert rules, evaluated per URL on two runs' saved results: the watch's
//! previous run and its new one. A rule alerts when its condition becomes
//! true between them, so a price that stays low does not alert every run.
//!
//! Prices are compared exactly, as decimals ([`crate::history::decimal`]),
//! and only within one currency: a price in another currency than before is
//! a `price_change`, never a drop. A missing or unreadable price matches no
//! price rule; a fetch that failed in either run matches only
//! `newly_failing` / `recovered`, because it says nothing about the product.

use std::collections::HashMap;

use crate::history::decimal::{format_decimal, parse_decimal};
use crate::history::{SavedProduct, SavedResult};
use crate::wire::watches::{Alert, Rule, RunCounts};

/// Whether an availability counts as buyable.
fn in_stock(a: &str) -> bool {
    matches!(a, "in_stock" | "limited")
}

/// A stated availability (`unknown` says nothing).
fn stated(a: Option<&String>) -> Option<&str> {
    a.map(String::as_str).filter(|a| *a != "unknown")
}

fn same_currency(a: Option<&String>, b: Option<&String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => true,
    }
}

/// The two prices of a product, when both read in one currency, in 10⁻⁶
/// units, with the wider scale.
fn prices(o: &SavedProduct, n: &SavedProduct) -> Option<(i128, i128, u32)> {
    let (a, ascale) = parse_decimal(o.price.as_deref()?)?;
    let (b, bscale) = parse_decimal(n.price.as_deref()?)?;
    same_currency(o.currency.as_ref(), n.currency.as_ref()).then_some((a, b, ascale.max(bscale)))
}

fn percent(old: i128, new: i128) -> Option<f64> {
    (old != 0).then(|| ((new - old) as f64 * 10_000.0 / old as f64).round() / 100.0)
}

/// Does `rule` match this URL's product, from `o` to `n` (both fetched)?
fn product_matches(rule: &Rule, o: Option<&SavedProduct>, n: Option<&SavedProduct>) -> bool {
    let (Some(o), Some(n)) = (o, n) else {
        // A product that appeared may have reached a target.
        return matches!(rule, Rule::PriceAtOrBelow { .. }) && n.is_some_and(|n| at_or_below(rule, n));
    };
    match rule {
        Rule::PriceDrop { percent: p, amount } => {
            let Some((a, b, _)) = prices(o, n) else { return false };
            if b >= a {
                return false;
            }
            // Exactly, not the rounded percent an alert shows.
            let by_percent = p.is_some_and(|p| a > 0 && (a - b) as f64 * 100.0 / a as f64 >= p);
            let by_amount = amount.as_deref().and_then(parse_decimal).is_some_and(|(least, _)| a - b >= least);
            by_percent || by_amount
        }
        Rule::PriceAtOrBelow { .. } => {
            if !at_or_below(rule, n) {
                return false;
            }
            // Only when it becomes true: not if the old price, in the same
            // currency, was already there.
            !(same_currency(o.currency.as_ref(), n.currency.as_ref()) && at_or_below(rule, o))
        }
        Rule::BackInStock => match (stated(o.availability.as_ref()), stated(n.availability.as_ref())) {
            (Some(a), Some(b)) => !in_stock(a) && in_stock(b),
            _ => false,
        },
        Rule::OutOfStock => match (stated(o.availability.as_ref()), stated(n.availability.as_ref())) {
            (Some(a), Some(b)) => in_stock(a) && !in_stock(b),
            _ => false,
        },
        Rule::PriceChange => {
            match (o.price.as_deref().and_then(parse_decimal), n.price.as_deref().and_then(parse_decimal)) {
                (Some((a, _)), Some((b, _))) => a != b || !same_currency(o.currency.as_ref(), n.currency.as_ref()),
                _ => false,
            }
        }
        Rule::NewlyFailing | Rule::Recovered => false,
    }
}

/// Is `p`'s price at or below the rule's target (in its currency, if set)?
fn at_or_below(rule: &Rule, p: &SavedProduct) -> bool {
    let Rule::PriceAtOrBelow { target, currency } = rule else { return false };
    if let Some(c) = currency
        && !p.currency.as_ref().is_some_and(|pc| pc.eq_ignore_ascii_case(c))
    {
        return false;
    }
    match (p.price.as_deref().and_then(parse_decimal), parse_decimal(target)) {
        (Some((v, _)), Some((t, _))) => v <= t,
        _ => false,
    }
}

fn alert(index: usize, rule: &Rule, url: &str, o: Option<&SavedProduct>, n: Option<&SavedProduct>) -> Alert {
    let mut a = Alert {
        rule: u32::try_from(index).unwrap_or(u32::MAX),
        rule_label: rule.label(),
        url: url.to_owned(),
        name: n.and_then(|p| p.name.clone()).or_else(|| o.and_then(|p| p.name.clone())),
        old_price: o.and_then(|p| p.price.clone()),
        new_price: n.and_then(|p| p.price.clone()),
        old_currency: o.and_then(|p| p.currency.clone()),
        currency: n.and_then(|p| p.currency.clone()),
        old_availability: o.and_then(|p| p.availability.clone()),
        new_availability: n.and_then(|p| p.availability.clone()),
        ..Alert::default()
    };
    if let (Some(o), Some(n)) = (o, n)
        && let Some((x, y, scale)) = prices(o, n)
    {
        a.change = Some(format_decimal(y - x, scale));
        a.percent = percent(x, y);
    }
    a
}

/// Every match of `rules` from run `old` to run `new`, over the URLs both
/// have: in `new`'s order, then the rules' order. A URL that answered `304`
/// has not changed since its last full answer, so it is never an alert.
pub fn evaluate(rules: &[Rule], old: &[SavedResult], new: &[SavedResult]) -> Vec<Alert> {
    let before: HashMap<&str, &SavedResult> = old.iter().map(|r| (r.url.as_str(), r)).collect();
    let mut out = Vec::new();
    for n in new.iter().filter(|n| !n.not_modified) {
        let Some(o) = before.get(n.url.as_str()) else { continue };
        let (o_ok, n_ok) = (o.outcome == "done", n.outcome == "done");
        for (i, rule) in rules.iter().enumerate() {
            let hit = match rule {
                Rule::NewlyFailing => o_ok && !n_ok,
                Rule::Recovered => !o_ok && n_ok,
                _ => o_ok && n_ok && product_matches(rule, o.product.as_ref(), n.product.as_ref()),
            };
            if hit {
                out.push(alert(i, rule, &n.url, o.product.as_ref(), n.product.as_ref()));
            }
        }
    }
    out
}

/// What a run found against the watch's previous run, URL by URL:
/// `changed` (its price, currency or stock moved, it recovered, or it is new
/// to the list), `unchanged` (fetched both times and the same) and `failed`
/// (not fetched this time). Every URL of the new run is in one of them. A
/// URL that answered `304` is unchanged whatever the run before had, and
/// counts in `not_modified` and `bytes_saved` too.
pub fn compare(old: &[SavedResult], new: &[SavedResult]) -> RunCounts {
    let before: HashMap<&str, &SavedResult> = old.iter().map(|r| (r.url.as_str(), r)).collect();
    let key =
        |r: &SavedResult| r.product.as_ref().map(|p| (p.price.clone(), p.currency.clone(), p.availability.clone()));
    let mut c = RunCounts::default();
    for n in new {
        if n.outcome != "done" {
            c.failed += 1;
            continue;
        }
        if n.not_modified {
            c.not_modified += 1;
            c.bytes_saved += n.bytes_saved;
        }
        match before.get(n.url.as_str()) {
            _ if n.not_modified => c.unchanged += 1,
            Some(o) if o.outcome == "done" && key(o) == key(n) => c.unchanged += 1,
            _ => c.changed += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(url: &str, price: Option<&str>, currency: Option<&str>, avail: Option<&str>) -> SavedResult {
        SavedResult {
            url: url.into(),
            outcome: "done".into(),
            status: Some(200),
            attempts: 1,
            product: Some(SavedProduct {
                name: Some(format!("{url} name")),
                price: price.map(Into::into),
                currency: currency.map(Into::into),
                availability: avail.map(Into::into),
                sku: None,
            }),
            ..SavedResult::default()
        }
    }

    fn eur(url: &str, price: &str) -> SavedResult {
        row(url, Some(price), Some("EUR"), Some("in_stock"))
    }

    fn failed(url: &str) -> SavedResult {
        SavedResult {
            url: url.into(),
            outcome: "failed".into(),
            error_kind: Some("timeout".into()),
            ..SavedResult::default()
        }
    }

    fn hits(rules: &[Rule], old: &[SavedResult], new: &[SavedResult]) -> Vec<(u32, String)> {
        evaluate(rules, old, new).into_iter().map(|a| (a.rule, a.url)).collect()
    }

    fn drop_pct(p: f64) -> Rule {
        Rule::PriceDrop { percent: Some(p), amount: None }
    }

    #[test]
    fn a_percentage_drop_matches_at_its_threshold_and_not_below_it_nor_upwards() {
        let old = [eur("a", "100.00"), eur("b", "100.00"), eur("c", "100.00"), eur("d", "100.00")];
        let new = [eur("a", "90.00"), eur("b", "90.01"), eur("c", "110.00"), eur("d", "100")];
        assert_eq!(hits(&[drop_pct(10.0)], &old, &new), [(0, "a".to_owned())]);
        let a = &evaluate(&[drop_pct(10.0)], &old, &new)[0];
        assert_eq!(a.change.as_deref(), Some("-10.00"));
        assert_eq!(a.percent, Some(-10.0));
        assert_eq!((a.old_price.as_deref(), a.new_price.as_deref()), (Some("100.00"), Some("90.00")));
        assert_eq!(a.rule_label, "price_drop ≥ 10%");
        assert_eq!(a.name.as_deref(), Some("a name"));
    }

    #[test]
    fn an_amount_drop_is_exact_in_decimals() {
        let rule = [Rule::PriceDrop { percent: None, amount: Some("0.30".into()) }];
        // 0.1 + 0.2 in floating point is not 0.3; in decimals it is.
        let old = [eur("a", "1.00"), eur("b", "1.00")];
        let new = [eur("a", "0.70"), eur("b", "0.71")];
        assert_eq!(hits(&rule, &old, &new), [(0, "a".to_owned())]);
    }

    #[test]
    fn currencies_that_differ_are_never_a_drop_but_are_a_change() {
        let old = [row("a", Some("100.00"), Some("EUR"), None)];
        let new = [row("a", Some("50.00"), Some("USD"), None)];
        assert!(hits(&[drop_pct(1.0)], &old, &new).is_empty());
        assert!(
            hits(&[Rule::PriceAtOrBelow { target: "60".into(), currency: Some("EUR".into()) }], &old, &new).is_empty()
        );
        let change = evaluate(&[Rule::PriceChange], &old, &new);
        assert_eq!(change.len(), 1);
        assert_eq!(change[0].change, None, "no change across currencies");
        assert_eq!((change[0].old_currency.as_deref(), change[0].currency.as_deref()), (Some("EUR"), Some("USD")));
        // Same price, other currency: still a change.
        let new = [row("a", Some("100.00"), Some("USD"), None)];
        assert_eq!(hits(&[Rule::PriceChange], &old, &new).len(), 1);
    }

    #[test]
    fn missing_or_unreadable_prices_match_no_price_rule() {
        let rules = [drop_pct(1.0), Rule::PriceChange, Rule::PriceAtOrBelow { target: "10".into(), currency: None }];
        let old = [eur("a", "100.00"), row("b", None, Some("EUR"), None), eur("c", "100.00")];
        let new = [row("a", None, Some("EUR"), None), eur("b", "5.00"), row("c", Some("n/a"), Some("EUR"), None)];
        // b had no price and now is under the target: that is the target reached.
        assert_eq!(hits(&rules, &old, &new), [(2, "b".to_owned())]);
    }

    #[test]
    fn a_target_alerts_when_reached_not_while_it_stays_reached() {
        let rule = [Rule::PriceAtOrBelow { target: "99.90".into(), currency: None }];
        let old = [eur("a", "120.00"), eur("b", "95.00"), eur("c", "120.00")];
        let new = [eur("a", "99.90"), eur("b", "90.00"), eur("c", "99.91")];
        assert_eq!(hits(&rule, &old, &new), [(0, "a".to_owned())]);
        // With a currency, only prices in it.
        let usd = [Rule::PriceAtOrBelow { target: "99.90".into(), currency: Some("usd".into()) }];
        assert!(hits(&usd, &old, &new).is_empty());
        let new_usd = [row("a", Some("50"), Some("USD"), None)];
        assert_eq!(hits(&usd, &old[..1], &new_usd), [(0, "a".to_owned())]);
    }

    #[test]
    fn stock_rules_need_a_stated_availability_on_both_sides() {
        let rules = [Rule::BackInStock, Rule::OutOfStock];
        let old = [
            row("a", None, None, Some("out_of_stock")),
            row("b", None, None, Some("in_stock")),
            row("c", None, None, None),
            row("d", None, None, Some("unknown")),
            row("e", None, None, Some("preorder")),
            row("f", None, None, Some("limited")),
        ];
        let new = [
            row("a", None, None, Some("in_stock")),
            row("b", None, None, Some("out_of_stock")),
            row("c", None, None, Some("in_stock")),
            row("d", None, None, Some("out_of_stock")),
            row("e", None, None, Some("limited")),
            row("f", None, None, Some("discontinued")),
        ];
        assert_eq!(
            hits(&rules, &old, &new),
            [(0, "a".to_owned()), (1, "b".to_owned()), (0, "e".to_owned()), (1, "f".to_owned())]
        );
    }

    #[test]
    fn failures_match_only_the_failure_rules() {
        let rules = [Rule::NewlyFailing, Rule::Recovered, Rule::PriceChange, Rule::OutOfStock];
        let old = [eur("a", "10"), failed("b"), failed("c")];
        let new = [failed("a"), eur("b", "12"), failed("c")];
        let got = evaluate(&rules, &old, &new);
        assert_eq!(got.iter().map(|a| (a.rule, a.url.as_str())).collect::<Vec<_>>(), [(0, "a"), (1, "b")]);
        assert_eq!(got[0].name.as_deref(), Some("a name"), "a failing URL keeps its last known name");
        assert_eq!(got[0].old_price.as_deref(), Some("10"));
    }

    #[test]
    fn only_urls_in_both_runs_in_the_new_runs_order_each_rule_naming_itself() {
        let rules = [Rule::PriceChange, drop_pct(5.0)];
        let old = [eur("x", "10"), eur("a", "10"), eur("b", "10")];
        let new = [eur("b", "8"), eur("a", "11"), eur("new", "1")];
        let got = evaluate(&rules, &old, &new);
        let seen: Vec<_> = got.iter().map(|a| (a.url.as_str(), a.rule_label.as_str())).collect();
        assert_eq!(seen, [("b", "price_change"), ("b", "price_drop ≥ 5%"), ("a", "price_change")]);
        assert!(evaluate(&rules, &old, &old).is_empty(), "nothing changed, nothing sent");
    }

    #[test]
    fn a_runs_urls_are_counted_changed_unchanged_or_failed() {
        let old = vec![
            row("a", Some("10.00"), Some("EUR"), Some("in_stock")),
            row("b", Some("10.00"), Some("EUR"), Some("in_stock")),
            row("c", Some("10.00"), Some("EUR"), Some("in_stock")),
            SavedResult { outcome: "failed".into(), ..row("d", None, None, None) },
        ];
        let new = vec![
            row("a", Some("10.00"), Some("EUR"), Some("in_stock")),
            row("b", Some("9.00"), Some("EUR"), Some("in_stock")),
            row("c", Some("10.00"), Some("EUR"), Some("out_of_stock")),
            row("d", Some("1.00"), None, None),
            row("e", Some("1.00"), None, None),
            SavedResult { outcome: "failed".into(), ..row("f", None, None, None) },
        ];
        let c = compare(&old, &new);
        assert_eq!((c.changed, c.unchanged, c.failed), (4, 1, 1), "b, c moved; d recovered; e is new");
        assert_eq!(c.changed + c.unchanged + c.failed, new.len() as u32);
        let same = compare(&new, &new);
        assert_eq!((same.changed, same.unchanged, same.failed), (0, 5, 1));
    }

    /// A run whose pages all answered 304: every URL unchanged, the bytes
    /// saved counted, and no rule fires, though its products were carried
    /// forward rather than read (and the run before may have failed them).
    #[test]
    fn an_unchanged_run_counts_its_304s_and_alerts_nothing() {
        let old = vec![
            row("a", Some("10.00"), Some("EUR"), Some("out_of_stock")),
            SavedResult { outcome: "failed".into(), ..row("b", None, None, None) },
        ];
        let carried =
            |r: SavedResult| SavedResult { status: Some(304), bytes: 0, not_modified: true, bytes_saved: 7000, ..r };
        let new = vec![
            carried(row("a", Some("10.00"), Some("EUR"), Some("out_of_stock"))),
            carried(row("b", Some("3.00"), Some("EUR"), Some("in_stock"))),
        ];
        let c = compare(&old, &new);
        assert_eq!((c.changed, c.unchanged, c.failed, c.not_modified, c.bytes_saved), (0, 2, 0, 2, 14_000));
        let every_rule = vec![
            Rule::PriceDrop { percent: Some(1.0), amount: None },
            Rule::PriceAtOrBelow { target: "100.00".into(), currency: None },
            Rule::BackInStock,
            Rule::OutOfStock,
            Rule::PriceChange,
            Rule::NewlyFailing,
            Rule::Recovered,
        ];
        assert_eq!(evaluate(&every_rule, &old, &new), vec![], "b's last answer is older than the failure");
        // The same pages fetched in full would alert.
        let full: Vec<_> = new.iter().map(|r| SavedResult { not_modified: false, ..r.clone() }).collect();
        assert!(!evaluate(&every_rule, &old, &full).is_empty());
    }
}
