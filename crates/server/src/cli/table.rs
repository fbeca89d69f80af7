//! Plain-text output for people: aligned columns for lists, `field: value` lines for one
//! object. No colours and no box drawing, so it reads the same in a pipe or a file.

use chrono::{DateTime, SecondsFormat, Utc};

/// A table whose columns are as wide as their widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// The table, or `empty` when it has no rows.
    pub fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return empty.to_owned();
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let padded: Vec<String> = cells
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut text = line(&mut self.header.iter().copied());
        for row in &self.rows {
            text.push('\n');
            text.push_str(&line(&mut row.iter().map(String::as_str)));
        }
        text
    }
}

/// `field: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 1;
    pairs
        .iter()
        .map(|(name, value)| format!("{:<width$} {value}", format!("{name}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A time as people read it: UTC to the second.
pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An optional value, `-` when absent.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&["ID", "URL"]);
        table.row(vec!["wh_1".into(), "https://a.example/".into()]);
        table.row(vec!["wh_longer".into(), "-".into()]);
        assert_eq!(
            table.render("none"),
            "ID         URL\nwh_1       https://a.example/\nwh_longer  -"
        );
        assert_eq!(Table::new(&["ID"]).render("No webhooks."), "No webhooks.");
    }

    #[test]
    fn fields_align_their_values() {
        assert_eq!(
            fields(&[("id", "wh_1".into()), ("enabled", "true".into())]),
            "id:      wh_1\nenabled: true"
        );
    }
}
