//! Reading files: logical lines (comments, `\` continuations), includes, sections and
//! filters, `$name` references, and the positions of everything.

use std::path::{Path, PathBuf};

use crate::Location;
use crate::error::{Diagnostic, Warning};
use crate::grammar::{self, RawValue, Statement};
use crate::model::{
    Assignment, Filter, ProtocolFilter, SectionId, SectionStart, SettingPath, Value,
};

/// Limits and switches for parsing. The defaults suit real configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Whether `!include`/`!include_try` read files (off: they are ignored, e.g. for fuzzing).
    pub follow_includes: bool,
    /// How deep includes may nest.
    pub max_include_depth: usize,
    /// How deep sections may nest.
    pub max_section_depth: usize,
    /// Parsing stops after this many errors.
    pub max_errors: usize,
    /// Included files larger than this are refused.
    pub max_file_size: u64,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            follow_includes: true,
            max_include_depth: 16,
            max_section_depth: 32,
            max_errors: 20,
            max_file_size: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
enum FrameKind {
    Protocol(ProtocolFilter),
    OtherFilter(String, String),
    Section(SectionId),
}

#[derive(Debug, Clone)]
struct Frame {
    kind: FrameKind,
    location: Location,
    source_line: String,
}

/// What one parse produced.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) assignments: Vec<Assignment>,
    pub(crate) sections: Vec<SectionStart>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) files: Vec<PathBuf>,
    /// Per assignment: where its value starts and its source line.
    pub(crate) value_sites: Vec<(Location, String)>,
}

pub(crate) struct Loader<'o> {
    options: &'o ParseOptions,
    out: Parsed,
    frames: Vec<Frame>,
    include_stack: Vec<PathBuf>,
}

/// One physical line's part of a logical line.
struct Segment<'t> {
    at: usize,
    line_no: usize,
    start: usize,
    physical: &'t str,
}

fn location_of(file: &Path, segments: &[Segment<'_>], offset: usize) -> (Location, String) {
    let seg = segments
        .iter()
        .rev()
        .find(|s| s.at <= offset)
        .or(segments.first());
    match seg {
        Some(seg) => {
            let byte = (seg.start + offset - seg.at.min(offset)).min(seg.physical.len());
            let column = seg.physical.get(..byte).map_or(byte, |p| p.chars().count()) + 1;
            (
                Location {
                    file: file.to_path_buf(),
                    line: u32::try_from(seg.line_no).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                },
                seg.physical.to_owned(),
            )
        }
        None => (
            Location {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            },
            String::new(),
        ),
    }
}

impl<'o> Loader<'o> {
    pub(crate) fn new(options: &'o ParseOptions) -> Loader<'o> {
        Loader {
            options,
            out: Parsed::default(),
            frames: Vec::new(),
            include_stack: Vec::new(),
        }
    }

    /// Parses `text` as the file `file`, then checks that every section was closed.
    pub(crate) fn run(mut self, text: &str, file: &Path) -> Parsed {
        self.include_stack.push(file.to_path_buf());
        self.out.files.push(file.to_path_buf());
        self.text(text, file);
        for frame in std::mem::take(&mut self.frames) {
            self.push_error(Diagnostic {
                location: frame.location,
                message: "Missing '}'".to_owned(),
                expected: Some("'}' to close this section".to_owned()),
                source_line: frame.source_line,
            });
        }
        self.out
    }

    fn full(&self) -> bool {
        self.out.errors.len() >= self.options.max_errors
    }

    fn push_error(&mut self, d: Diagnostic) {
        if !self.full() {
            self.out.errors.push(d);
        }
    }

    fn error_at(
        &mut self,
        file: &Path,
        segments: &[Segment<'_>],
        offset: usize,
        message: impl Into<String>,
        expected: Option<&str>,
    ) {
        let (location, source_line) = location_of(file, segments, offset);
        self.push_error(Diagnostic {
            location,
            message: message.into(),
            expected: expected.map(str::to_owned),
            source_line,
        });
    }

    fn text(&mut self, text: &str, file: &Path) {
        let mut logical = String::new();
        let mut segments: Vec<Segment<'_>> = Vec::new();
        for (idx, raw) in text.split('\n').enumerate() {
            if self.full() {
                return;
            }
            let physical = raw.strip_suffix('\r').unwrap_or(raw);
            let stripped = grammar::strip_comment(physical);
            if let Some(hash) = stripped.ambiguous_hash {
                let seg = [Segment {
                    at: 0,
                    line_no: idx + 1,
                    start: 0,
                    physical,
                }];
                let (location, _) = location_of(file, &seg, hash);
                self.out.warnings.push(Warning {
                    location: Some(location),
                    message: "Ambiguous '#' character in line, treating it as comment. Add a \
                              space before it to remove this warning."
                        .to_owned(),
                });
            }
            if stripped.text.is_empty() {
                continue;
            }
            segments.push(Segment {
                at: logical.len(),
                line_no: idx + 1,
                start: stripped.start,
                physical,
            });
            if let Some(content) = stripped.text.strip_suffix('\\') {
                logical.push_str(content.trim_end_matches([' ', '\t']));
                logical.push(' ');
                continue;
            }
            logical.push_str(stripped.text);
            self.logical_line(&logical, &segments, file);
            logical.clear();
            segments.clear();
        }
        if !logical.is_empty() {
            let line = logical.trim_end_matches(' ').to_owned();
            self.logical_line(&line, &segments, file);
        }
    }

    fn current_filter(&self) -> Filter {
        let mut filter = Filter::default();
        for frame in &self.frames {
            match &frame.kind {
                FrameKind::Protocol(p) => filter.protocol = Some(p.clone()),
                FrameKind::OtherFilter(k, v) => filter.other.push((k.clone(), v.clone())),
                FrameKind::Section(_) => {}
            }
        }
        filter
    }

    fn current_sections(&self) -> Vec<SectionId> {
        self.frames
            .iter()
            .filter_map(|f| match &f.kind {
                FrameKind::Section(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn logical_line(&mut self, line: &str, segments: &[Segment<'_>], file: &Path) {
        let statement = match grammar::statement(line) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                self.error_at(file, segments, e.offset, e.message, Some(e.expected));
                return;
            }
        };
        let offset = |part: &str| (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
        match statement {
            Statement::Include { optional, pattern } => {
                self.include(file, segments, offset(pattern), pattern, optional);
            }
            Statement::Assign { key, raw, value } => {
                let value = match value {
                    RawValue::Text(t) => Value::Text(t.into_owned()),
                    RawValue::File(p) => Value::File(relative_to(file, p)),
                    RawValue::Variable(text) => {
                        let expanded = self.expand_variables(key, text);
                        if let Some(missing) = expanded.1 {
                            let (location, _) = location_of(file, segments, offset(raw));
                            self.out.warnings.push(Warning {
                                location: Some(location),
                                message: format!(
                                    "${missing} is not set before this line; it expands to an \
                                     empty value"
                                ),
                            });
                        }
                        Value::Text(expanded.0)
                    }
                };
                let (location, _) = location_of(file, segments, 0);
                self.out
                    .value_sites
                    .push(location_of(file, segments, offset(raw)));
                self.out.assignments.push(Assignment {
                    filter: self.current_filter(),
                    path: SettingPath {
                        sections: self.current_sections(),
                        key: key.to_owned(),
                    },
                    value,
                    location,
                });
            }
            Statement::SectionBegin {
                kind,
                name,
                name_raw,
            } => {
                let (location, source_line) = location_of(file, segments, 0);
                if self.frames.len() >= self.options.max_section_depth {
                    self.error_at(
                        file,
                        segments,
                        0,
                        format!(
                            "Sections nested too deeply (at most {})",
                            self.options.max_section_depth
                        ),
                        None,
                    );
                }
                let name_offset = name_raw.map_or(line.len(), offset);
                let frame_kind = match kind {
                    "protocol" => {
                        let name = name.map(|n| n.into_owned()).unwrap_or_default();
                        if name.is_empty() || name == "!" {
                            self.error_at(
                                file,
                                segments,
                                name_offset,
                                "protocol filter needs a protocol name",
                                Some("a protocol name such as lmtp or !imap"),
                            );
                        } else if self.current_filter().protocol.is_some() {
                            self.error_at(
                                file,
                                segments,
                                0,
                                "protocol must not be under protocol",
                                None,
                            );
                        }
                        FrameKind::Protocol(ProtocolFilter::parse(&name))
                    }
                    "local" | "remote" | "local_name" => FrameKind::OtherFilter(
                        kind.to_owned(),
                        name.map(|n| n.into_owned()).unwrap_or_default(),
                    ),
                    _ => FrameKind::Section(SectionId {
                        kind: kind.to_owned(),
                        name: name.map(|n| n.into_owned()),
                    }),
                };
                self.frames.push(Frame {
                    kind: frame_kind,
                    location: location.clone(),
                    source_line,
                });
                if matches!(
                    self.frames.last(),
                    Some(Frame {
                        kind: FrameKind::Section(_),
                        ..
                    })
                ) {
                    self.out.sections.push(SectionStart {
                        filter: self.current_filter(),
                        sections: self.current_sections(),
                        location,
                    });
                }
            }
            Statement::SectionEnd => {
                if self.frames.pop().is_none() {
                    self.error_at(
                        file,
                        segments,
                        0,
                        "Unexpected '}'",
                        Some("a setting, a section or an include"),
                    );
                }
            }
        }
    }

    /// Expands `$name` words: the latest top-level value under the current filter, else the
    /// global one. Gives the name of a reference that is set nowhere (it expands to "").
    fn expand_variables(&self, key: &str, text: &str) -> (String, Option<String>) {
        let filter = self.current_filter();
        let mut missing = None;
        let words: Vec<String> = text
            .split(' ')
            .map(|word| {
                let Some(name) = word.strip_prefix('$').filter(|n| !n.is_empty()) else {
                    return word.to_owned();
                };
                if let Some(env) = name.strip_prefix("ENV:") {
                    return std::env::var(env).unwrap_or_default();
                }
                let lookup = |want: &Filter| {
                    self.out.assignments.iter().rev().find(|a| {
                        a.path.sections.is_empty() && a.path.key == name && &a.filter == want
                    })
                };
                match lookup(&filter).or_else(|| lookup(&Filter::default())) {
                    Some(a) => a.value.to_string(),
                    None => {
                        if name != key && missing.is_none() {
                            missing = Some(name.to_owned());
                        }
                        String::new()
                    }
                }
            })
            .collect();
        (words.join(" "), missing)
    }

    fn include(
        &mut self,
        file: &Path,
        segments: &[Segment<'_>],
        offset: usize,
        pattern: &str,
        optional: bool,
    ) {
        if !self.options.follow_includes {
            return;
        }
        if self.include_stack.len() > self.options.max_include_depth {
            let message = format!(
                "Includes nested too deeply (at most {})",
                self.options.max_include_depth
            );
            self.error_at(file, segments, offset, message, None);
            return;
        }
        let full = if Path::new(pattern).is_absolute() {
            pattern.to_owned()
        } else {
            match file.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) => format!(
                    "{}/{pattern}",
                    glob::Pattern::escape(&dir.to_string_lossy())
                ),
                None => pattern.to_owned(),
            }
        };
        let paths = match glob::glob(&full) {
            Ok(paths) => paths,
            Err(e) => {
                let message = format!("Invalid include pattern {full}: {}", e.msg);
                self.error_at(
                    file,
                    segments,
                    offset + e.pos.min(pattern.len()),
                    message,
                    None,
                );
                return;
            }
        };
        let mut matched = Vec::new();
        for entry in paths {
            match entry {
                Ok(path) => matched.push(path),
                Err(e) if !optional => {
                    let message = format!("Couldn't open include file {}", e);
                    self.error_at(file, segments, offset, message, None);
                }
                Err(_) => {}
            }
        }
        if matched.is_empty() && !optional {
            let message = format!("!include {full}: No matches");
            self.error_at(file, segments, offset, message, Some("an existing file"));
            return;
        }
        for path in matched {
            if self.include_stack.contains(&path) {
                let message = format!("Recursive include file: {}", path.display());
                self.error_at(file, segments, offset, message, None);
                continue;
            }
            let content = match read_limited(&path, self.options.max_file_size) {
                Ok(c) => c,
                Err(_) if optional => continue,
                Err(e) => {
                    let message = format!("Couldn't open include file {}: {e}", path.display());
                    self.error_at(file, segments, offset, message, None);
                    continue;
                }
            };
            self.out.files.push(path.clone());
            self.include_stack.push(path.clone());
            self.text(&content, &path);
            self.include_stack.pop();
        }
    }
}

/// Reads a regular file of at most `max` bytes (never a device or a FIFO that could block).
pub(crate) fn read_limited(path: &Path, max: u64) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `<path` values and includes are relative to the directory of the file they are written in.
fn relative_to(file: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    match file.parent() {
        Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
        _ => p.to_path_buf(),
    }
}
