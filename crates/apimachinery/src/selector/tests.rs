//! Data-driven cases for label and field selectors.

use serde_json::{json, Map, Value};

use super::{parse_field_selector, parse_label_selector, FieldOperator, LabelSelector};

const NAME_PART_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn label_selector_parses_to_upstream_string_form() {
    // (input, the parsed selector printed back as upstream prints it)
    let cases = [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a in (x,y)", "a in (x,y)"),
        ("a notin (x)", "a notin (x)"),
        ("a", "a"),
        ("!a", "!a"),
        ("a>1", "a>1"),
        ("a<10", "a<10"),
        ("a=", "a="),
        ("  a = b ,  c in ( y , x )  ", "a=b,c in (x,y)"),
        ("z=1,a", "a,z=1"),
        (
            "x in (foo,,baz),y,z notin ()",
            "x in (,baz,foo),y,z notin ()",
        ),
        ("in in (in),notin", "in in (in),notin"),
        (
            "app.kubernetes.io/name=web,!example.com/canary",
            "app.kubernetes.io/name=web,!example.com/canary",
        ),
    ];
    for (input, want) in cases {
        let sel = parse_label_selector(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.to_string(), want, "input {input:?}");
        assert_eq!(sel.is_empty(), want.is_empty(), "input {input:?}");
    }
}

#[test]
fn label_selector_parse_errors() {
    let invalid_key =
        format!("unable to parse requirement: : Invalid value: \"-a\": {NAME_PART_ERR}");
    let invalid_value = format!(
        "unable to parse requirement: values[0][a]: Invalid value: \"-b\": {LABEL_VALUE_ERR}"
    );
    let cases: Vec<(&str, String)> = vec![
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("a=b,", "found '', expected: identifier after ','".into()),
        (",a", "found ',', expected: !, identifier, or 'end of string'".into()),
        ("a in x", "unable to parse requirement: found 'x' expected: '('".into()),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'".into()),
        ("!a=b", "found '=', expected: ',' or 'end of string'".into()),
        ("a=b=c", "found '=', expected: ',' or 'end of string'".into()),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
                .into(),
        ),
        ("-a=b", invalid_key),
        ("a=-b", invalid_value),
    ];
    for (input, want) in cases {
        let got = parse_label_selector(input)
            .map(|s| s.to_string())
            .map_err(|e| e.to_string());
        assert_eq!(got, Err(want), "input {input:?}");
    }
}

fn labels() -> Map<String, Value> {
    match json!({"app": "web", "tier": "fe", "n": "5"}) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn label_selector_matches() {
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("app!=db", true),
        ("missing!=x", true),
        ("app in (web,db)", true),
        ("app notin (web)", false),
        ("missing notin (x)", true),
        ("missing in (x)", false),
        ("app", true),
        ("!app", false),
        ("!missing", true),
        ("n>4", true),
        ("n<4", false),
        ("app>1", false),
        ("missing<9", false),
        ("app=web,tier=be", false),
        ("app=web,tier=fe", true),
    ];
    for (input, want) in cases {
        let sel = parse_label_selector(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.matches(&labels()), want, "selector {input:?}");
    }
    assert!(parse_label_selector("!x").is_ok_and(|s| s.matches(&Map::new())));
}

#[test]
fn label_selector_from_object() {
    // (metav1.LabelSelector, printed selector or error)
    let cases: Vec<(Value, Result<&str, String>)> = vec![
        (json!({}), Ok("")),
        (json!({"matchLabels": {}, "matchExpressions": []}), Ok("")),
        (
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
            Ok("app=web,tier in (be,fe)"),
        ),
        (
            json!({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}, {"key": "a", "operator": "Exists"}, {"key": "c", "operator": "NotIn", "values": ["x"]}]}),
            Ok("a,!b,c notin (x)"),
        ),
        (json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}), Err("\"Foo\" is not a valid label selector operator".into())),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            Err("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty".into()),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            Err("values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist".into()),
        ),
        (json!({"matchLabels": {"-a": "x"}}), Err(format!("key: Invalid value: \"-a\": {NAME_PART_ERR}"))),
        (
            json!({"matchLabels": {"a": "-x"}}),
            Err(format!("values[0][a]: Invalid value: \"-x\": {LABEL_VALUE_ERR}")),
        ),
        (
            json!({"matchLabels": {"/a": "x"}}),
            Err("key: Invalid value: \"/a\": prefix part must be non-empty".into()),
        ),
    ];
    for (obj, want) in cases {
        let got = LabelSelector::from_object(&obj).map_err(|e| e.to_string());
        assert_eq!(
            got.map(|s| s.to_string()),
            want.map(str::to_string),
            "selector {obj}"
        );
    }

    let nothing = LabelSelector::from_object(&Value::Null).expect("null selector");
    assert!(!nothing.matches(&labels()) && !nothing.is_empty() && nothing.is_nothing());
    let everything = LabelSelector::from_object(&json!({})).expect("empty selector");
    assert!(
        everything.matches(&labels()) && everything.matches(&Map::new()) && everything.is_empty()
    );
    let sel =
        LabelSelector::from_object(&json!({"matchLabels": {"app": "web"}})).expect("selector");
    assert!(sel.matches(&labels()) && !sel.matches(&Map::new()));
}

/// (input, parsed (field, operator, value) terms or the error)
type FieldCase = (
    &'static str,
    Result<Vec<(&'static str, FieldOperator, &'static str)>, &'static str>,
);

#[test]
fn field_selector_parses() {
    use FieldOperator::{Equals, NotEquals};
    let cases: Vec<FieldCase> = vec![
        ("", Ok(vec![])),
        (
            "status.phase!=Running,metadata.name=foo",
            Ok(vec![
                ("metadata.name", Equals, "foo"),
                ("status.phase", NotEquals, "Running"),
            ]),
        ),
        ("a==b", Ok(vec![("a", Equals, "b")])),
        ("a!=", Ok(vec![("a", NotEquals, "")])),
        (r"a=x\,y", Ok(vec![("a", Equals, "x,y")])),
        (r"a=x\=y\\z", Ok(vec![("a", Equals, r"x=y\z")])),
        (
            "a=b, c=d",
            Ok(vec![(" c", Equals, "d"), ("a", Equals, "b")]),
        ),
        ("a=b,,", Ok(vec![("a", Equals, "b")])),
        ("a", Err("invalid selector: 'a'; can't understand 'a'")),
        (
            "a=b,c",
            Err("invalid selector: 'a=b,c'; can't understand 'c'"),
        ),
        (
            "a=b=c",
            Err("invalid field selector: unescaped character in value: 61"),
        ),
        (
            r"a=b\x",
            Err(r"invalid field selector: invalid escape sequence: \x"),
        ),
        (
            r"a=b\",
            Err(r"invalid field selector: invalid escape sequence: \"),
        ),
    ];
    for (input, want) in cases {
        let got = parse_field_selector(input)
            .map_err(|e| e.to_string())
            .map(|s| {
                s.requirements()
                    .iter()
                    .map(|r| (r.field.clone(), r.operator, r.value.clone()))
                    .collect::<Vec<_>>()
            });
        let want = want
            .map(|v| {
                v.into_iter()
                    .map(|(f, o, val)| (f.to_string(), o, val.to_string()))
                    .collect::<Vec<_>>()
            })
            .map_err(str::to_string);
        assert_eq!(got, want, "input {input:?}");
    }
}

#[test]
fn field_selector_matches_and_prints() {
    let lookup = |f: &str| match f {
        "metadata.name" => Some("foo".to_string()),
        "status.phase" => Some("Pending".to_string()),
        _ => None,
    };
    let cases = [
        ("", true),
        ("metadata.name=foo", true),
        ("metadata.name=bar", false),
        ("status.phase!=Running", true),
        ("metadata.name=foo,status.phase=Running", false),
        ("spec.nodeName=", true),
        ("spec.nodeName!=", false),
    ];
    for (input, want) in cases {
        let sel = parse_field_selector(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.matches(lookup), want, "selector {input:?}");
    }
    let sel = parse_field_selector(r"metadata.name==a\,b,spec.x!=y").expect("selector");
    assert_eq!(sel.to_string(), r"metadata.name=a\,b,spec.x!=y");
    assert_eq!(sel.requires_exact_match("metadata.name"), Some("a,b"));
    assert_eq!(sel.requires_exact_match("spec.x"), None);
}
