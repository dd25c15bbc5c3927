//! Multi-document YAML configs and the identity of a document.

use serde_json::{Map, Value};

use crate::Error;

/// Upper bounds for parsing: configs and patches come from objects users write.
const MAX_DOCUMENTS: usize = 256;
const MAX_BYTES: usize = 4 << 20;

/// A machine config: its documents in order. Each document is a YAML mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The documents, in the order they are rendered.
    pub docs: Vec<Map<String, Value>>,
}

/// How documents are matched when merging (Talos: `(apiVersion, kind, name)`; the legacy
/// machine config document has no `kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocId {
    /// The `v1alpha1` machine config (a document without `kind`).
    MachineConfig,
    /// A typed document.
    Typed {
        /// `apiVersion`.
        api_version: String,
        /// `kind`.
        kind: String,
        /// `name`, empty for singleton kinds.
        name: String,
    },
}

impl DocId {
    /// The identity of a document.
    pub fn of(doc: &Map<String, Value>) -> DocId {
        let text = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match doc.get("kind").and_then(Value::as_str) {
            None => DocId::MachineConfig,
            Some(kind) => DocId::Typed {
                api_version: text("apiVersion"),
                kind: kind.to_owned(),
                name: text("name"),
            },
        }
    }
}

/// True when the text holds more than one document, by upstream's rule (it contains `---\n`).
pub fn is_multi_document(text: &str) -> bool {
    text.contains("---\n")
}

/// Parses YAML text into values, one per document (empty documents are dropped).
pub(crate) fn parse_values(text: &str) -> Result<Vec<Value>, Error> {
    if text.len() > MAX_BYTES {
        return Err(Error::Yaml(format!(
            "{} bytes exceed the {MAX_BYTES}-byte limit",
            text.len()
        )));
    }
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| Error::Yaml(e.to_string()))?;
    if docs.len() > MAX_DOCUMENTS {
        return Err(Error::Yaml(format!("more than {MAX_DOCUMENTS} documents")));
    }
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

impl Config {
    /// Parses a (possibly multi-document) config.
    pub fn parse(text: &str) -> Result<Config, Error> {
        let docs = parse_values(text)?
            .into_iter()
            .enumerate()
            .map(|(index, v)| match v {
                Value::Object(m) => Ok(m),
                _ => Err(Error::NotAMapping { index }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Config { docs })
    }

    /// Renders the documents separated by `---`.
    pub fn render(&self) -> Result<String, Error> {
        let values: Vec<Value> = self.docs.iter().cloned().map(Value::Object).collect();
        if values.len() == 1 {
            return serde_saphyr::to_string(&values[0]).map_err(|e| Error::Render(e.to_string()));
        }
        serde_saphyr::to_string_multiple(&values).map_err(|e| Error::Render(e.to_string()))
    }

    /// The `v1alpha1` machine config document, if any.
    pub fn machine_config_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.docs
            .iter_mut()
            .find(|d| DocId::of(d) == DocId::MachineConfig)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_and_identifies_documents() {
        let c = Config::parse(
            "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\n---\n",
        )
        .unwrap();
        assert_eq!(c.docs.len(), 2);
        assert_eq!(DocId::of(&c.docs[0]), DocId::MachineConfig);
        assert_eq!(
            DocId::of(&c.docs[1]),
            DocId::Typed {
                api_version: "v1alpha1".into(),
                kind: "ExtensionServiceConfig".into(),
                name: "frr".into()
            }
        );
        let again = Config::parse(&c.render().unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn yaml_1_1_words_stay_strings_and_duplicates_are_refused() {
        let c = Config::parse("machine:\n  network:\n    hostname: yes\n  mode: 0755\n").unwrap();
        assert_eq!(c.docs[0]["machine"]["network"]["hostname"], "yes");
        assert_eq!(c.docs[0]["machine"]["mode"], "0755");
        assert!(matches!(Config::parse("a: 1\na: 2\n"), Err(Error::Yaml(_))));
        assert!(matches!(
            Config::parse("- 1\n"),
            Err(Error::NotAMapping { index: 0 })
        ));
        assert!(matches!(Config::parse("a: [1,\n"), Err(Error::Yaml(_))));
    }

    #[test]
    fn multi_document_rule_is_upstreams() {
        assert!(is_multi_document("a: 1\n---\nb: 2\n"));
        assert!(!is_multi_document("a: 1\n"));
    }
}
