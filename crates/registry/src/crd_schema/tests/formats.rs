//! String formats.

use super::*;
use expect_test::expect;

#[test]
fn formats() {
    let cases: &[(&str, &[&str])] = &[
        (
            "date-time",
            &[
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00.5+01:00",
                "2024-01-01 10:00",
                "2024-01-01",
                "noon",
            ],
        ),
        ("date", &["2024-02-29", "2023-02-29", "2024-1-1"]),
        (
            "duration",
            &["1h30m", "-1.5s", "0", "3 days", "10 seconds", "5", "1x"],
        ),
        (
            "uuid",
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "123E4567E89B12D3A456426614174000",
                "nope",
            ],
        ),
        (
            "uuid4",
            &[
                "123e4567-e89b-42d3-a456-426614174000",
                "123e4567-e89b-12d3-a456-426614174000",
            ],
        ),
        ("ipv4", &["10.0.0.1", "10.0.0.256"]),
        ("ipv6", &["::1", "1::2::3"]),
        ("cidr", &["10.0.0.0/8", "::/0", "10.0.0.0/33", "10.0.0.0"]),
        (
            "mac",
            &[
                "00:1a:2b:3c:4d:5e",
                "00-1A-2B-3C-4D-5E",
                "001a.2b3c.4d5e",
                "00:1a",
            ],
        ),
        ("byte", &["aGVsbG8=", "not base64!"]),
        ("hostname", &["example.com", "-bad.com", "a_b"]),
        (
            "uri",
            &["https://example.com/x", "/abs/path", "relative/path"],
        ),
        ("email", &["a@b.c", "Name <a@b.c>", "nope"]),
        ("hexcolor", &["#fff", "A0B1C2", "#ggg"]),
        ("rgbcolor", &["rgb(255, 0, 10)", "rgb(256,0,0)"]),
        ("isbn", &["0321751043", "978-0321751041", "0321751044"]),
        ("creditcard", &["4111 1111 1111 1111", "1234"]),
        ("ssn", &["123-45-6789", "12-345-6789"]),
        ("password", &["anything"]),
        ("unknown-format", &["anything"]),
    ];
    let mut out = String::new();
    for (fmt, values) in cases {
        let verdicts: Vec<String> = values
            .iter()
            .map(|v| {
                format!(
                    "{v:?}={}",
                    if format::is_valid(fmt, v) {
                        "ok"
                    } else {
                        "bad"
                    }
                )
            })
            .collect();
        out.push_str(&format!("{fmt}: {}\n", verdicts.join(" ")));
    }
    expect![[r##"
        date-time: "2024-01-01T00:00:00Z"=ok "2024-01-01T00:00:00.5+01:00"=ok "2024-01-01 10:00"=ok "2024-01-01"=bad "noon"=bad
        date: "2024-02-29"=ok "2023-02-29"=bad "2024-1-1"=bad
        duration: "1h30m"=ok "-1.5s"=ok "0"=ok "3 days"=ok "10 seconds"=ok "5"=bad "1x"=bad
        uuid: "123e4567-e89b-12d3-a456-426614174000"=ok "123E4567E89B12D3A456426614174000"=ok "nope"=bad
        uuid4: "123e4567-e89b-42d3-a456-426614174000"=ok "123e4567-e89b-12d3-a456-426614174000"=bad
        ipv4: "10.0.0.1"=ok "10.0.0.256"=bad
        ipv6: "::1"=ok "1::2::3"=bad
        cidr: "10.0.0.0/8"=ok "::/0"=ok "10.0.0.0/33"=bad "10.0.0.0"=bad
        mac: "00:1a:2b:3c:4d:5e"=ok "00-1A-2B-3C-4D-5E"=ok "001a.2b3c.4d5e"=ok "00:1a"=bad
        byte: "aGVsbG8="=ok "not base64!"=bad
        hostname: "example.com"=ok "-bad.com"=bad "a_b"=bad
        uri: "https://example.com/x"=ok "/abs/path"=ok "relative/path"=bad
        email: "a@b.c"=ok "Name <a@b.c>"=ok "nope"=bad
        hexcolor: "#fff"=ok "A0B1C2"=ok "#ggg"=bad
        rgbcolor: "rgb(255, 0, 10)"=ok "rgb(256,0,0)"=bad
        isbn: "0321751043"=ok "978-0321751041"=ok "0321751044"=bad
        creditcard: "4111 1111 1111 1111"=ok "1234"=bad
        ssn: "123-45-6789"=ok "12-345-6789"=bad
        password: "anything"=ok
        unknown-format: "anything"=ok
    "##]]
    .assert_eq(&out);
}
