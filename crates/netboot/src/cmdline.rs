//! Kernel command lines as Talos models them: an ordered list of keys, each with one or more
//! values, where repeated keys stay grouped at their first position (`console=tty0
//! console=ttyS0`). An empty value renders as a bare key (`slab_nomerge`).

/// One key and all its values, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Param {
    key: String,
    values: Vec<String>,
}

/// An ordered kernel command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<Param>,
}

impl Cmdline {
    /// Parses a command line: whitespace-separated `key=value` or bare `key` tokens; a value may
    /// be double-quoted to contain spaces (`a="b c"`). Never fails: odd input yields odd keys,
    /// which the kernel would ignore too.
    pub fn parse(text: &str) -> Cmdline {
        let mut c = Cmdline::default();
        for token in tokenize(text) {
            match token.split_once('=') {
                Some((k, v)) => c.push(k, v),
                None => c.push(&token, ""),
            }
        }
        c
    }

    /// Builds a command line from `key=value` items (as stored in an Environment).
    pub fn from_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Cmdline {
        let mut c = Cmdline::default();
        for a in args {
            c.append_arg(a);
        }
        c
    }

    /// Appends one `key=value` (or bare `key`) item, grouped with earlier values of its key.
    pub fn append_arg(&mut self, arg: &str) {
        match arg.split_once('=') {
            Some((k, v)) => self.push(k, v),
            None => self.push(arg, ""),
        }
    }

    /// Adds `value` to `key`, grouped with its earlier values (or at the end if new).
    pub fn push(&mut self, key: &str, value: &str) {
        // A lone `=` names nothing and would render as an empty word.
        if key.is_empty() && value.is_empty() {
            return;
        }
        match self.params.iter_mut().find(|p| p.key == key) {
            Some(p) => p.values.push(value.to_string()),
            None => self.params.push(Param {
                key: key.to_string(),
                values: vec![value.to_string()],
            }),
        }
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.params.iter().any(|p| p.key == key)
    }

    /// The values of `key`, in order.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.values.as_slice())
    }

    /// Applies `other` as overrides: every key of `other` replaces all values of that key in
    /// place; keys not present are appended in `other`'s order.
    pub fn apply_overrides(&mut self, other: &Cmdline) {
        for p in &other.params {
            match self.params.iter_mut().find(|q| q.key == p.key) {
                Some(q) => q.values = p.values.clone(),
                None => self.params.push(p.clone()),
            }
        }
    }

    /// The `key=value` items in order (bare keys without `=`).
    pub fn items(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|p| {
                p.values.iter().map(move |v| {
                    if v.is_empty() {
                        quote(&p.key)
                    } else {
                        format!("{}={}", quote(&p.key), quote(v))
                    }
                })
            })
            .collect()
    }
}

impl std::fmt::Display for Cmdline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.items().join(" "))
    }
}

/// Quotes a key or value that contains whitespace, so it parses back as one token.
fn quote(s: &str) -> String {
    if s.contains(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// Splits on whitespace outside double quotes and drops the quotes.
fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in text.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn groups_repeated_keys_at_first_position() {
        let c = Cmdline::parse("console=tty0 quiet console=ttyS0 panic=30");
        assert_eq!(c.to_string(), "console=tty0 console=ttyS0 quiet panic=30");
    }

    #[test]
    fn empty_values_render_bare() {
        let c = Cmdline::from_args(["slab_nomerge=", "pti=on", "sidero.mac="]);
        assert_eq!(c.to_string(), "slab_nomerge pti=on sidero.mac");
    }

    #[test]
    fn overrides_replace_in_place_and_append_new_keys() {
        let mut c = Cmdline::parse("console=tty0 console=ttyS0 panic=30 sidero.mac=aa");
        c.apply_overrides(&Cmdline::parse(
            "console=ttyS1,115200 talos.dashboard.disabled=1",
        ));
        assert_eq!(
            c.to_string(),
            "console=ttyS1,115200 panic=30 sidero.mac=aa talos.dashboard.disabled=1"
        );
    }

    #[test]
    fn quoted_values_survive() {
        let c = Cmdline::parse(r#"a="b c" d"#);
        assert_eq!(c.get("a").unwrap(), ["b c"]);
        assert_eq!(c.to_string(), r#"a="b c" d"#);
    }

    #[test]
    fn a_lone_equals_sign_is_dropped() {
        // Found by the property below: `=` followed by a non-ASCII space.
        let c = Cmdline::parse("=\u{a0}®");
        assert_eq!(c.to_string(), "®");
        assert_eq!(Cmdline::parse(&c.to_string()), c);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_reparses_to_itself(s in "\\PC{0,200}") {
            let c = Cmdline::parse(&s);
            let again = Cmdline::parse(&c.to_string());
            prop_assert_eq!(again.to_string(), c.to_string());
        }
    }
}
