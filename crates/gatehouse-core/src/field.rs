//! One error type for every field at fault, wherever it is found (a spec, an operation, a request body, a
//! document of an apply), with a typed path: `document 3: rules[0].limit_to` is a document number, then a
//! key, an index and a key, so a caller can add its own prefix without parsing strings.

use std::fmt;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A document of a multi-document apply, numbered from 1.
    Document(usize),
    Key(String),
    Index(usize),
}

/// Where a field is: rendered `document 3: rules[0].limit_to`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A path written as `a.b[2].c` (serde's and our specs' notation). A key that the notation cannot
    /// express (a bracket that holds no number) is kept whole, so rendering gives the text back.
    pub fn parse(s: &str) -> FieldPath {
        let mut out = Vec::new();
        for part in s.split('.') {
            let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            let mut indices = Vec::new();
            let mut ok = true;
            while !rest.is_empty() {
                match rest.split_once(']').and_then(|(n, r)| Some((n.parse::<usize>().ok()?, r))) {
                    Some((n, r)) => {
                        indices.push(n);
                        rest = r.strip_prefix('[').unwrap_or(r);
                        if !r.is_empty() && !r.starts_with('[') {
                            ok = false;
                            break;
                        }
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok || (key.is_empty() && indices.is_empty()) {
                return FieldPath(vec![Segment::Key(s.to_owned())]);
            }
            if !key.is_empty() {
                out.push(Segment::Key(key.to_owned()));
            }
            out.extend(indices.into_iter().map(Segment::Index));
        }
        FieldPath(out)
    }

    /// This path seen from an enclosing object or document: `parent` goes first.
    pub fn under(mut self, parent: FieldPath) -> FieldPath {
        let mut segs = parent.0;
        segs.append(&mut self.0);
        self.0 = segs;
        self
    }

    pub fn document(n: usize) -> FieldPath {
        FieldPath(vec![Segment::Document(n)])
    }

    /// The document this path is in, if it says.
    pub fn in_document(&self) -> Option<usize> {
        self.0.iter().find_map(|s| match s {
            Segment::Document(n) => Some(*n),
            Segment::Key(_) | Segment::Index(_) => None,
        })
    }

    pub fn key(mut self, k: impl Into<String>) -> FieldPath {
        self.0.push(Segment::Key(k.into()));
        self
    }

    pub fn index(mut self, i: usize) -> FieldPath {
        self.0.push(Segment::Index(i));
        self
    }
}

impl From<&str> for FieldPath {
    fn from(s: &str) -> Self {
        FieldPath::parse(s)
    }
}

impl From<String> for FieldPath {
    fn from(s: String) -> Self {
        FieldPath::parse(&s)
    }
}

impl From<&String> for FieldPath {
    fn from(s: &String) -> Self {
        FieldPath::parse(s)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Before the first key: nothing; after a document: ": "; after anything else: ".".
        let mut prev: Option<&Segment> = None;
        for s in &self.0 {
            match s {
                Segment::Document(n) => {
                    if prev.is_some() {
                        f.write_str(": ")?;
                    }
                    write!(f, "document {n}")?;
                }
                Segment::Key(k) => {
                    match prev {
                        None => {}
                        Some(Segment::Document(_)) => f.write_str(": ")?,
                        Some(Segment::Key(_) | Segment::Index(_)) => f.write_str(".")?,
                    }
                    f.write_str(k)?;
                }
                Segment::Index(i) => {
                    if let Some(Segment::Document(_)) = prev {
                        f.write_str(": ")?;
                    }
                    write!(f, "[{i}]")?;
                }
            }
            prev = Some(s);
        }
        Ok(())
    }
}

/// A field is wrong: which, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: FieldPath,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<FieldPath>, message: impl Into<String>) -> FieldError {
        FieldError { path: path.into(), message: message.into() }
    }

    /// The same error seen from an enclosing object: `when.models[0]` under `rules[1]`.
    pub fn within(self, parent: impl Into<FieldPath>) -> FieldError {
        FieldError { path: self.path.under(parent.into()), message: self.message }
    }

    /// The same error in document `n` of an apply.
    pub fn in_document(self, n: usize) -> FieldError {
        if self.path.in_document().is_some() {
            return self;
        }
        self.within(FieldPath::document(n))
    }
}

/// A name that fails its rule is the `name` (or `email`) field at fault.
impl From<crate::ids::InvalidName> for FieldError {
    fn from(e: crate::ids::InvalidName) -> Self {
        let field = if e.what == "email" { "email" } else { "name" };
        FieldError::new(field, e.to_string())
    }
}

/// Every field at fault in one request, in the order found: a form shows them all at once instead of one
/// per round trip. Never empty once it is an error (see `into_result`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> FieldErrors {
        FieldErrors(Vec::new())
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// The value of a check that passed; a failed one is recorded and gives `None`, so checking goes on.
    pub fn check<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn first(&self) -> Option<&FieldError> {
        self.0.first()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// The first error, for a caller that reports one; an empty list (never an error) says so.
    pub fn into_first(self) -> FieldError {
        self.0.into_iter().next().unwrap_or_else(|| FieldError::new("", "no field is at fault"))
    }

    /// Every error seen from an enclosing object or document (see `FieldError::within`).
    pub fn map(self, f: impl FnMut(FieldError) -> FieldError) -> FieldErrors {
        FieldErrors(self.0.into_iter().map(f).collect())
    }

    /// `Ok` when nothing was found; else these errors.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl FromIterator<FieldError> for FieldErrors {
    fn from_iter<I: IntoIterator<Item = FieldError>>(iter: I) -> Self {
        FieldErrors(iter.into_iter().collect())
    }
}

impl From<FieldError> for FieldErrors {
    fn from(e: FieldError) -> Self {
        FieldErrors(vec![e])
    }
}

impl fmt::Display for FieldErrors {
    /// The first error, as a single-error message reads; the rest are for whoever reads the list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.first() {
            Some(e) => write!(f, "{e}"),
            None => f.write_str("no field is at fault"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_they_were_written() {
        for s in ["rules[0].limit_to", "models[2].authorized_subjects[0]", "auth", "metadata.a.b", "keywords[2]", "x[y"]
        {
            assert_eq!(FieldPath::parse(s).to_string(), s);
        }
    }

    #[test]
    fn prefixes_are_typed() {
        let p = FieldPath::parse("rules[0].limit_to").under(FieldPath::document(3));
        assert_eq!(p.to_string(), "document 3: rules[0].limit_to");
        assert_eq!(p.in_document(), Some(3));
        assert_eq!(
            p.segments(),
            &[Segment::Document(3), Segment::Key("rules".into()), Segment::Index(0), Segment::Key("limit_to".into())]
        );
        assert_eq!(FieldError::new("[2]", "x").within("keywords").path.to_string(), "keywords[2]");
        let e = FieldError::new("name", "bad").in_document(2).in_document(5);
        assert_eq!(e.to_string(), "document 2: name: bad");
    }

    #[test]
    fn field_errors_keep_every_error_in_order() {
        let mut all = FieldErrors::new();
        assert_eq!(all.check(Ok::<_, FieldError>(1)), Some(1));
        assert!(all.clone().into_result().is_ok());
        assert_eq!(all.check::<()>(Err(FieldError::new("name", "bad"))), None);
        all.push(FieldError::new("role", "worse"));
        let all = all.map(|e| e.in_document(2));
        assert_eq!(all.len(), 2);
        assert_eq!(all.to_string(), "document 2: name: bad");
        let paths: Vec<String> = all.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(paths, ["document 2: name", "document 2: role"]);
        assert!(all.into_result().is_err());
    }
}
