//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2), parsed into a tree and
//! nothing else: no schema, no storage. What a filter means for users is `scim::query`; a PATCH
//! path's target is `scim::patch`.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"            ; here also followed by subAttr compareOp
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER     ; "and" binds tighter than "or"
//! compValue = false / null / true / number / string  ; JSON literals
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! PATH      = attrPath / valuePath [subAttr]         ; a PATCH operation's "path"
//! ```
//!
//! Operators, `and`, `or`, `not`, `pr` and attribute names are case-insensitive (RFC 7644
//! §3.4.2.2); names are kept as written and compared by their reader.

use std::fmt;

/// The longest filter or path accepted, in bytes.
pub const MAX_LENGTH: usize = 2048;
/// How deep `not`, parentheses and brackets may nest.
const MAX_DEPTH: usize = 32;

/// An attribute named in a filter or a path: `[urn:…:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN before the name, when one was written.
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A comparison value: a JSON literal.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `emails[type eq "work"]`: some value of the multi-valued `path` matches `filter`, whose
    /// attribute names are sub-attributes of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH operation's target: an attribute, or the values of a multi-valued one that match a
/// filter, and perhaps one sub-attribute of those (`emails[type eq "work"].value`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`attr.sub` holds one written without a filter).
    pub sub: Option<String>,
}

/// Why a filter or path was refused: SCIM's `invalidFilter` (or `invalidPath`) with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

fn error<T>(message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(message.into()))
}

/// Parses a `filter` query parameter (or a SearchRequest's `filter`).
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(text)?;
    let filter = parser.or(0, false)?;
    match parser.next() {
        None => Ok(filter),
        Some(token) => error(format!("unexpected {token} after a complete filter")),
    }
}

/// Parses a PATCH operation's `path`.
pub fn parse_path(text: &str) -> Result<PatchPath, FilterError> {
    let mut parser = Parser::new(text)?;
    let Some(Token::Word(word)) = parser.next() else { return error("a path starts with an attribute name") };
    let attr = attr_path(&word)?;
    let path = match parser.peek() {
        Some(Token::Open('[')) => {
            parser.next();
            if attr.sub.is_some() {
                return error("a value filter follows an attribute, not a sub-attribute");
            }
            let filter = parser.or(1, true)?;
            parser.expect(']')?;
            let sub = match parser.next() {
                None => None,
                Some(Token::Word(word)) => Some(sub_attribute(&word)?),
                Some(token) => return error(format!("unexpected {token} after a value filter")),
            };
            PatchPath { attr, filter: Some(filter), sub }
        }
        _ => PatchPath { attr, filter: None, sub: None },
    };
    match parser.next() {
        None => Ok(path),
        Some(token) => error(format!("unexpected {token} in a path")),
    }
}

/// Parses one entry of `attributes`, `excludedAttributes` or `sortBy`.
pub fn parse_attr_path(text: &str) -> Result<AttrPath, FilterError> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_LENGTH || text.contains(|c: char| c.is_whitespace() || "[]()\"".contains(c))
    {
        return error(format!("`{text}` is not an attribute path"));
    }
    attr_path(text)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open(char),
    Close(char),
    Word(String),
    Str(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open(c) | Token::Close(c) => write!(f, "`{c}`"),
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Str(_) => f.write_str("a string"),
        }
    }
}

fn tokens(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | '[' => {
                chars.next();
                out.push(Token::Open(c));
            }
            ')' | ']' => {
                chars.next();
                out.push(Token::Close(c));
            }
            '"' => {
                // A JSON string: find its closing quote (not one escaped), then let JSON read it.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else { return error("a string is not closed") };
                let value: String = serde_json::from_str(&text[at..=end])
                    .map_err(|_| FilterError("a string is not a valid JSON string".into()))?;
                out.push(Token::Str(value));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                out.push(Token::Word(text[at..end].to_owned()));
            }
        }
    }
    Ok(out)
}

/// `[urn:…:]name[.sub]`: a URN is everything up to its last colon.
fn attr_path(word: &str) -> Result<AttrPath, FilterError> {
    let (uri, rest) = match word.rfind(':') {
        Some(at) if word.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) => {
            (Some(word[..at].to_owned()), &word[at + 1..])
        }
        Some(_) => return error(format!("`{word}` is not an attribute path")),
        None => (None, word),
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or("");
    let sub = parts.next();
    if parts.next().is_some() || !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return error(format!("`{word}` is not an attribute path"));
    }
    Ok(AttrPath { uri, name: name.to_owned(), sub: sub.map(str::to_owned) })
}

/// `.sub` after a value filter.
fn sub_attribute(word: &str) -> Result<String, FilterError> {
    match word.strip_prefix('.') {
        Some(name) if is_attr_name(name) => Ok(name.to_owned()),
        _ => error(format!("`{word}` is not a sub-attribute (`.name`)")),
    }
}

/// `ATTRNAME = ALPHA *(nameChar)`, nameChar `-`, `_`, digit or letter; `$ref` too (RFC 7643
/// §2.1 names reference sub-attributes so).
fn is_attr_name(name: &str) -> bool {
    let name = name.strip_prefix('$').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn new(text: &str) -> Result<Self, FilterError> {
        if text.len() > MAX_LENGTH {
            return error(format!("longer than {MAX_LENGTH} bytes"));
        }
        if text.trim().is_empty() {
            return error("empty");
        }
        Ok(Self { tokens: tokens(text)?, at: 0 })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, close: char) -> Result<(), FilterError> {
        match self.next() {
            Some(Token::Close(c)) if c == close => Ok(()),
            Some(token) => error(format!("expected `{close}`, found {token}")),
            None => error(format!("expected `{close}` at the end")),
        }
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if is_keyword(w, keyword))
    }

    /// `and`-terms joined by `or`. `in_brackets`: a value filter, where brackets cannot nest.
    fn or(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, FilterError> {
        let mut filter = self.and(depth, in_brackets)?;
        while self.peek_keyword("or") {
            self.next();
            filter = Filter::Or(Box::new(filter), Box::new(self.and(depth, in_brackets)?));
        }
        Ok(filter)
    }

    fn and(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, FilterError> {
        let mut filter = self.unary(depth, in_brackets)?;
        while self.peek_keyword("and") {
            self.next();
            filter = Filter::And(Box::new(filter), Box::new(self.unary(depth, in_brackets)?));
        }
        Ok(filter)
    }

    fn unary(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return error(format!("nested more than {MAX_DEPTH} deep"));
        }
        match self.next() {
            Some(Token::Open('(')) => {
                let inner = self.or(depth + 1, in_brackets)?;
                self.expect(')')?;
                Ok(inner)
            }
            Some(Token::Word(word)) if is_keyword(&word, "not") && self.peek() == Some(&Token::Open('(')) => {
                self.next();
                let inner = self.or(depth + 1, in_brackets)?;
                self.expect(')')?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(Token::Word(word)) => self.attribute_expression(&word, depth, in_brackets),
            Some(token) => error(format!("expected an attribute, `not` or `(`, found {token}")),
            None => error("the filter ends where an expression should be"),
        }
    }

    fn attribute_expression(&mut self, word: &str, depth: usize, in_brackets: bool) -> Result<Filter, FilterError> {
        let path = attr_path(word)?;
        if self.peek() == Some(&Token::Open('[')) {
            if in_brackets {
                return error("value filters cannot nest");
            }
            if path.sub.is_some() {
                return error(format!("`{word}[…]`: a value filter follows an attribute, not a sub-attribute"));
            }
            self.next();
            let inner = self.or(depth + 1, true)?;
            self.expect(']')?;
            // `emails[type eq "work"].value eq "x"`: the same as `emails[type eq "work" and value eq "x"]`.
            let inner = match self.peek() {
                Some(Token::Word(w)) if w.starts_with('.') => {
                    let sub = sub_attribute(w)?;
                    self.next();
                    let sub_path = AttrPath { uri: None, name: sub, sub: None };
                    Filter::And(Box::new(inner), Box::new(self.comparison(sub_path)?))
                }
                _ => inner,
            };
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        self.comparison(path)
    }

    /// What follows an attribute path: `pr`, or an operator and a value.
    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let op = match self.next() {
            Some(Token::Word(w)) if is_keyword(&w, "pr") => return Ok(Filter::Present(path)),
            Some(Token::Word(w)) => match CompareOp::parse(&w) {
                Some(op) => op,
                None => return error(format!("`{w}` is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")),
            },
            Some(token) => return error(format!("expected an operator after `{path}`, found {token}")),
            None => return error(format!("`{path}` needs an operator")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => CompValue::String(s),
            Some(Token::Word(w)) if is_keyword(&w, "true") => CompValue::Bool(true),
            Some(Token::Word(w)) if is_keyword(&w, "false") => CompValue::Bool(false),
            Some(Token::Word(w)) if is_keyword(&w, "null") => CompValue::Null,
            Some(Token::Word(w)) => match serde_json::from_str::<serde_json::Number>(&w) {
                Ok(n) => CompValue::Number(n),
                Err(_) => return error(format!("`{w}` is not a value (a \"string\", a number, true, false or null)")),
            },
            Some(token) => return error(format!("expected a value after `{}`, found {token}", op.as_str())),
            None => return error(format!("`{path} {}` needs a value", op.as_str())),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str) -> AttrPath {
        match name.split_once('.') {
            Some((name, sub)) => AttrPath { uri: None, name: name.into(), sub: Some(sub.into()) },
            None => AttrPath { uri: None, name: name.into(), sub: None },
        }
    }

    fn eq(name: &str, value: &str) -> Filter {
        Filter::Compare { path: attr(name), op: CompareOp::Eq, value: CompValue::String(value.into()) }
    }

    #[test]
    fn a_comparison_reads_with_any_case_of_operator() {
        assert_eq!(parse(r#"userName eq "bjensen""#).unwrap(), eq("userName", "bjensen"));
        assert_eq!(parse(r#"userName EQ "bjensen""#).unwrap(), eq("userName", "bjensen"));
        assert_eq!(parse(r#"  name.familyName   eq "O'Malley"  "#).unwrap(), eq("name.familyName", "O'Malley"));
        for (text, op) in [("co", CompareOp::Co), ("sw", CompareOp::Sw), ("ew", CompareOp::Ew), ("Ge", CompareOp::Ge)] {
            let parsed = parse(&format!(r#"title {text} "x""#)).unwrap();
            assert_eq!(parsed, Filter::Compare { path: attr("title"), op, value: CompValue::String("x".into()) });
        }
    }

    #[test]
    fn values_are_json_literals() {
        let value = |text: &str| match parse(&format!("a eq {text}")).unwrap() {
            Filter::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(value("true"), CompValue::Bool(true));
        assert_eq!(value("False"), CompValue::Bool(false));
        assert_eq!(value("null"), CompValue::Null);
        assert_eq!(value("42"), CompValue::Number(42.into()));
        assert_eq!(value(r#""a \"quoted\" \u00e9 ) ] and""#), CompValue::String("a \"quoted\" é ) ] and".into()));
        assert!(parse("a eq bare").is_err());
        assert!(parse(r#"a eq "open"#).is_err());
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let a = || eq("a", "1");
        let b = || eq("b", "2");
        let c = || eq("c", "3");
        let and = |x: Filter, y: Filter| Filter::And(Box::new(x), Box::new(y));
        let or = |x: Filter, y: Filter| Filter::Or(Box::new(x), Box::new(y));
        assert_eq!(parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap(), or(a(), and(b(), c())));
        assert_eq!(parse(r#"(a eq "1" or b eq "2") and c eq "3""#).unwrap(), and(or(a(), b()), c()));
        assert_eq!(parse(r#"a eq "1" AND b eq "2" Or c eq "3""#).unwrap(), or(and(a(), b()), c()));
        assert_eq!(
            parse(r#"not (a eq "1") and not(b eq "2")"#).unwrap(),
            and(Filter::Not(Box::new(a())), Filter::Not(Box::new(b())))
        );
    }

    #[test]
    fn presence_and_schema_urns() {
        assert_eq!(parse("title pr").unwrap(), Filter::Present(attr("title")));
        let parsed = parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Barbara""#).unwrap();
        let Filter::Compare { path, .. } = parsed else { panic!() };
        assert_eq!(path.uri.as_deref(), Some("urn:ietf:params:scim:schemas:core:2.0:User"));
        assert_eq!((path.name.as_str(), path.sub.as_deref()), ("name", Some("givenName")));
    }

    #[test]
    fn value_paths_filter_the_values_of_a_multi_valued_attribute() {
        let parsed = parse(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
        let expected = Filter::ValuePath {
            path: attr("emails"),
            filter: Box::new(Filter::And(Box::new(eq("type", "work")), Box::new(sub_co("value", "@example.com")))),
        };
        assert_eq!(parsed, expected);
        let with_sub = parse(r#"emails[type eq "work"].value eq "a@b.c""#).unwrap();
        let expected = Filter::ValuePath {
            path: attr("emails"),
            filter: Box::new(Filter::And(Box::new(eq("type", "work")), Box::new(eq("value", "a@b.c")))),
        };
        assert_eq!(with_sub, expected);
        assert!(parse(r#"emails[type eq "work"] and userName sw "j""#).is_ok());
        assert!(parse(r#"emails[type eq "work""#).is_err(), "unclosed");
        assert!(parse(r#"emails[x[y eq "1"]]"#).is_err(), "nested");
    }

    fn sub_co(name: &str, value: &str) -> Filter {
        Filter::Compare { path: attr(name), op: CompareOp::Co, value: CompValue::String(value.into()) }
    }

    #[test]
    fn malformed_filters_say_why() {
        for bad in [
            "",
            "userName",
            r#"userName xx "a""#,
            r#"userName eq"#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"userName eq "a" and"#,
            r#"userName eq "a" "b""#,
            r#"1name eq "a""#,
            r#"a.b.c eq "a""#,
            r#"not userName eq "a""#,
            r#"foo:bar eq "a""#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let message = parse(r#"userName xx "a""#).unwrap_err().0;
        assert!(message.contains("not an operator"), "{message}");
    }

    #[test]
    fn length_and_depth_are_bounded() {
        let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_LENGTH));
        assert!(parse(&long).unwrap_err().0.contains("longer than"));
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().0.contains("nested"));
        let fine = format!("{}a pr{}", "(".repeat(10), ")".repeat(10));
        assert_eq!(parse(&fine).unwrap(), Filter::Present(attr("a")));
    }

    #[test]
    fn patch_paths_name_an_attribute_a_sub_attribute_or_filtered_values() {
        assert_eq!(
            parse_path("displayName").unwrap(),
            PatchPath { attr: attr("displayName"), filter: None, sub: None }
        );
        assert_eq!(parse_path("name.givenName").unwrap().attr, attr("name.givenName"));
        let filtered = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(filtered.attr, attr("emails"));
        assert_eq!(filtered.filter, Some(eq("type", "work")));
        assert_eq!(filtered.sub.as_deref(), Some("value"));
        let members = parse_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
        assert!(members.sub.is_none());
        for bad in ["", "emails[", r#"emails[type eq "work"]value"#, "a b", r#"name.givenName[type eq "x"]"#] {
            assert!(parse_path(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn attribute_lists_take_paths_only() {
        assert_eq!(parse_attr_path(" name.familyName ").unwrap(), attr("name.familyName"));
        assert_eq!(parse_attr_path("$ref").unwrap(), attr("$ref"));
        assert!(parse_attr_path("emails[type eq \"work\"]").is_err());
        assert!(parse_attr_path("").is_err());
    }
}
