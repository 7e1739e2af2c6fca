//! Escaping text for HTML and SVG markup.
//!
//! Text from pages (product names, URLs) reaches markup that Fanout builds
//! itself (the waterfall's SVG, the demo shop's pages); it is always
//! escaped, never trusted as markup.

/// Escape text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(&mut out, s);
    out
}

/// [`escape_html`], appending to `out` (for markup built in one string).
pub fn escape_html_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_characters_that_matter_are_escaped() {
        assert_eq!(escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let mut out = String::from("x");
        escape_html_into(&mut out, "é<");
        assert_eq!(out, "xé&lt;");
    }
}
