//! Fuzzes the metadata server's config assembly with untrusted YAML: the bootstrap data and a
//! patch text (both come from objects users write). Any panic is a bug; a config that
//! assembles must parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_machineconfig::{Config, NodeDocs, Patches, assemble};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (bootstrap, patch) = text.split_once('\0').unwrap_or((text, ""));
    let server = Patches {
        source: "server",
        json: Vec::new(),
        strategic: vec![patch.to_owned()],
    };
    let node = NodeDocs {
        api_url: "grpc://127.0.0.1:8081".into(),
        event_sink: "[fd00::1]:4002".into(),
        kmsg_url: "tcp://[fd00::1]:4001".into(),
    };
    if let Ok(out) = assemble(bootstrap, None, &server, "uuid", &node) {
        assert!(
            Config::parse(&out).is_ok(),
            "assembled config does not parse: {out}"
        );
    }
});
