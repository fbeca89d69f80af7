//! The one table the bench prints (markdown), with notes under it.
//!
//! Throughput rows carry their ratio to the raw baseline (figure ÷ baseline req/s), so
//! each can be read as a share of what this machine's HTTP stack can do at all. Latency
//! and memory rows have no such ratio and show "—".

use std::fmt::Write;

struct Row {
    scenario: String,
    figure: String,
    unit: String,
    ratio: String,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
    baseline: Option<f64>,
}

impl Table {
    /// The raw baseline row; later throughput rows are divided by it.
    pub fn baseline(&mut self, scenario: &str, per_second: f64) {
        self.baseline = Some(per_second);
        self.throughput(scenario, per_second, "req/s");
    }

    pub fn throughput(&mut self, scenario: &str, per_second: f64, unit: &str) {
        let ratio = match self.baseline {
            Some(base) if base > 0.0 => format!("{:.3}", per_second / base),
            _ => "— (no baseline run)".to_owned(),
        };
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            figure: thousands(per_second),
            unit: unit.to_owned(),
            ratio,
        });
    }

    /// A row without a ratio (latency, memory, time).
    pub fn plain(&mut self, scenario: &str, figure: String, unit: &str) {
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            figure,
            unit: unit.to_owned(),
            ratio: "—".to_owned(),
        });
    }

    pub fn note(&mut self, text: String) {
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("| scenario | figure | unit | ratio to raw baseline |\n");
        out.push_str("|---|---:|---|---:|\n");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.scenario, row.figure, row.unit, row.ratio
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}

/// A rate or count rounded to a whole number, with thousands separators: `12,345`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds as milliseconds with two decimals.
pub fn ms(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e6)
}

/// KiB as MB (10^6 bytes) with one decimal.
pub fn mb_of_kib(kib: u64) -> String {
    format!("{:.1}", kib as f64 * 1024.0 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_figures() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.6), "1,235");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(ms(1_234_567), "1.23");
        assert_eq!(mb_of_kib(1000), "1.0");
    }
}
