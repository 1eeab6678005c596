//! Values printed as Go's `%v` prints decoded JSON, because upstream's patch errors embed
//! maps and lists that way (`map: map[image:nginx] does not contain declared merge key: name`).

use serde_json::Value;

pub(crate) fn go_fmt(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Go prints map keys sorted.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write(&map[k.as_str()], out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::go_fmt;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        let cases = [
            (json!({"name": "a", "image": "x"}), "map[image:x name:a]"),
            (
                json!([{"b": 1}, "s", null, true]),
                "[map[b:1] s <nil> true]",
            ),
            (json!({}), "map[]"),
        ];
        for (v, want) in cases {
            assert_eq!(go_fmt(&v), want);
        }
    }
}
