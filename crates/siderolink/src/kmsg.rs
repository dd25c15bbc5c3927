//! Talos' kernel-log stream (spec §8.5): JSON objects separated by whitespace (Talos writes
//! one per line). [`Decoder`] turns bytes, in whatever chunks TCP delivers them, into objects,
//! and [`annotate`] renders one as the `serverlogs` line.
//!
//! Untrusted input: a record that is not a JSON object, is malformed, or grows past
//! [`Decoder::max_record`] is reported as [`Garbage`] and skipped up to the next newline, so
//! one bad line costs one record, not the connection. Memory is bounded by `max_record`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::annotation::Annotation;

/// Default largest record, in bytes (Talos' lines are far below 1 KiB).
pub const DEFAULT_MAX_RECORD: usize = 64 * 1024;

/// One decoded record: the JSON object Talos sent.
pub type Record = Map<String, Value>;

/// A record that was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// Malformed JSON (or truncated by a newline).
    Syntax(String),
    /// Valid JSON, but not an object.
    NotAnObject,
    /// Longer than the limit without completing.
    TooLong(usize),
    /// The stream ended inside a record.
    Truncated(usize),
}

impl std::fmt::Display for Garbage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Garbage::Syntax(e) => write!(f, "malformed JSON: {e}"),
            Garbage::NotAnObject => write!(f, "JSON value is not an object"),
            Garbage::TooLong(n) => write!(f, "record longer than {n} bytes"),
            Garbage::Truncated(n) => write!(f, "stream ended inside a record ({n} bytes)"),
        }
    }
}

/// Incremental decoder of one connection's stream.
///
/// Linear in the input: a small scanner follows strings and nesting over the new bytes only,
/// and a record is parsed once, when its closing brace arrives. (Re-parsing a growing buffer
/// would let a slow sender make each record cost quadratic time.)
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Syntax checks made at newlines inside the current record.
    line_checks: usize,
    /// Skipping the rest of a bad line: drop bytes up to the next newline.
    skipping: bool,
    max_record: usize,
}

/// Newlines inside one record at which the prefix is checked for a syntax error (a cut line),
/// bounding the work per record.
const MAX_LINE_CHECKS: usize = 32;

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(DEFAULT_MAX_RECORD)
    }
}

/// What the scanner found in the buffer.
enum Scan {
    /// A complete value ends at this offset.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
    /// The record is garbage.
    Bad(Garbage),
}

impl Decoder {
    /// A decoder refusing records longer than `max_record` bytes.
    pub fn new(max_record: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            line_checks: 0,
            skipping: false,
            max_record: max_record.max(1),
        }
    }

    /// The record size limit.
    pub fn max_record(&self) -> usize {
        self.max_record
    }

    /// Bytes held waiting for the rest of a record.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds `bytes`; every complete record (or skipped one) is passed to `out` in order.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut impl FnMut(Result<Record, Garbage>)) {
        while !bytes.is_empty() {
            if self.skipping {
                match bytes.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.skipping = false;
                        bytes = &bytes[i + 1..];
                    }
                    None => return,
                }
                continue;
            }
            // Take input up to the limit, so the buffer never exceeds max_record + 1.
            let room = self.max_record + 1 - self.buf.len().min(self.max_record);
            let n = room.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.drain(out);
            if self.buf.len() > self.max_record {
                out(Err(Garbage::TooLong(self.max_record)));
                self.skip_line();
            }
        }
    }

    /// The stream ended: reports a record left incomplete.
    pub fn finish(&mut self, out: &mut impl FnMut(Result<Record, Garbage>)) {
        self.drain(out);
        if !self.skipping && self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
            out(Err(Garbage::Truncated(self.buf.len())));
        }
        self.reset_scan();
        self.buf.clear();
        self.skipping = false;
    }

    fn reset_scan(&mut self) {
        self.scanned = 0;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.line_checks = 0;
    }

    /// Scans the unscanned bytes for the end of the record at the buffer start (which begins
    /// with a non-whitespace byte).
    fn scan(&mut self) -> Scan {
        if self.scanned == 0 {
            if self.buf.first() != Some(&b'{') {
                return Scan::Bad(Garbage::NotAnObject);
            }
            self.depth = 1;
            self.scanned = 1;
        }
        while self.scanned < self.buf.len() {
            let b = self.buf[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    // JSON strings hold no raw control characters: a newline here means the
                    // line was cut.
                    b'\n' => {
                        return Scan::Bad(Garbage::Syntax("newline inside a string".into()));
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'\n' if self.line_checks < MAX_LINE_CHECKS => {
                    // A record cut short is followed by the next line: catch it here rather
                    // than swallowing the following records.
                    self.line_checks += 1;
                    if let Err(e) = serde_json::from_slice::<Value>(&self.buf[..self.scanned])
                        && !e.is_eof()
                    {
                        return Scan::Bad(Garbage::Syntax(e.to_string()));
                    }
                }
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Scan::Complete(self.scanned);
                    }
                }
                _ => {}
            }
        }
        Scan::Incomplete
    }

    /// Emits every complete record at the front of the buffer.
    fn drain(&mut self, out: &mut impl FnMut(Result<Record, Garbage>)) {
        loop {
            if self.scanned == 0 {
                let start = self
                    .buf
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(self.buf.len());
                self.buf.drain(..start);
                if self.buf.is_empty() {
                    return;
                }
            }
            match self.scan() {
                Scan::Incomplete => return,
                Scan::Complete(end) => {
                    match serde_json::from_slice::<Record>(&self.buf[..end]) {
                        Ok(record) => out(Ok(record)),
                        Err(e) => out(Err(Garbage::Syntax(e.to_string()))),
                    }
                    self.buf.drain(..end);
                    self.reset_scan();
                }
                Scan::Bad(g) => {
                    out(Err(g));
                    self.skip_line();
                }
            }
        }
    }

    /// Drops the buffer up to and including its first newline; without one, drops it all
    /// and keeps skipping input until a newline arrives.
    fn skip_line(&mut self) {
        self.reset_scan();
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.buf.drain(..=i);
            }
            None => {
                self.buf.clear();
                self.skipping = true;
            }
        }
    }
}

/// The `serverlogs` line for `record` from a node with `annotation`: the record's fields plus
/// the non-empty annotation fields, keys sorted and HTML characters escaped (as upstream's Go
/// encoder writes them), no trailing newline.
pub fn annotate(record: Record, annotation: Option<&Annotation>) -> String {
    let mut sorted: BTreeMap<String, Value> = record.into_iter().collect();
    if let Some(a) = annotation {
        for (k, v) in a.fields() {
            sorted.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    go_escape(&serde_json::to_string(&sorted).unwrap_or_default())
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings. In JSON text
/// these characters only occur inside strings, so replacing them everywhere is exact.
fn go_escape(json: &str) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn decode_chunks(max: usize, chunks: &[&[u8]]) -> Vec<Result<Record, Garbage>> {
        let mut d = Decoder::new(max);
        let mut got = Vec::new();
        for c in chunks {
            d.push(c, &mut |r| got.push(r));
            assert!(d.buffered() <= max + 1);
        }
        d.finish(&mut |r| got.push(r));
        got
    }

    fn msgs(got: &[Result<Record, Garbage>]) -> Vec<String> {
        got.iter()
            .map(|r| match r {
                Ok(m) => m["msg"].as_str().unwrap_or("?").to_string(),
                Err(g) => format!(
                    "!{}",
                    match g {
                        Garbage::Syntax(_) => "syntax",
                        Garbage::NotAnObject => "notobject",
                        Garbage::TooLong(_) => "toolong",
                        Garbage::Truncated(_) => "truncated",
                    }
                ),
            })
            .collect()
    }

    #[test]
    fn decoding_table() {
        let rows: &[(&[&[u8]], &[&str])] = &[
            (&[b"{\"msg\":\"a\"}\n{\"msg\":\"b\"}\n"], &["a", "b"]),
            // Split anywhere, including inside strings and escapes.
            (
                &[b"{\"ms", b"g\":\"a\\", b"n\"}", b"\n{\"msg\":\"b\"}"],
                &["a\n", "b"],
            ),
            // Any whitespace separates, as with upstream's streaming decoder.
            (
                &[b"{\"msg\":\"a\"} {\"msg\":\"b\"}\r\n\t{\"msg\":\"c\"}"],
                &["a", "b", "c"],
            ),
            // A truncated line costs one record; the next line decodes.
            (&[b"{\"msg\":\"a\n{\"msg\":\"b\"}\n"], &["!syntax", "b"]),
            (&[b"{\"msg\": tru\n{\"msg\":\"b\"}\n"], &["!syntax", "b"]),
            (&[b"garbage\n{\"msg\":\"b\"}\n"], &["!notobject", "b"]),
            // Anything but an object costs its line.
            (
                &[b"[1,2]\n42 \"s\"\n{\"msg\":\"b\"}\n"],
                &["!notobject", "!notobject", "b"],
            ),
            // Braces inside strings do not end a record; escaped quotes do not end a string.
            (&[b"{\"msg\":\"}{\\\"}\"}\n"], &["}{\"}"]),
            // Balanced but invalid: one record lost, the next decodes.
            (&[b"{\"msg\" \"a\"}{\"msg\":\"b\"}"], &["!syntax", "b"]),
            // Objects may span lines (any whitespace separates, as upstream).
            (&[b"{\n  \"msg\": \"a\"\n}\n{\"msg\":\"b\"}"], &["a", "b"]),
            // Ends inside a record.
            (&[b"{\"msg\":\"a\"}\n{\"msg\":"], &["a", "!truncated"]),
            (&[b"   \n\n"], &[]),
            (&[b""], &[]),
        ];
        for (chunks, want) in rows {
            assert_eq!(msgs(&decode_chunks(1024, chunks)), *want, "{chunks:?}");
        }
    }

    #[test]
    fn huge_lines_are_skipped_with_bounded_memory() {
        let long = format!("{{\"msg\":\"{}\"}}\n", "x".repeat(5000));
        let input = [long.as_bytes(), b"{\"msg\":\"ok\"}\n"].concat();
        // Byte by byte and all at once give the same result.
        let singles: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(msgs(&decode_chunks(100, &singles)), ["!toolong", "ok"]);
        assert_eq!(msgs(&decode_chunks(100, &[&input])), ["!toolong", "ok"]);
        // An endless line without newline never grows the buffer past the limit.
        let mut d = Decoder::new(100);
        let mut n = 0;
        for _ in 0..1000 {
            d.push(&[b'{'; 64], &mut |_| n += 1);
            assert!(d.buffered() <= 101);
        }
        assert!(n >= 1);
    }

    proptest::proptest! {
        /// The records found do not depend on how TCP splits the stream.
        #[test]
        fn chunking_does_not_change_the_result(
            input in proptest::collection::vec(
                proptest::sample::select(b"{}[]\"\\:, \n\tab1".to_vec()), 0..400),
            cut in 1usize..40,
            max in 8usize..200,
        ) {
            let whole = decode_chunks(max, &[&input]);
            let pieces: Vec<&[u8]> = input.chunks(cut).collect();
            proptest::prop_assert_eq!(decode_chunks(max, &pieces), whole);
        }
    }

    #[test]
    fn annotated_lines_have_sorted_keys() {
        let mut d = Decoder::default();
        let mut recs = Vec::new();
        d.push(
            br#"{"msg":"[talos] phase mountState (6/13): 1 tasks(s)\n","talos-time":"2022-02-11T12:42:02.74807823Z","talos-level":"warn","facility":"user","priority":"warning","seq":665,"clock":8576583}"#,
            &mut |r| recs.push(r.unwrap()),
        );
        d.finish(&mut |r| recs.push(r.unwrap()));
        let a = Annotation {
            server_uuid: "6b121f82-24a8-4611-9d23-fa1a5ba564f0".into(),
            namespace: "default".into(),
            cluster: "management-cluster".into(),
            metal_machine: "management-cluster-cp-vrff4".into(),
            machine: "management-cluster-cp-ddgsw".into(),
        };
        // The docs' example line, byte for byte.
        assert_eq!(
            annotate(recs[0].clone(), Some(&a)),
            r#"{"clock":8576583,"cluster":"management-cluster","facility":"user","machine":"management-cluster-cp-ddgsw","metal_machine":"management-cluster-cp-vrff4","msg":"[talos] phase mountState (6/13): 1 tasks(s)\n","namespace":"default","priority":"warning","seq":665,"server_uuid":"6b121f82-24a8-4611-9d23-fa1a5ba564f0","talos-level":"warn","talos-time":"2022-02-11T12:42:02.74807823Z"}"#
        );
        // Go's encoder escapes HTML characters; the line still parses to the same text.
        let mut r = Record::new();
        r.insert("msg".into(), Value::String("<6>a & b\u{2028}".into()));
        let line = annotate(r, None);
        assert_eq!(line, r#"{"msg":"\u003c6\u003ea \u0026 b\u2028"}"#);
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["msg"], "<6>a & b\u{2028}");
        // Unknown source: printed without annotations.
        assert!(!annotate(recs[0].clone(), None).contains("server_uuid"));
    }
}
