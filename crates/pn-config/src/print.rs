//! Writing settings back in dovecot.conf syntax (`doveconf -n` style); parsing the output
//! gives the same settings.

use std::fmt::{self, Write};

use crate::model::{Filter, SectionId, Value};

/// Quotes `value` when it would not read back unchanged as a bare value.
pub(crate) fn quote_value(value: &Value) -> String {
    match value {
        Value::File(p) => format!("<{}", p.display()),
        Value::Text(t) => {
            let needs = t.starts_with(['<', '$', '"', '\''])
                || t.starts_with([' ', '\t'])
                || t.ends_with([' ', '\t', '\\'])
                || t.contains(['#', '\n', '\r']);
            if needs { quote(t) } else { t.clone() }
        }
    }
}

fn quote(t: &str) -> String {
    let mut out = String::with_capacity(t.len() + 2);
    out.push('"');
    for c in t.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_name(name: &str) -> String {
    if name.is_empty() || name.contains([' ', '\t', '#', '"', '\'', '\\', '{', '=', '\n', '\r']) {
        quote(name)
    } else {
        name.to_owned()
    }
}

/// The section-opening lines a setting is under: filters first, then sections.
pub(crate) fn frames(filter: &Filter, sections: &[SectionId]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &filter.protocol {
        out.push(format!("protocol {}", quote_name(&p.to_string())));
    }
    for (kind, value) in &filter.other {
        out.push(format!("{kind} {}", quote_name(value)));
    }
    for s in sections {
        match &s.name {
            Some(name) => out.push(format!("{} {}", s.kind, quote_name(name))),
            None => out.push(s.kind.clone()),
        }
    }
    out
}

/// Writes `(frames, key, value)` items in order, opening and closing sections as needed; an
/// item without a key only opens its sections (an empty section).
pub(crate) fn write_items<'a>(
    f: &mut impl Write,
    items: impl IntoIterator<Item = (Vec<String>, Option<&'a str>, String)>,
) -> fmt::Result {
    let mut open: Vec<String> = Vec::new();
    for (frames, key, value) in items {
        let common = open.iter().zip(&frames).take_while(|(a, b)| a == b).count();
        while open.len() > common {
            open.pop();
            writeln!(f, "{}}}", "  ".repeat(open.len()))?;
        }
        for frame in &frames[common..] {
            writeln!(f, "{}{frame} {{", "  ".repeat(open.len()))?;
            open.push(frame.clone());
        }
        match key {
            None => {}
            Some(key) if value.is_empty() => writeln!(f, "{}{key} =", "  ".repeat(open.len()))?,
            Some(key) => writeln!(f, "{}{key} = {value}", "  ".repeat(open.len()))?,
        }
    }
    while !open.is_empty() {
        open.pop();
        writeln!(f, "{}}}", "  ".repeat(open.len()))?;
    }
    Ok(())
}
