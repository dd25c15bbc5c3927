//! Fuzzes the webhook server's request handling: any bytes POSTed to `/convert` or to a
//! validating path (the port is reachable by anything in the pod network). No panic; a
//! review always gets a response carrying its uid, anything else an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_webhook::review::{Validator, admission, conversion};

fuzz_target!(|data: &[u8]| {
    for group in ["metal.sidero.dev", "infrastructure.cluster.x-k8s.io"] {
        if let Ok(v) = conversion(group, data) {
            assert!(v["response"].get("uid").is_some());
        }
    }
    for v in [Validator::Server, Validator::MetalMachineTemplate] {
        if let Ok(r) = admission(v, data) {
            assert!(r["response"]["allowed"].is_boolean());
        }
    }
});
