//! WCAG 1.4.11 for the stylesheet: focus rings and form field borders must reach a
//! contrast of 3:1 against what they are drawn on. The ratios are computed from the
//! colours the stylesheet really declares (its custom properties, the last declaration
//! of each winning as in the cascade), so changing a colour cannot quietly break it.

use crate::assets::CSS;

/// The last value the stylesheet gives the custom property `--name`.
fn variable(name: &str) -> String {
    let needle = format!("--{name}:");
    let start = CSS
        .rmatch_indices(&needle)
        .next()
        .map(|(i, _)| i + needle.len())
        .unwrap_or_else(|| panic!("the stylesheet declares no --{name}"));
    CSS[start..]
        .split([';', '}'])
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

/// `#rrggbb` (or `#rgb`) as sRGB channels from 0 to 1.
fn rgb(hex: &str) -> [f64; 3] {
    let hex = hex.trim_start_matches('#');
    let full: String = if hex.len() == 3 {
        hex.chars().flat_map(|c| [c, c]).collect()
    } else {
        hex.to_owned()
    };
    assert_eq!(full.len(), 6, "a hex colour: {hex}");
    let channel = |i: usize| f64::from(u8::from_str_radix(&full[i..i + 2], 16).unwrap()) / 255.0;
    [channel(0), channel(2), channel(4)]
}

/// WCAG's relative luminance.
fn luminance(hex: &str) -> f64 {
    let linear = |c: f64| {
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let [r, g, b] = rgb(hex);
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

#[test]
fn the_ratio_formula_matches_wcag() {
    assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 1e-9);
    assert!((contrast("#fff", "#ffffff") - 1.0).abs() < 1e-9);
    // The colours the issue measured: the old focus ring and field border.
    assert!((contrast("#8fb0ff", "#ffffff") - 2.1).abs() < 0.05);
    assert!((contrast("#b7bfcc", "#ffffff") - 1.85).abs() < 0.05);
}

#[test]
fn focus_rings_and_field_borders_reach_3_to_1() {
    let pairs = [
        ("focus", "bg"),
        ("focus", "panel"),
        ("field-border", "panel"),
        ("field-border", "bg"),
        ("topbar-focus", "topbar-bg"),
    ];
    for (fg, bg) in pairs {
        let (a, b) = (variable(fg), variable(bg));
        let ratio = contrast(&a, &b);
        assert!(
            ratio >= 3.0,
            "--{fg} ({a}) on --{bg} ({b}) has contrast {ratio:.2}:1, under 3:1"
        );
    }
    // The rules use them.
    assert!(CSS.contains(":focus-visible { outline: 3px solid var(--focus)"));
    assert!(CSS.contains("select { border-color: var(--field-border); }"));
}
