//! doveadm's output formatters (`-f flow|tab|table|json`) for one-column commands, with the
//! sticky `username` column doveadm adds when it runs for several users.

use clap::ValueEnum;

/// `-f`: how rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Formatter {
    /// Values separated by spaces, one row per line (doveadm's default for these commands).
    #[default]
    Flow,
    /// A title line, then values separated by TABs.
    Tab,
    /// Columns padded to a common width (80 columns).
    Table,
    /// A JSON array of objects.
    Json,
}

/// Collects rows and renders them like doveadm's printers.
pub(crate) struct Printer {
    formatter: Formatter,
    /// (key, title) of each column; all titles hidden except in `tab`.
    columns: Vec<(&'static str, &'static str)>,
    rows: Vec<Vec<Vec<u8>>>,
}

impl Printer {
    /// A printer for the column `key` (`value`, `key`), with a leading username column when
    /// `with_user`.
    pub(crate) fn new(formatter: Formatter, key: &'static str, with_user: bool) -> Printer {
        let mut columns = Vec::new();
        if with_user {
            columns.push(("username", "Username"));
        }
        columns.push((key, key));
        Printer {
            formatter,
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds one row: `user` (used when the username column exists) and the value.
    pub(crate) fn row(&mut self, user: &str, value: &[u8]) {
        let mut row = Vec::new();
        if self.columns.len() == 2 {
            row.push(user.as_bytes().to_vec());
        }
        row.push(value.to_vec());
        self.rows.push(row);
    }

    /// The rendered output so far; rows are consumed.
    pub(crate) fn take(&mut self, finish: bool) -> Vec<u8> {
        let rows = std::mem::take(&mut self.rows);
        let mut out = Vec::new();
        match self.formatter {
            Formatter::Flow => {
                for row in rows {
                    out.extend_from_slice(&row.join(&b' '));
                    out.push(b'\n');
                }
            }
            Formatter::Tab => {
                for row in rows {
                    out.extend_from_slice(&row.join(&b'\t'));
                    out.push(b'\n');
                }
            }
            Formatter::Table => {
                // Buffered until the end: widths depend on every row.
                self.rows = rows;
                if finish {
                    out = self.table();
                    self.rows.clear();
                }
            }
            Formatter::Json => {
                self.rows = rows;
                if finish {
                    out = self.json();
                    self.rows.clear();
                }
            }
        }
        out
    }

    /// What goes before any row (`tab`'s title line).
    pub(crate) fn header(&self) -> Vec<u8> {
        match self.formatter {
            Formatter::Tab => {
                let titles: Vec<&str> = self.columns.iter().map(|(_, t)| *t).collect();
                format!("{}\n", titles.join("\t")).into_bytes()
            }
            _ => Vec::new(),
        }
    }

    fn table(&self) -> Vec<u8> {
        const COLUMNS: usize = 80;
        let n = self.columns.len();
        let mut min: Vec<usize> = self
            .columns
            .iter()
            .map(|(_, t)| t.chars().count())
            .collect();
        let mut max = min.clone();
        for row in &self.rows {
            for (i, v) in row.iter().enumerate() {
                let len = String::from_utf8_lossy(v).chars().count();
                min[i] = min[i].min(len);
                max[i] = max[i].max(len);
            }
        }
        let mut len = max.clone();
        let mut total: usize = max.iter().sum::<usize>() + n - 1;
        while total > COLUMNS {
            let orig = total;
            for i in (0..n).rev() {
                let diff = len[i] - min[i];
                if total - diff <= COLUMNS {
                    let d = total - COLUMNS;
                    len[i] -= d;
                    total -= d;
                    break;
                }
                if diff > 0 {
                    len[i] -= if diff == 1 { 1 } else { diff / 2 };
                }
            }
            if total == orig {
                break;
            }
        }
        if total < COLUMNS {
            len[n - 1] += (COLUMNS - total) / 2;
        }
        let mut out = Vec::new();
        for row in &self.rows {
            for (i, v) in row.iter().enumerate() {
                let chars = String::from_utf8_lossy(v).chars().count();
                out.extend_from_slice(v);
                out.extend(std::iter::repeat_n(b' ', len[i].saturating_sub(chars)));
                out.push(if i + 1 == n { b'\n' } else { b' ' });
            }
        }
        out
    }

    fn json(&self) -> Vec<u8> {
        if self.rows.is_empty() {
            return b"[]".to_vec();
        }
        let mut out = String::from("[");
        for (r, row) in self.rows.iter().enumerate() {
            if r > 0 {
                out.push(',');
            }
            out.push('{');
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                json_escape(&mut out, self.columns[i].0);
                out.push_str("\":\"");
                json_escape(&mut out, &String::from_utf8_lossy(v));
                out.push('"');
            }
            out.push('}');
        }
        out.push(']');
        out.into_bytes()
    }
}

fn json_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: Formatter, user: bool, values: &[&str]) -> String {
        let mut p = Printer::new(f, "key", user);
        let mut out = p.header();
        for v in values {
            p.row("alice@example.com", v.as_bytes());
        }
        out.extend(p.take(true));
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn flow_prints_values_and_the_user_first() {
        assert_eq!(render(Formatter::Flow, false, &["a", "b"]), "a\nb\n");
        assert_eq!(
            render(Formatter::Flow, true, &["a"]),
            "alice@example.com a\n"
        );
    }

    #[test]
    fn tab_has_a_title_line_even_without_rows() {
        assert_eq!(
            render(Formatter::Tab, false, &["/private/x"]),
            "key\n/private/x\n"
        );
        assert_eq!(render(Formatter::Tab, true, &[]), "Username\tkey\n");
    }

    #[test]
    fn json_is_an_array_of_objects() {
        assert_eq!(
            render(Formatter::Json, false, &["user=11@3"]),
            r#"[{"key":"user=11@3"}]"#
        );
        assert_eq!(
            render(Formatter::Json, false, &["a\tb\"c"]),
            r#"[{"key":"a\tb\"c"}]"#
        );
        assert_eq!(render(Formatter::Json, false, &[]), "[]");
    }

    #[test]
    fn table_pads_the_last_column() {
        let out = render(Formatter::Table, false, &["abc"]);
        // width max(len("key"), 3) = 3, plus half of the 77 spare columns.
        assert_eq!(out, format!("abc{}\n", " ".repeat(38)));
    }
}
