//! Fuzzes the events sink's decoding: an untrusted `events.EventRequest`, and the same bytes
//! as the payload of every event type Sidero handles. No panic; whatever decodes maps to
//! effects and a log line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_types::Any;
use sidero_proto::events::EventRequest;
use sidero_siderolink::events::{decode, effects, log_fields, parse_filter};

const TYPES: &[&str] = &[
    "type.googleapis.com/machine.AddressEvent",
    "type.googleapis.com/machine.ConfigValidationErrorEvent",
    "type.googleapis.com/machine.ConfigLoadErrorEvent",
    "type.googleapis.com/machine.PhaseEvent",
    "type.googleapis.com/machine.TaskEvent",
    "type.googleapis.com/machine.ServiceStateEvent",
    "type.googleapis.com/machine.SequenceEvent",
    "type.googleapis.com/machine.MachineStatusEvent",
];

fn check(any: &Any) {
    let node = "fdae:2859:5bb1:7a03::9".parse().expect("ip");
    let filter = parse_filter(["10.0.0.0/8"]).expect("filter");
    if let Ok(Some(event)) = decode(any) {
        let fx = effects(&event, node, &filter);
        if let Some((_, addrs)) = &fx.addresses {
            assert!(addrs.iter().all(|a| a.parse::<std::net::IpAddr>().is_ok()));
        }
        let _ = serde_json::to_string(&log_fields(&event));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = EventRequest::decode(data) {
        if let Some(any) = &req.data {
            check(any);
        }
    }
    for t in TYPES {
        check(&Any {
            type_url: (*t).to_string(),
            value: data.to_vec(),
        });
    }
});
