//! Column-aligned tables like Go's `text/tabwriter`, which docker and docker compose print
//! their listings with: every column but the last padded to its widest cell plus a gap
//! (trailing blanks included, as tabwriter prints them).
//!
//! Not for: choosing columns or formatting values (each command does that).

/// Renders `header` and `rows` as lines. A column is as wide as its widest cell (in
/// characters) plus `padding`, and at least `min_width`; the last column is not padded.
pub fn render(header: &[&str], rows: &[Vec<String>], min_width: usize, padding: usize) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            line.push_str(cell);
            if i + 1 < columns {
                let width = (widths[i] + padding).max(min_width);
                let pad = width.saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Docker's `Ellipsis`: `text` cut to `max` characters, the last one an ellipsis.
pub fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_all_columns_but_the_last() {
        let rows = vec![
            vec!["shop-web-1".to_string(), "Up 2 seconds".to_string()],
            vec!["db".to_string(), String::new()],
        ];
        assert_eq!(
            render(&["NAME", "STATUS"], &rows, 10, 3),
            "NAME         STATUS\nshop-web-1   Up 2 seconds\ndb           \n"
        );
    }

    #[test]
    fn ellipsis_keeps_the_width() {
        assert_eq!(
            ellipsis("/docker-entrypoint.sh nginx", 20),
            "/docker-entrypoint.…"
        );
        assert_eq!(ellipsis("short", 20), "short");
    }
}
