//! Fuzzes what `/ipxe` and `/configdata` do with a query string from the network: the query
//! parser and the config-token check, and the agent-token check the Agent API runs on its
//! `x-sidero-agent-token` metadata. Any panic is a bug; a random token never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_netboot::boot::parse_query;
use sidero_netboot::token::{derive_key, verify, verify_agent};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let query = parse_query(raw);
    let token = raw.split('&').find_map(|kv| kv.strip_prefix("token="));
    let key = derive_key(b"fuzz");
    let now = 1_800_000_000;
    assert!(verify(&key, token, &query.uuid, None, now).is_err());
    assert!(verify_agent(&key, Some(raw), &query.uuid, now).is_err());
});
