//! The `?labelSelector=` string syntax, read as upstream's lexer and parser read it:
//!
//! ```text
//! selector    ::= requirement ( "," requirement )*
//! requirement ::= [ "!" ] KEY [ ( "in" | "notin" ) "(" VALUES ")" | ( "=" | "==" | "!=" | ">" | "<" ) VALUE ]
//! ```
//!
//! Whitespace separates tokens; `in` and `notin` are keywords only where an operator may
//! stand, so they still work as keys and values.

use std::collections::BTreeSet;

use super::label::{LabelSelector, Operator, Requirement};
use super::names::qualified_name_errors;
use super::SelectorError;
use Token::Identifier;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of special symbols that is no operator; the text is the error message.
    Error(String),
    End,
    OpenPar,
    ClosedPar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
    Identifier(String),
}

impl Token {
    /// The text upstream quotes in "found '...'" messages.
    fn literal(&self) -> &str {
        match self {
            Token::Error(s) | Token::Identifier(s) => s,
            Token::End => "",
            Token::OpenPar => "(",
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::Not => "!",
            Token::DoubleEquals => "==",
            Token::Equals => "=",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::In => "in",
            Token::NotIn => "notin",
        }
    }

    /// Where a value or key may stand, `in` and `notin` are plain identifiers.
    fn as_value(&self) -> Token {
        match self {
            Token::In | Token::NotIn => Token::Identifier(self.literal().to_string()),
            other => other.clone(),
        }
    }
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn symbol(s: &str) -> Option<Token> {
    Some(match s {
        "(" => Token::OpenPar,
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::Not,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        "!=" => Token::NotEquals,
        ">" => Token::GreaterThan,
        "<" => Token::LessThan,
        _ => return None,
    })
}

fn lex(input: &str) -> Vec<Token> {
    let b = input.as_bytes();
    let mut pos = 0;
    let mut tokens = Vec::new();
    loop {
        while pos < b.len() && is_space(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            tokens.push(Token::End);
            return tokens;
        }
        if is_special(b[pos]) {
            // The longest run of symbols that still forms an operator.
            let start = pos;
            let mut best: Option<(Token, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                pos += 1;
                match symbol(&input[start..pos]) {
                    Some(t) => best = Some((t, pos)),
                    None if best.is_some() => {
                        pos -= 1;
                        break;
                    }
                    None => {}
                }
            }
            match best {
                Some((t, end)) => {
                    pos = end;
                    tokens.push(t);
                }
                None => tokens.push(Token::Error(format!(
                    "error expected: keyword found '{}'",
                    &input[start..pos]
                ))),
            }
        } else {
            let start = pos;
            while pos < b.len() && !is_special(b[pos]) && !is_space(b[pos]) {
                pos += 1;
            }
            tokens.push(match &input[start..pos] {
                "in" => Token::In,
                "notin" => Token::NotIn,
                word => Identifier(word.to_string()),
            });
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.tokens.get(self.pos).cloned().unwrap_or(Token::End)
    }
    fn next(&mut self) -> Token {
        let t = self.peek();
        self.pos += 1;
        t
    }
    fn peek_value(&self) -> Token {
        self.peek().as_value()
    }
    fn next_value(&mut self) -> Token {
        self.next().as_value()
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            match self.peek_value() {
                Identifier(_) | Token::Not => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    match self.next_value() {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let t = self.peek_value();
                            if !matches!(t, Identifier(_) | Token::Not) {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                ));
                            }
                        }
                        t => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            ))
                        }
                    }
                }
                Token::End => return Ok(requirements),
                t => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    ))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut negated = false;
        let mut t = self.next_value();
        if t == Token::Not {
            negated = true;
            t = self.next_value();
        }
        let Identifier(key) = t else {
            return Err(format!("found '{}', expected: identifier", t.literal()));
        };
        let key_errs = qualified_name_errors(&key);
        if !key_errs.is_empty() {
            // Upstream validates the key here with an empty field path.
            return Err(format!(": Invalid value: {key:?}: {}", key_errs.join("; ")));
        }
        let unary = matches!(self.peek_value(), Token::End | Token::Comma);
        // `!key` takes no operator; anything after it fails back in `parse`.
        if negated || unary {
            let op = if negated {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return Requirement::new(&key, op, Vec::new()).map_err(|e| e.to_string());
        }
        let op = match self.next() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            t => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.literal()
                ))
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        Requirement::new(&key, op, values.into_iter().collect()).map_err(|e| e.to_string())
    }

    fn value_set(&mut self) -> Result<BTreeSet<String>, String> {
        let t = self.next_value();
        if t != Token::OpenPar {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        match self.peek_value() {
            t @ (Identifier(_) | Token::Comma) => {
                let set = self.identifiers()?;
                if self.next_value() != Token::ClosedPar {
                    // Upstream quotes the token that opened the list here.
                    return Err(format!("found '{}', expected: ')'", t.literal()));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.next();
                Ok(BTreeSet::from([String::new()]))
            }
            t => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.literal()
            )),
        }
    }

    /// A comma-separated list of possibly empty values, up to (not including) `)`.
    fn identifiers(&mut self) -> Result<BTreeSet<String>, String> {
        let mut set = BTreeSet::new();
        loop {
            match self.next_value() {
                Identifier(v) => {
                    set.insert(v);
                    match self.peek_value() {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.peek_value() {
                        Token::ClosedPar => {
                            set.insert(String::new());
                            return Ok(set);
                        }
                        Token::Comma => {
                            self.next();
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                t => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        t.literal()
                    ))
                }
            }
        }
    }

    fn exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        if matches!(self.peek_value(), Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.next_value() {
            Identifier(v) => Ok(BTreeSet::from([v])),
            t => Err(format!("found '{}', expected: identifier", t.literal())),
        }
    }
}

/// Parses a label selector in upstream's string syntax (`?labelSelector=`): `a=b`, `a==b`,
/// `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, joined by `,` (AND).
/// The empty string selects everything.
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, SelectorError> {
    let mut parser = Parser {
        tokens: lex(s),
        pos: 0,
    };
    let requirements = parser.parse().map_err(SelectorError::Label)?;
    Ok(LabelSelector::from_requirements(requirements))
}
