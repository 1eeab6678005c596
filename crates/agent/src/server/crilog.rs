//! The CRI log format containerd writes (`<RFC3339Nano time> <stdout|stderr> <P|F> <text>`,
//! one record a line) turned into what `kubectl logs` prints: partial records (`P`) are
//! joined with the rest of their line, and the kubelet's options (tail, since, timestamps,
//! byte limit) apply to whole lines.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One record of a log file.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub text: &'a [u8],
}

/// Parses one line (without its newline). Lines that are not records are skipped, as the
/// kubelet skips what it cannot parse.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let tag = parts.next()?;
    let text = parts.next().unwrap_or_default();
    // The tag may carry more than P/F (`F:extra`); its first letter decides.
    let partial = tag.first() == Some(&b'P');
    Some(Record {
        time,
        stream,
        partial,
        text,
    })
}

/// The options of a log request that shape its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub tail_lines: Option<usize>,
    pub since: Option<OffsetDateTime>,
    pub timestamps: bool,
    pub limit_bytes: Option<u64>,
}

impl Options {
    /// From the kubelet's query parameters (`tailLines`, `sinceSeconds`, `sinceTime`,
    /// `timestamps`, `limitBytes`); `now` anchors `sinceSeconds`.
    pub fn from_query(q: &[(String, String)], now: OffsetDateTime) -> Options {
        let get = |k: &str| q.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
        let truthy = |k: &str| get(k).is_some_and(|v| v == "true" || v == "1");
        let since_seconds = get("sinceSeconds")
            .and_then(|v| v.parse::<i64>().ok())
            .map(|s| now - time::Duration::seconds(s));
        let since_time = get("sinceTime").and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok());
        Options {
            tail_lines: get("tailLines")
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .map(|n| n as usize),
            since: since_seconds.or(since_time),
            timestamps: truthy("timestamps"),
            limit_bytes: get("limitBytes")
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .map(|n| n as u64),
        }
    }
}

/// A complete line of output: its first record's time and its joined text with newline.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Line {
    pub time: String,
    pub text: Vec<u8>,
}

/// Joins records into lines. A partial record waits for the rest of its line on the same
/// stream; stdout and stderr interleave freely, so each has its own pending text.
#[derive(Default)]
pub struct Joiner {
    pending: [Option<Line>; 2],
}

impl Joiner {
    pub fn push(&mut self, r: &Record<'_>) -> Option<Line> {
        let slot = &mut self.pending[usize::from(r.stream == "stderr")];
        let mut line = slot.take().unwrap_or_else(|| Line {
            time: r.time.to_string(),
            text: Vec::new(),
        });
        line.text.extend_from_slice(r.text);
        if r.partial {
            *slot = Some(line);
            None
        } else {
            line.text.push(b'\n');
            Some(line)
        }
    }
}

impl Joiner {
    /// What is still pending once the writer is done (a container that exited without a
    /// final newline): printed as it is, as the kubelet does.
    pub fn finish(&mut self) -> Vec<Line> {
        let mut out: Vec<Line> = self.pending.iter_mut().filter_map(Option::take).collect();
        out.sort_by(|a, b| a.time.cmp(&b.time));
        out
    }
}

/// Every complete line of `content` (whole file lines only; a trailing fragment without a
/// newline is left for the next read and its length returned).
pub fn lines(content: &[u8], joiner: &mut Joiner) -> (Vec<Line>, usize) {
    let mut out = Vec::new();
    let mut consumed = 0;
    while let Some(nl) = content[consumed..].iter().position(|b| *b == b'\n') {
        let raw = &content[consumed..consumed + nl];
        consumed += nl + 1;
        if let Some(line) = parse(raw).and_then(|r| joiner.push(&r)) {
            out.push(line);
        }
    }
    (out, consumed)
}

fn parse_time(t: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// Applies `since` and `tail_lines` to the lines already in the file.
pub fn select(lines: Vec<Line>, opts: &Options) -> Vec<Line> {
    let mut lines: Vec<Line> = match opts.since {
        Some(since) => lines
            .into_iter()
            .filter(|l| parse_time(&l.time).is_none_or(|t| t >= since))
            .collect(),
        None => lines,
    };
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    lines
}

/// Writes lines as output bytes and counts them against `limit_bytes`.
pub struct Writer {
    pub timestamps: bool,
    pub since: Option<OffsetDateTime>,
    pub left: Option<u64>,
}

impl Writer {
    pub fn new(opts: &Options) -> Writer {
        Writer {
            timestamps: opts.timestamps,
            since: opts.since,
            left: opts.limit_bytes,
        }
    }

    /// The byte limit has been reached: nothing more will be written.
    pub fn done(&self) -> bool {
        self.left == Some(0)
    }

    /// The bytes of `line` to send (the limit may cut it short).
    pub fn render(&mut self, line: &Line) -> Vec<u8> {
        if let Some(since) = self.since {
            if parse_time(&line.time).is_some_and(|t| t < since) {
                return Vec::new();
            }
        }
        let mut out = Vec::with_capacity(line.text.len() + 32);
        if self.timestamps {
            out.extend_from_slice(line.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&line.text);
        if let Some(left) = self.left.as_mut() {
            let n = (*left).min(out.len() as u64);
            out.truncate(n as usize);
            *left -= n;
        }
        out
    }
}

/// The output for a whole file read at once (no follow).
pub fn render_all(content: &[u8], opts: &Options) -> Vec<u8> {
    let mut joiner = Joiner::default();
    let (mut lines, _) = lines(content, &mut joiner);
    lines.extend(joiner.finish());
    let mut w = Writer::new(opts);
    let mut out = Vec::new();
    for l in select(lines, opts) {
        if w.done() {
            break;
        }
        out.extend(w.render(&l));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const FILE: &str = "\
2026-12-05T09:00:00.000000001Z stdout F one
2026-12-05T09:00:01.5Z stderr F two
2026-12-05T09:00:02Z stdout P thr
2026-12-05T09:00:02.1Z stderr F err-between
2026-12-05T09:00:02.2Z stdout P e
2026-12-05T09:00:02.3Z stdout F e!
garbage line
2026-12-05T09:00:03Z stdout F 
2026-12-05T09:00:04Z stdout F last
2026-12-05T09:00:05Z stdout P no newline yet";

    fn q(pairs: &[(&str, &str)]) -> Options {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::from_query(&pairs, datetime!(2026-12-05 09:00:10 UTC))
    }

    #[test]
    fn a_last_partial_record_is_printed_as_it_is() {
        let content =
            b"2026-12-05T09:00:00Z stdout F first\n2026-12-05T09:00:01Z stdout P written-by-db\n";
        let out = render_all(content, &q(&[]));
        assert_eq!(String::from_utf8_lossy(&out), "first\nwritten-by-db");
    }

    #[test]
    fn renders() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "one\ntwo\nerr-between\nthree!\n\nlast\n"),
            (&[("tailLines", "2")], "\nlast\n"),
            (&[("tailLines", "0")], ""),
            (
                &[("tailLines", "100")],
                "one\ntwo\nerr-between\nthree!\n\nlast\n",
            ),
            (&[("sinceSeconds", "8")], "err-between\nthree!\n\nlast\n"),
            (
                &[("sinceTime", "2026-12-05T09:00:01.5Z")],
                "two\nerr-between\nthree!\n\nlast\n",
            ),
            (
                &[("timestamps", "true"), ("tailLines", "3")],
                "2026-12-05T09:00:02Z three!\n2026-12-05T09:00:03Z \n2026-12-05T09:00:04Z last\n",
            ),
            (&[("limitBytes", "6")], "one\ntw"),
            (&[("limitBytes", "4"), ("tailLines", "1")], "last"),
            (&[("sinceSeconds", "1")], ""),
        ];
        for (query, want) in cases {
            let got = render_all(FILE.as_bytes(), &q(query));
            assert_eq!(String::from_utf8_lossy(&got), *want, "{query:?}");
        }
    }

    #[test]
    fn parses_records() {
        type Want<'a> = Option<(&'a str, &'a str, bool, &'a str)>;
        let cases: &[(&str, Want)] = &[
            (
                "2026-12-05T09:00:00Z stdout F hello world",
                Some(("2026-12-05T09:00:00Z", "stdout", false, "hello world")),
            ),
            (
                "2026-12-05T09:00:00Z stderr P part",
                Some(("2026-12-05T09:00:00Z", "stderr", true, "part")),
            ),
            (
                "2026-12-05T09:00:00Z stdout F",
                Some(("2026-12-05T09:00:00Z", "stdout", false, "")),
            ),
            ("2026-12-05T09:00:00Z journal F x", None),
            ("nonsense", None),
        ];
        for (line, want) in cases {
            let got = parse(line.as_bytes()).map(|r| {
                (
                    r.time,
                    r.stream,
                    r.partial,
                    std::str::from_utf8(r.text).unwrap_or("?"),
                )
            });
            assert_eq!(got, *want, "{line}");
        }
    }

    #[test]
    fn incremental_reads_keep_fragments() {
        let mut j = Joiner::default();
        let (ls, used) = lines(
            b"2026-12-05T09:00:00Z stdout P ab\n2026-12-05T09:00",
            &mut j,
        );
        assert!(ls.is_empty());
        assert_eq!(used, 33);
        let (ls, _) = lines(b"2026-12-05T09:00:01Z stdout F cd\n", &mut j);
        assert_eq!(
            ls,
            vec![Line {
                time: "2026-12-05T09:00:00Z".into(),
                text: b"abcd\n".to_vec()
            }]
        );
    }
}
