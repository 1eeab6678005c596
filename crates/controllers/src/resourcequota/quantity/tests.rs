use super::*;

#[test]
fn sums_in_canonical_form() {
    // addends → canonical sum
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "0"),
        (vec!["100m", "200m"], "300m"),
        (vec!["1", "500m"], "1500m"),
        (vec!["500m", "500m"], "1"),
        (vec!["1", "1"], "2"),
        (vec!["1500", "500"], "2k"),
        (vec!["64Mi", "128Mi"], "192Mi"),
        (vec!["512Mi", "512Mi"], "1Gi"),
        (vec!["1Gi", "100M"], "1173741824"),
        (vec!["100M", "1Gi"], "1173741824"),
        (vec!["1G", "1G"], "2G"),
        (vec!["0.5"], "500m"),
        (vec!["1Ki", "1"], "1025"),
    ];
    for (addends, want) in cases {
        let mut s = Sum::default();
        for a in &addends {
            s.add_str(a);
        }
        assert_eq!(s.canonical(), want, "{addends:?}");
    }
    assert_eq!(Sum::count(3).canonical(), "3");
    assert_eq!(Sum::count(2000).canonical(), "2k");
}
