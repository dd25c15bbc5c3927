//! Readable forms of the `serverlogs` and `serverevents` JSON lines, for people (`sideroctl
//! logs`): `<time> <facility>.<priority> <message>` and `<time> <event type> <field>=<value> …`.
//!
//! The lines carry what a node sent, so every output has its control characters escaped: a
//! kernel message cannot drive the operator's terminal.

use serde_json::{Map, Value};

/// Replaces control characters (ESC, CR, BEL, …) and bidirectional overrides by visible
/// escapes; keeps tabs.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(c),
            '\n' => out.push_str("\\n"),
            // C0/C1 controls, and the bidirectional overrides that reorder what is shown.
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `2026-11-25T12:00:00.000000001Z` → `2026-11-25T12:00:00.000Z` (fraction cut to ms; other
/// shapes are printed as they are).
fn short_time(t: &str) -> String {
    // `get`, not indexing: the node controls the text, and a multi-byte character there must
    // not split (found by the `readable_lines` fuzz target).
    match (t.find('.'), t.strip_suffix('Z')) {
        (Some(dot), Some(_)) => match t.get(..dot + 4) {
            Some(head) => format!("{head}Z"),
            None => t.to_string(),
        },
        _ => t.to_string(),
    }
}

fn lagged(m: &Map<String, Value>) -> Option<String> {
    let n = m.get("lagged")?.as_u64()?;
    (m.len() == 1).then(|| format!("... {n} lines skipped (this reader fell behind)"))
}

/// A `serverlogs` line as `<time> <facility>.<priority> <message>`; anything that is not a
/// JSON object is shown escaped as it is.
pub fn format_log(line: &str) -> String {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) else {
        return escape_controls(line);
    };
    if let Some(l) = lagged(&m) {
        return l;
    }
    let time = str_of(&m, "talos-time").map(short_time).unwrap_or_default();
    let level = match (str_of(&m, "facility"), str_of(&m, "priority")) {
        (Some(f), Some(p)) => format!("{f}.{p}"),
        (None, Some(p)) | (Some(p), None) => p.to_string(),
        (None, None) => str_of(&m, "talos-level").unwrap_or("-").to_string(),
    };
    let msg = m
        .get("msg")
        .map(|v| match v {
            Value::String(s) => s.trim_end_matches('\n').to_string(),
            v => v.to_string(),
        })
        .unwrap_or_default();
    escape_controls(&format!("{time} {level:<13} {msg}"))
}

/// Keys of a `serverevents` line that are not the event's own fields.
const EVENT_ENVELOPE: [&str; 12] = [
    "level",
    "ts",
    "msg",
    "component",
    "node",
    "id",
    "type",
    "server_uuid",
    "cluster",
    "namespace",
    "metal_machine",
    "machine",
];

/// A `serverevents` line as `<time> <event type> <field>=<value> …`.
pub fn format_event(line: &str) -> String {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) else {
        return escape_controls(line);
    };
    if let Some(l) = lagged(&m) {
        return l;
    }
    let time = m
        .get("ts")
        .and_then(Value::as_f64)
        .map(|ts| rfc3339_millis((ts * 1000.0) as i64))
        .unwrap_or_default();
    let kind = str_of(&m, "type")
        .map(|t| t.rsplit(['.', '/']).next().unwrap_or(t))
        .unwrap_or("-");
    let mut fields = Vec::new();
    for (k, v) in &m {
        if EVENT_ENVELOPE.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        let v = match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        fields.push(format!("{k}={v}"));
    }
    escape_controls(&format!("{time} {kind:<13} {}", fields.join(" ")))
}

/// `ms` milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn short_time_cuts_to_milliseconds_and_never_splits_a_character() {
        assert_eq!(
            short_time("2026-11-25T12:00:00.000000001Z"),
            "2026-11-25T12:00:00.000Z"
        );
        assert_eq!(short_time("12:00:00.5Z"), "12:00:00.5Z");
        assert_eq!(short_time("no fraction Z"), "no fraction Z");
        // The fuzz finding: a multi-byte character where the cut falls.
        let odd = "2022-02-.1T\u{b6}2:42:02.74Z";
        assert_eq!(short_time(odd), odd);
        let line = format!(r#"{{"msg":"x","talos-time":"{odd}"}}"#);
        assert!(format_log(&line).contains("x"));
    }

    #[test]
    fn times() {
        let rows = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_764_072_000_500, "2025-11-25T12:00:00.500Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in rows {
            assert_eq!(rfc3339_millis(ms), want, "{ms}");
        }
    }

    #[test]
    fn log_lines_table() {
        let rows = [
            (
                r#"{"clock":8576583,"cluster":"c","facility":"user","msg":"[talos] phase mountState (6/13): 1 tasks(s)\n","priority":"warning","seq":665,"server_uuid":"u","talos-level":"warn","talos-time":"2022-02-11T12:42:02.74807823Z"}"#,
                "2022-02-11T12:42:02.748Z user.warning  [talos] phase mountState (6/13): 1 tasks(s)",
            ),
            (
                r#"{"msg":"no time","talos-level":"info"}"#,
                " info          no time",
            ),
            (
                r#"{"msg":"\u001b[31mred\u0007","facility":"kern","priority":"err","talos-time":"x"}"#,
                "x kern.err      \\u{1b}[31mred\\u{7}",
            ),
            (
                r#"{"lagged":42}"#,
                "... 42 lines skipped (this reader fell behind)",
            ),
            ("not json \u{1b}", "not json \\u{1b}"),
            ("[1,2]", "[1,2]"),
        ];
        for (line, want) in rows {
            assert_eq!(format_log(line), want, "{line}");
        }
    }

    #[test]
    fn event_lines_table() {
        let line = r#"{"level":"info","ts":1764072000.5,"msg":"incoming event","component":"sink","node":"[fd00::2]:5000","id":"x","type":"type.googleapis.com/machine.AddressEvent","server_uuid":"u","hostname":"talos-1","addresses":["10.5.0.7"]}"#;
        assert_eq!(
            format_event(line),
            "2025-11-25T12:00:00.500Z AddressEvent  addresses=[\"10.5.0.7\"] hostname=talos-1"
        );
        let line = r#"{"ts":1764072000,"type":"type.googleapis.com/machine.PhaseEvent","phase":"install","action":"STOP","error":null}"#;
        assert_eq!(
            format_event(line),
            "2025-11-25T12:00:00.000Z PhaseEvent    action=STOP phase=install"
        );
        assert_eq!(format_event("garbage"), "garbage");
    }
}
