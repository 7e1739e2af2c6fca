//! A run's alerts as chat messages: a Slack incoming-webhook message (text
//! and Block Kit blocks) and a Discord webhook message (content and
//! embeds), both rendered from the same [`AlertPayload`] as the signed
//! webhook's JSON. Each line names the product, its old → new price, its
//! stock change, and links to the page. Both platforms cap a message's size,
//! so a long list is cut and says how many more there are.
//!
//! Limits honoured (Slack: a section's text at most 3,000 characters, at
//! most 50 blocks; Discord: `content` at most 2,000 characters, an embed's
//! description at most 4,096, at most 10 embeds).

use serde_json::{Value, json};

use crate::wire::watches::{Alert, AlertPayload, ChannelKind};

/// Alerts listed one by one; the rest are counted.
pub const LISTED: usize = 20;
/// Slack: a section block's text.
const SLACK_SECTION_CHARS: usize = 3_000;
/// Discord: a message's content.
const DISCORD_CONTENT_CHARS: usize = 2_000;
/// Discord: an embed's description.
const DISCORD_DESCRIPTION_CHARS: usize = 4_096;

/// Cut `s` to at most `max` characters, ending with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The product's name, or its URL.
fn label(a: &Alert) -> String {
    a.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| a.url.clone())
}

/// What changed, in words: `104.92 → 123.80 GBP (+17.99%)`, `out_of_stock → in_stock`.
pub fn change_text(a: &Alert) -> String {
    let mut parts = Vec::new();
    match (&a.old_price, &a.new_price) {
        (Some(o), Some(n)) => {
            let cur = a.currency.clone().unwrap_or_default();
            let old_cur = a.old_currency.as_ref().filter(|c| Some(*c) != a.currency.as_ref());
            let old = match old_cur {
                Some(c) => format!("{o} {c}"),
                None => o.clone(),
            };
            let pct = a.percent.map(|p| format!(" ({p:+.2}%)")).unwrap_or_default();
            parts.push(format!("{old} → {n} {cur}{pct}").replace("  ", " ").trim().to_owned());
        }
        (None, Some(n)) => parts.push(format!("now {n} {}", a.currency.clone().unwrap_or_default()).trim().to_owned()),
        _ => {}
    }
    if let (Some(o), Some(n)) = (&a.old_availability, &a.new_availability)
        && o != n
    {
        parts.push(format!("{o} → {n}"));
    }
    if parts.is_empty() { a.rule_label.clone() } else { parts.join(" · ") }
}

/// A title for the message: `Shoes: 3 alerts`.
fn title(p: &AlertPayload) -> String {
    let who = p.watch.name.clone().unwrap_or_else(|| format!("Watch {}", p.watch.watch_id));
    let n = p.alerts.len();
    format!("{who}: {n} alert{}", if n == 1 { "" } else { "s" })
}

fn more(p: &AlertPayload) -> Option<String> {
    let rest = p.alerts.len().saturating_sub(LISTED);
    (rest > 0).then(|| format!("…and {rest} more (see the watch's page)"))
}

/// Slack's `mrkdwn` needs `&`, `<` and `>` escaped.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Slack message for `p`; `link` is the watch's page.
pub fn slack(p: &AlertPayload, link: Option<&str>) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&title(p), 150), "emoji": false}
    })];
    let mut lines = String::new();
    for a in p.alerts.iter().take(LISTED) {
        let line = format!(
            "• *{}* <{}|{}>: {}\n",
            slack_escape(&a.rule_label),
            a.url.replace('|', "%7C").replace('>', "%3E"),
            slack_escape(&cut(&label(a), 80)),
            slack_escape(&change_text(a))
        );
        if lines.chars().count() + line.chars().count() > SLACK_SECTION_CHARS {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": lines}}));
            lines = String::new();
        }
        lines.push_str(&line);
    }
    if !lines.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": lines}}));
    }
    let mut context = format!("run {} compared with {}", p.run.run_id, p.run.compared_with);
    if let Some(m) = more(p) {
        context = format!("{m} · {context}");
    }
    if let Some(l) = link {
        context.push_str(&format!(" · <{l}|open the watch>"));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(&context, 3_000)}]}));
    blocks.truncate(50);
    json!({ "text": title(p), "blocks": blocks })
}

/// The Discord message for `p`; `link` is the watch's page.
pub fn discord(p: &AlertPayload, link: Option<&str>) -> Value {
    let mut description = String::new();
    for a in p.alerts.iter().take(LISTED) {
        let line = format!("• **{}** [{}]({}): {}\n", a.rule_label, cut(&label(a), 80), a.url, change_text(a));
        if description.chars().count() + line.chars().count() > DISCORD_DESCRIPTION_CHARS - 80 {
            break;
        }
        description.push_str(&line);
    }
    if let Some(m) = more(p) {
        description.push_str(&m);
    }
    let mut embed = json!({
        "title": cut(&title(p), 256),
        "description": description,
        "footer": {"text": cut(&format!("run {} compared with {}", p.run.run_id, p.run.compared_with), 2_048)},
    });
    if let Some(l) = link {
        embed["url"] = json!(l);
    }
    json!({
        "content": cut(&title(p), DISCORD_CONTENT_CHARS),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// `p` rendered for a channel of `kind`, as the body to `POST`.
pub fn render(kind: ChannelKind, p: &AlertPayload, link: Option<&str>) -> String {
    let v = match kind {
        ChannelKind::Slack => slack(p, link),
        ChannelKind::Discord => discord(p, link),
    };
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::watches::{PayloadRun, PayloadWatch};

    fn alert(i: usize) -> Alert {
        Alert {
            rule: 0,
            rule_label: "price_change".into(),
            url: format!("https://shop.example/p/{i}"),
            name: Some(format!("Kettle <{i}> & co")),
            old_price: Some("104.92".into()),
            new_price: Some("123.80".into()),
            currency: Some("GBP".into()),
            old_currency: Some("GBP".into()),
            change: Some("18.88".into()),
            percent: Some(17.99),
            ..Alert::default()
        }
    }

    fn payload(n: usize) -> AlertPayload {
        AlertPayload {
            event: "watch.alerts".into(),
            delivery_id: "w1.r2".into(),
            watch: PayloadWatch { watch_id: "w1".into(), name: Some("Kettles".into()) },
            run: PayloadRun { run_id: "r2".into(), compared_with: "r1".into(), started_at: 1, finished_at: 2, urls: 9 },
            alerts: (0..n).map(alert).collect(),
        }
    }

    #[test]
    fn a_change_reads_old_to_new_with_its_percent_and_stock() {
        assert_eq!(change_text(&alert(1)), "104.92 → 123.80 GBP (+17.99%)");
        let stock = Alert {
            old_availability: Some("out_of_stock".into()),
            new_availability: Some("in_stock".into()),
            rule_label: "back_in_stock".into(),
            ..Alert::default()
        };
        assert_eq!(change_text(&stock), "out_of_stock → in_stock");
        let other_currency = Alert { old_currency: Some("EUR".into()), ..alert(2) };
        assert_eq!(change_text(&other_currency), "104.92 EUR → 123.80 GBP (+17.99%)");
        assert_eq!(change_text(&Alert { rule_label: "newly_failing".into(), ..Alert::default() }), "newly_failing");
    }

    #[test]
    fn slack_gets_a_header_the_lines_escaped_and_a_link() {
        let v = slack(&payload(3), Some("https://fanout.example/?mode=watches&watch=w1"));
        assert_eq!(v["text"], "Kettles: 3 alerts");
        let blocks = v["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        let text = blocks[1]["text"]["text"].as_str().expect("a section");
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.contains("<https://shop.example/p/0|Kettle &lt;0&gt; &amp; co>: 104.92 → 123.80 GBP (+17.99%)"),
            "{text}"
        );
        let context = blocks.last().expect("context")["elements"][0]["text"].as_str().expect("text");
        assert!(context.contains("run r2 compared with r1") && context.contains("|open the watch>"), "{context}");
    }

    #[test]
    fn discord_gets_content_and_one_embed_with_markdown_links() {
        let v = discord(&payload(2), Some("https://fanout.example/w"));
        assert_eq!(v["content"], "Kettles: 2 alerts");
        assert_eq!(v["allowed_mentions"]["parse"], json!([]), "no @everyone from a product name");
        let e = &v["embeds"][0];
        assert_eq!(e["url"], "https://fanout.example/w");
        let d = e["description"].as_str().expect("description");
        assert!(d.contains("[Kettle <1> & co](https://shop.example/p/1): 104.92 → 123.80 GBP (+17.99%)"), "{d}");
    }

    #[test]
    fn long_lists_are_cut_within_each_platforms_limits_and_say_how_many_more() {
        let mut p = payload(500);
        for a in &mut p.alerts {
            a.name = Some("x".repeat(500));
        }
        let s = slack(&p, None);
        let blocks = s["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50);
        for b in blocks.iter().filter(|b| b["type"] == "section") {
            assert!(b["text"]["text"].as_str().expect("text").chars().count() <= SLACK_SECTION_CHARS);
        }
        let listed: usize = blocks
            .iter()
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap_or("").lines().count())
            .sum();
        assert_eq!(listed, LISTED);
        assert!(s.to_string().contains("and 480 more"));
        let d = discord(&p, None);
        let desc = d["embeds"][0]["description"].as_str().expect("description");
        assert!(desc.chars().count() <= DISCORD_DESCRIPTION_CHARS);
        assert!(desc.ends_with("…and 480 more (see the watch's page)"));
        assert!(d["content"].as_str().expect("content").chars().count() <= DISCORD_CONTENT_CHARS);
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
