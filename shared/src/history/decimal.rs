//! Exact decimals for prices: parsed into integers of 10⁻⁶ units, so
//! differences and comparisons are exact, and written back with a scale.

/// A decimal as an integer count of 10⁻⁶ units, and its scale (digits after
/// the point), so differences are exact. `None` for anything but a plain
/// decimal.
pub fn parse_decimal(s: &str) -> Option<(i128, u32)> {
    let s = s.trim();
    let (neg, digits) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let scale = frac.len() as u32;
    let frac_v: i128 = if frac.is_empty() { 0 } else { frac.parse::<i128>().ok()? * 10i128.pow(6 - scale) };
    let v = int.checked_mul(1_000_000)?.checked_add(frac_v)?;
    Some((if neg { -v } else { v }, scale))
}

/// `v` (10⁻⁶ units) as a decimal with `scale` digits after the point.
pub fn format_decimal(v: i128, scale: u32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let (int, frac) = (a / 1_000_000, a % 1_000_000);
    if scale == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:06}");
    format!("{sign}{int}.{}", &frac[..scale as usize])
}
