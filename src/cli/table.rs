//! Plain-text tables for the technician's commands (`check`, `probe`): left-aligned
//! columns two spaces apart, sized to their widest cell.

/// The rows as lines: each column as wide as its widest cell, two spaces between
/// columns, a column empty in every row left out, trailing blanks trimmed.
pub(super) fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(x) => *x = (*x).max(w),
                None => widths.push(w),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (cell, &w) in row.iter().zip(&widths) {
                if w == 0 {
                    continue;
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// `1 device`, `3 devices`.
pub(super) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_skip_empty_ones_and_trim() {
        let rows = vec![
            vec!["a".to_string(), String::new(), "long".to_string()],
            vec!["ccc".to_string(), String::new(), "x".to_string()],
        ];
        assert_eq!(columns(&rows), ["a    long", "ccc  x"]);
        assert_eq!(plural(1, "read"), "1 read");
        assert_eq!(plural(2, "read"), "2 reads");
    }
}
