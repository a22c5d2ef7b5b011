//! Kubernetes label and field selectors, as sent in `labelSelector=` and `fieldSelector=`, evaluated against JSON objects.

// The grammar, validation rules, matching semantics and error texts follow upstream
// `k8s.io/apimachinery` (`pkg/labels`, `pkg/fields`) and the per-kind field label conversion
// functions of kube-apiserver, because kubectl users read those messages verbatim.

use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

#[cfg(test)]
mod tests;

/// Errors from parsing or checking a selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string did not parse or failed key or value validation.
    ///
    /// The text follows upstream `labels.Parse`.
    #[error("{0}")]
    InvalidLabelSelector(String),
    /// A field selector term carried none of the operators `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldSelector {
        /// The whole selector as given.
        selector: String,
        /// The term that could not be split into field, operator and value.
        term: String,
    },
    /// A field selector value contained a backslash escape other than `\\`, `\,` or `\=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),
    /// A field selector value contained an unescaped `,` or `=`.
    #[error("invalid field selector: unescaped character in value: {0}")]
    UnescapedCharacter(char),
    /// The field cannot be selected on for the kind.
    ///
    /// The text matches kube's conversion function for that kind.
    #[error("{message}")]
    FieldLabelNotSupported {
        /// The field that is not selectable.
        field: String,
        /// The full message, worded as kube-apiserver words it for this kind.
        message: String,
    },
}

type Result<T> = std::result::Result<T, SelectorError>;

/// The regular expression upstream quotes for the name part of a qualified name.
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Formats a regex failure the way upstream's `RegexError` does, including its double spaces.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let quoted: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        quoted.join(" or ")
    )
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// Checks `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, the shape shared by label names and values.
fn is_qualified_token(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            match (b.first(), b.last()) {
                (Some(first), Some(last)) => {
                    ok_char(first) && ok_char(last) && b.iter().all(|c| ok_char(c) || *c == b'-')
                }
                _ => false,
            }
        })
}

/// Returns upstream's `IsQualifiedName` complaints about a label key.
fn qualified_name_errors(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let mut errs = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                if prefix.len() > 253 {
                    errs.push(format!("prefix part {}", max_len_error(253)));
                }
                if !is_dns1123_subdomain(prefix) {
                    errs.push(format!(
                        "prefix part {}",
                        regex_error(
                            DNS1123_SUBDOMAIN_MSG,
                            DNS1123_SUBDOMAIN_FMT,
                            &["example.com"]
                        )
                    ));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_qualified_token(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Returns upstream's `IsValidLabelValue` complaints about a label value.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !is_qualified_token(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Formats an upstream `field.Invalid` error whose bad value is a string.
fn invalid_string(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value:?}: {detail}")
}

/// Formats an upstream `field.Invalid` error whose bad value is a string list (rendered as JSON).
fn invalid_list(path: &str, values: Option<&[String]>, detail: &str) -> String {
    // Go marshals a nil slice as `null`, which is what LabelSelectorAsSelector passes for no values.
    let rendered = match values {
        Some(v) => Value::from(v.to_vec()).to_string(),
        None => "null".to_owned(),
    };
    format!("{path}: Invalid value: {rendered}: {detail}")
}

/// Joins field errors like upstream's error aggregate: one error alone, several in brackets.
fn aggregate(errs: Vec<String>) -> Option<String> {
    let mut seen = HashSet::new();
    let unique: Vec<String> = errs
        .into_iter()
        .filter(|e| seen.insert(e.clone()))
        .collect();
    match unique.len() {
        0 => None,
        1 => unique.into_iter().next(),
        _ => Some(format!("[{}]", unique.join(", "))),
    }
}

/// Validates a label key against a field path, as upstream's `validateLabelKey` does.
fn validate_label_key(key: &str, path: &str) -> Option<String> {
    let errs = qualified_name_errors(key);
    (!errs.is_empty()).then(|| invalid_string(path, key, &errs.join("; ")))
}

/// A label selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement of a label selector; the values are sorted and unique, like upstream's set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Requirement {
    /// Builds and validates a requirement the way upstream's `NewRequirement` does.
    /// `values` is `None` where upstream passes a nil slice, which only changes error wording.
    fn new(key: &str, op: Op, values: Option<&[String]>) -> std::result::Result<Self, String> {
        let mut errs = Vec::new();
        if let Some(e) = validate_label_key(key, "key") {
            errs.push(e);
        }
        let vals = values.unwrap_or(&[]);
        match op {
            Op::In | Op::NotIn if vals.is_empty() => errs.push(invalid_list(
                "values",
                values,
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Op::Equals | Op::DoubleEquals | Op::NotEquals if vals.len() != 1 => {
                errs.push(invalid_list(
                    "values",
                    values,
                    "exact-match compatibility requires one single value",
                ));
            }
            Op::Exists | Op::DoesNotExist if !vals.is_empty() => errs.push(invalid_list(
                "values",
                values,
                "values set must be empty for exists and does not exist",
            )),
            Op::GreaterThan | Op::LessThan => {
                if vals.len() != 1 {
                    errs.push(invalid_list(
                        "values",
                        values,
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in vals.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid_string(
                            &format!("values[{i}]"),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in vals.iter().enumerate() {
            let value_errs = label_value_errors(v);
            if !value_errs.is_empty() {
                errs.push(invalid_string(
                    &format!("values[{i}][{key}]"),
                    v,
                    &value_errs.join("; "),
                ));
            }
        }
        if let Some(message) = aggregate(errs) {
            return Err(message);
        }
        // Upstream keeps set-valued requirements as a sorted, de-duplicated list.
        let values: BTreeSet<String> = vals.iter().cloned().collect();
        Ok(Requirement {
            key: key.to_owned(),
            op,
            values: values.into_iter().collect(),
        })
    }

    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let found = labels.and_then(|l| l.get(&self.key));
        // A non-string label value cannot come from a valid object; it counts as present but
        // equal to nothing, so only the existence operators can be satisfied by it.
        let has_value = |v: &Value| {
            v.as_str()
                .is_some_and(|s| self.values.iter().any(|x| x == s))
        };
        match self.op {
            Op::In | Op::Equals | Op::DoubleEquals => found.is_some_and(has_value),
            Op::NotIn | Op::NotEquals => !found.is_some_and(has_value),
            Op::Exists => found.is_some(),
            Op::DoesNotExist => found.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let Some(actual) = found
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<i64>().ok())
                else {
                    return false;
                };
                let Some(wanted) = self.values.first().and_then(|s| s.parse::<i64>().ok()) else {
                    return false;
                };
                if self.op == Op::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

/// A parsed Kubernetes label selector: every requirement must hold for an object to match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// True for the selector built from a null `metav1.LabelSelector`, which matches nothing.
    nothing: bool,
}

impl LabelSelector {
    /// Parses the string form used by `labelSelector=` (already URL-decoded).
    ///
    /// Accepts `""`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`
    /// joined by commas, with free whitespace between tokens. Keys and values are validated like
    /// upstream `labels.Parse`.
    ///
    /// # Errors
    ///
    /// Returns [`SelectorError::InvalidLabelSelector`] with upstream's wording when the syntax is
    /// wrong or a key or value is not a valid label key or value.
    pub fn parse(s: &str) -> Result<LabelSelector> {
        let mut parser = Parser {
            items: lex(s),
            position: 0,
        };
        let mut requirements = parser
            .parse()
            .map_err(SelectorError::InvalidLabelSelector)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Reports whether the given labels satisfy every requirement.
    ///
    /// `labels` is the object's `metadata.labels`; `None` means the object has no labels.
    ///
    /// As upstream, `!=` and `notin` also match objects that lack the key.
    #[must_use]
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Reports whether the selector places no restriction at all (it matches every object).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }
}

/// A lexical token of the label selector grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// A token together with the text it was read from.
#[derive(Debug, Clone)]
struct Item {
    tok: Tok,
    lit: String,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a label selector into tokens, ending with `Tok::End`.
fn lex(s: &str) -> Vec<Item> {
    let bytes = s.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        let Some(&first) = bytes.get(pos) else {
            items.push(Item {
                tok: Tok::End,
                lit: String::new(),
            });
            return items;
        };
        if is_special(first) {
            // Operators are at most two bytes long, and only `==` and `!=` have two.
            let two = bytes.get(pos..pos + 2);
            let (tok, len) = match (first, two) {
                (_, Some(b"==")) => (Tok::DoubleEquals, 2),
                (_, Some(b"!=")) => (Tok::NotEquals, 2),
                (b'=', _) => (Tok::Equals, 1),
                (b'!', _) => (Tok::DoesNotExist, 1),
                (b'(', _) => (Tok::OpenPar, 1),
                (b')', _) => (Tok::ClosedPar, 1),
                (b',', _) => (Tok::Comma, 1),
                (b'>', _) => (Tok::GreaterThan, 1),
                _ => (Tok::LessThan, 1),
            };
            items.push(Item {
                tok,
                lit: s[pos..pos + len].to_owned(),
            });
            pos += len;
        } else {
            let start = pos;
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
                pos += 1;
            }
            // Identifiers end on ASCII bytes, so the slice boundaries are character boundaries.
            let lit = &s[start..pos];
            let tok = match lit {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Identifier,
            };
            items.push(Item {
                tok,
                lit: lit.to_owned(),
            });
        }
    }
}

/// Whether `in` and `notin` are keywords (operator position) or plain identifiers (everywhere else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// A recursive-descent parser over the token list, mirroring upstream's grammar.
struct Parser {
    items: Vec<Item>,
    position: usize,
}

/// The binary operators upstream lists when it expected one.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl Parser {
    fn peek_item(&self) -> (Tok, String) {
        // The token list always ends with `End`, and the parser never reads past it.
        match self.items.get(self.position).or(self.items.last()) {
            Some(item) => (item.tok, item.lit.clone()),
            None => (Tok::End, String::new()),
        }
    }

    fn lookahead(&self, ctx: Context) -> (Tok, String) {
        let (tok, lit) = self.peek_item();
        (Self::in_context(tok, ctx), lit)
    }

    fn consume(&mut self, ctx: Context) -> (Tok, String) {
        let (tok, lit) = self.peek_item();
        if self.position < self.items.len() {
            self.position += 1;
        }
        (Self::in_context(tok, ctx), lit)
    }

    fn in_context(tok: Tok, ctx: Context) -> Tok {
        match (tok, ctx) {
            (Tok::In | Tok::NotIn, Context::Values) => Tok::Identifier,
            _ => tok,
        }
    }

    fn parse(&mut self) -> std::result::Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> std::result::Result<Requirement, String> {
        let (key, unary) = self.parse_key_and_infer_operator()?;
        if let Some(op) = unary {
            return Requirement::new(&key, op, Some(&[]));
        }
        let op = self.parse_operator()?;
        let values = match op {
            Op::In | Op::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        let values: Vec<String> = values.into_iter().collect();
        Requirement::new(&key, op, Some(&values))
    }

    /// Reads `[!] KEY` and returns the unary operator when the requirement ends right there.
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> std::result::Result<(String, Option<Op>), String> {
        let (mut tok, mut lit) = self.consume(Context::Values);
        let negated = tok == Tok::DoesNotExist;
        if negated {
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        // Upstream validates the key here with a nil field path, which prints as `<nil>`.
        if let Some(e) = validate_label_key(&lit, "<nil>") {
            return Err(e);
        }
        if negated {
            return Ok((lit, Some(Op::DoesNotExist)));
        }
        let (next, _) = self.lookahead(Context::Values);
        let unary = matches!(next, Tok::End | Tok::Comma).then_some(Op::Exists);
        Ok((lit, unary))
    }

    fn parse_operator(&mut self) -> std::result::Result<Op, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        match tok {
            Tok::In => Ok(Op::In),
            Tok::Equals => Ok(Op::Equals),
            Tok::DoubleEquals => Ok(Op::DoubleEquals),
            Tok::GreaterThan => Ok(Op::GreaterThan),
            Tok::LessThan => Ok(Op::LessThan),
            Tok::NotIn => Ok(Op::NotIn),
            Tok::NotEquals => Ok(Op::NotEquals),
            _ => Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        }
    }

    /// Parses `( v1, v2, ... )`, where empty slots stand for the empty value.
    fn parse_values(&mut self) -> std::result::Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let values = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Tok::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> std::result::Result<BTreeSet<String>, String> {
        let mut values = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Tok::Identifier => {
                    values.insert(lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        // The comma itself is consumed by the next turn of the loop.
                        Tok::Comma => {}
                        Tok::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    // A leading, doubled or trailing comma stands for an empty value.
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Tok::ClosedPar {
                        values.insert(String::new());
                        return Ok(values);
                    }
                    if tok2 == Tok::Comma {
                        self.consume(Context::Values);
                        values.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> std::result::Result<BTreeSet<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if matches!(tok, Tok::End | Tok::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Tok::Identifier {
            Ok(BTreeSet::from([lit]))
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equals: bool,
    value: String,
}

/// A parsed Kubernetes field selector: every term must hold for an object to match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

/// How kube-apiserver words a rejected field for a kind, which differs between API groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    /// The core/v1 and certificates wording: `field label not supported: <field>`.
    FieldLabel,
    /// The batch/v1 Job wording: `field label "<field>" not supported for Job`.
    Job,
    /// The generic wording for kinds without their own conversion function.
    Default,
}

/// Returns the selectable fields of a kind and how unsupported ones are reported.
fn kind_fields(kind: &str) -> (&'static [&'static str], Rejection) {
    const META: &[&str] = &["metadata.name", "metadata.namespace"];
    match kind {
        "Pod" => (
            &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
                // Old clients still send this alias of spec.nodeName.
                "spec.host",
            ],
            Rejection::FieldLabel,
        ),
        // Nodes and Namespaces are cluster-scoped, and upstream omits metadata.namespace for them.
        "Node" => (
            &["metadata.name", "spec.unschedulable"],
            Rejection::FieldLabel,
        ),
        "Namespace" => (&["metadata.name", "status.phase"], Rejection::FieldLabel),
        "ReplicationController" => (
            &["metadata.name", "metadata.namespace", "status.replicas"],
            Rejection::FieldLabel,
        ),
        "Event" => (
            &[
                "metadata.name",
                "metadata.namespace",
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            Rejection::FieldLabel,
        ),
        "Secret" => (
            &["metadata.name", "metadata.namespace", "type"],
            Rejection::FieldLabel,
        ),
        "Service" => (
            &[
                "metadata.name",
                "metadata.namespace",
                "spec.clusterIP",
                "spec.type",
            ],
            Rejection::FieldLabel,
        ),
        "CertificateSigningRequest" | "ClusterTrustBundle" => {
            (&["metadata.name", "spec.signerName"], Rejection::FieldLabel)
        }
        "Job" => (
            &["metadata.name", "metadata.namespace", "status.successful"],
            Rejection::Job,
        ),
        // apps/v1 registers no conversion for ReplicaSet or anything else, so they fall back
        // to the default even though the storage layer could select status.replicas.
        _ => (META, Rejection::Default),
    }
}

fn is_supported(kind: &str, field: &str) -> bool {
    kind_fields(kind).0.contains(&field)
}

/// Walks a dotted path of object keys.
fn lookup<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

fn string_at(obj: &Value, path: &[&str]) -> String {
    lookup(obj, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Renders an integer field as upstream does with `strconv.Itoa`, absent meaning zero.
fn int_at(obj: &Value, path: &[&str]) -> String {
    lookup(obj, path)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

/// Renders a boolean field as upstream does with `strconv.FormatBool`, absent meaning false.
fn bool_at(obj: &Value, path: &[&str]) -> String {
    lookup(obj, path)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// Computes the selectable value of `field` for an object, as the kind's `GetAttrs` would.
///
/// A field the kind does not support yields the empty string, as a lookup in upstream's
/// `fields.Set` would.
fn field_value(kind: &str, field: &str, obj: &Value) -> String {
    if !is_supported(kind, field) {
        return String::new();
    }
    match field {
        "spec.host" => string_at(obj, &["spec", "nodeName"]),
        "spec.hostNetwork" | "spec.unschedulable" => {
            bool_at(obj, &field.split('.').collect::<Vec<_>>())
        }
        // The first entry of podIPs is authoritative, but a client may have set only podIP.
        "status.podIP" => lookup(obj, &["status", "podIPs"])
            .and_then(|ips| ips.get(0))
            .and_then(|first| first.get("ip"))
            .or_else(|| lookup(obj, &["status", "podIP"]))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        // Upstream accepts this label but never fills it in, so it always reads as empty.
        "status.podIPs" => String::new(),
        "status.replicas" => int_at(obj, &["status", "replicas"]),
        "status.successful" => int_at(obj, &["status", "succeeded"]),
        // Events written through events.k8s.io carry only the reporting controller.
        "source" => {
            let component = string_at(obj, &["source", "component"]);
            if component.is_empty() {
                string_at(obj, &["reportingComponent"])
            } else {
                component
            }
        }
        _ => string_at(obj, &field.split('.').collect::<Vec<_>>()),
    }
}

/// Splits a field selector on commas that are not escaped with a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at its first operator; the field part supports no escaping, as upstream.
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// Removes the escapes `\\`, `\,` and `\=` from a value and rejects bare `,` and `=`.
fn unescape_value(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscapeSequence(format!("\\{c}")));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(SelectorError::UnescapedCharacter(c)),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(SelectorError::InvalidEscapeSequence("\\".to_owned()));
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses the string form used by `fieldSelector=` (already URL-decoded).
    ///
    /// Terms are `field=value`, `field==value` or `field!=value`, joined by commas. Values may
    /// escape `\,`, `\=` and `\\`. As upstream, whitespace is not trimmed, and terms are kept in
    /// sorted order so that the first bad term reported is the same one kube reports.
    ///
    /// # Errors
    ///
    /// Returns [`SelectorError::InvalidFieldSelector`] for a term without an operator, and
    /// [`SelectorError::InvalidEscapeSequence`] or [`SelectorError::UnescapedCharacter`] for a
    /// badly escaped value.
    pub fn parse(s: &str) -> Result<FieldSelector> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, op, raw_value)) = split_term(part) else {
                return Err(SelectorError::InvalidFieldSelector {
                    selector: s.to_owned(),
                    term: part.to_owned(),
                });
            };
            terms.push(FieldTerm {
                field: field.to_owned(),
                equals: op != "!=",
                value: unescape_value(raw_value)?,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Evaluates the selector against an object of the given kind.
    ///
    /// `kind` decides which fields are selectable and how they are computed (for example
    /// `status.successful` of a Job reads `status.succeeded`). Fields the kind does not
    /// support read as empty, so callers should run [`FieldSelector::check`] first.
    #[must_use]
    pub fn matches(&self, kind: &str, obj: &Value) -> bool {
        self.terms.iter().all(|term| {
            let actual = field_value(kind, &term.field, obj);
            (actual == term.value) == term.equals
        })
    }

    /// Fields the kind does not support produce an error like kube's: `field label not supported: <field>`.
    ///
    /// The wording follows the kind's upstream conversion function: core kinds say
    /// `field label not supported: <field>`, Job says `field label "<field>" not supported for Job`,
    /// and kinds without their own function say
    /// `"<field>" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    ///
    /// # Errors
    ///
    /// Returns [`SelectorError::FieldLabelNotSupported`] for the first term whose field the kind
    /// cannot select on.
    pub fn check(&self, kind: &str) -> Result<()> {
        let (fields, rejection) = kind_fields(kind);
        match self
            .terms
            .iter()
            .find(|t| !fields.contains(&t.field.as_str()))
        {
            None => Ok(()),
            Some(term) => {
                let field = &term.field;
                let message = match rejection {
                    Rejection::FieldLabel => format!("field label not supported: {field}"),
                    Rejection::Job => format!("field label {field:?} not supported for Job"),
                    Rejection::Default => format!(
                        "{field:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    ),
                };
                Err(SelectorError::FieldLabelNotSupported {
                    field: field.clone(),
                    message,
                })
            }
        }
    }

    /// If the selector pins metadata.name to one value, that name (used to serve a single key fast).
    ///
    /// Like upstream's `RequiresExactMatch`, this is the first `metadata.name=` term; the caller
    /// must still run [`FieldSelector::matches`] on the object it finds.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.equals && t.field == "metadata.name")
            .map(|t| t.value.as_str())
    }

    /// Reports whether the selector has no terms and so matches every object.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}
