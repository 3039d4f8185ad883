//! Plain-text tables: a header row and data rows, each column padded to its widest cell.
//!
//! Text columns are left-aligned and number columns right-aligned, so digits line up; trailing
//! spaces are never printed, so output diffs cleanly and the last column may be ragged.

/// How a column's cells are aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Renders `rows` under `header`, every line starting with `indent` spaces and ending in `\n`.
pub fn render(header: &[(&str, Align)], rows: &[Vec<String>], indent: usize) -> String {
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = " ".repeat(indent);
        for (i, (cell, ((_, align), width))) in cells.zip(header.iter().zip(&widths)).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = " ".repeat(width - cell.chars().count());
            match align {
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&pad);
                }
                Align::Right => {
                    out.push_str(&pad);
                    out.push_str(cell);
                }
            }
        }
        let mut out = out.trim_end().to_string();
        out.push('\n');
        out
    };
    let mut text = line(&mut header.iter().map(|(h, _)| *h));
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_and_aligned() {
        let header = [("name", Align::Left), ("n", Align::Right), ("note", Align::Left)];
        let rows = vec![
            vec!["a".to_string(), "1234".to_string(), String::new()],
            vec!["long_name".to_string(), "5".to_string(), "x".to_string()],
        ];
        let text = render(&header, &rows, 2);
        assert_eq!(text, "  name          n  note\n  a          1234\n  long_name     5  x\n");
    }
}
