//! Manifests are parsed twice: once here as a stream of YAML events, cheaply and without building any
//! value, to refuse what could make building them expensive; then by serde. An alias replays the node it
//! names, so a few kilobytes of nested anchors and aliases expand to gigabytes; and nesting depth is the
//! recursion depth of everything that later walks the value. Both are bounded before a value exists.

use yaml_rust2::parser::{Event, Parser};

/// Deeper than any manifest needs (a provider account's models and their narrowing lists are five levels).
pub const MAX_DEPTH: usize = 64;
/// Objects in one apply: a whole exported tenant of several thousand users still fits.
pub const MAX_DOCUMENTS: usize = 10_000;

/// Why a manifest body was refused before being read; `document` counts YAML documents from 1.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanRefusal {
    #[error("not valid YAML or JSON: {message}")]
    Syntax { document: usize, message: String },
    #[error("line {line}: YAML aliases (*name) are not accepted; write the value out in full")]
    Alias { document: usize, line: usize },
    #[error("line {line}: nested more than {MAX_DEPTH} levels deep")]
    TooDeep { document: usize, line: usize },
    #[error("more than {MAX_DOCUMENTS} objects in one request; apply them in several")]
    TooManyObjects { document: usize },
}

impl ScanRefusal {
    pub fn document(&self) -> usize {
        match self {
            ScanRefusal::Syntax { document, .. }
            | ScanRefusal::Alias { document, .. }
            | ScanRefusal::TooDeep { document, .. }
            | ScanRefusal::TooManyObjects { document } => *document,
        }
    }
}

/// Walks the event stream once: no aliases, no node deeper than `MAX_DEPTH`, and at most `MAX_DOCUMENTS`
/// objects, counting each YAML document and each item of a document that is a list (as apply does).
pub fn check(body: &str) -> Result<(), ScanRefusal> {
    let mut parser = Parser::new_from_str(body);
    let mut document = 0usize;
    let mut depth = 0usize;
    let mut objects = 0usize;
    // Whether the current document is a list, whose items are the objects.
    let mut list = false;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| ScanRefusal::Syntax { document: document.max(1), message: e.to_string() })?;
        let line = mark.line();
        match event {
            Event::StreamEnd => return Ok(()),
            Event::DocumentStart => {
                document += 1;
                depth = 0;
            }
            Event::Alias(_) => return Err(ScanRefusal::Alias { document, line }),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if depth == 0 {
                    list = matches!(event, Event::SequenceStart(..));
                }
                // A document that is one object, or an item of a document that is a list.
                if (depth == 0 && !list) || (depth == 1 && list) {
                    objects += 1;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ScanRefusal::TooDeep { document, line });
                }
            }
            Event::Scalar(..) if (depth == 0) || (depth == 1 && list) => objects += 1,
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::Nothing | Event::StreamStart | Event::DocumentEnd | Event::Scalar(..) => {}
        }
        if objects > MAX_DOCUMENTS {
            return Err(ScanRefusal::TooManyObjects { document });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ordinary_manifests_pass() {
        check("type: role\nname: a\npermissions: [user:list]\n---\ntype: user\nemail: a@example.com\n").unwrap();
        check(r#"[{"type": "team", "name": "t", "members": ["a@example.com"]}]"#).unwrap();
        check("").unwrap();
        // An anchor alone expands nothing.
        check("type: team\nname: &n ml\n").unwrap();
    }

    #[test]
    fn aliases_are_refused_wherever_they_are() {
        let bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\n";
        assert!(matches!(check(bomb), Err(ScanRefusal::Alias { document: 1, line: 2 })));
        let later = "type: role\nname: a\n---\ntype: team\nname: &t x\ndescription: *t\n";
        assert!(matches!(check(later), Err(ScanRefusal::Alias { document: 2, .. })));
        // Merge keys are aliases too.
        assert!(matches!(check("base: &b {x: 1}\nother:\n  <<: *b\n"), Err(ScanRefusal::Alias { .. })));
    }

    #[test]
    fn depth_and_count_are_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(check(&deep), Err(ScanRefusal::TooDeep { .. })));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        check(&ok).unwrap();
        let many = "{}\n---\n".repeat(MAX_DOCUMENTS + 1);
        assert!(matches!(check(&many), Err(ScanRefusal::TooManyObjects { .. })));
        let list = format!("[{}]", vec!["{}"; MAX_DOCUMENTS + 1].join(","));
        assert!(matches!(check(&list), Err(ScanRefusal::TooManyObjects { .. })));
        check(&format!("[{}]", vec!["{}"; MAX_DOCUMENTS].join(","))).unwrap();
    }

    #[test]
    fn syntax_errors_name_a_document() {
        assert!(matches!(check("a: [1, 2"), Err(ScanRefusal::Syntax { document: 1, .. })));
    }
}
