//! Fuzzes the TFTP request path with untrusted datagrams: the packet parser, re-encoding,
//! path cleaning and option negotiation. Any panic (including a failed assertion) is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_tftp::options::negotiate;
use sidero_tftp::packet::{Packet, encode_oack};
use sidero_tftp::{CleanPath, ServerConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::parse(data) else {
        return;
    };
    // Whatever parses must re-encode to a packet that parses identically.
    let mut wire = Vec::new();
    if packet.encode(&mut wire).is_ok() {
        assert_eq!(Packet::parse(&wire).ok(), Some(packet));
    }
    if let Packet::Rrq(request) | Packet::Wrq(request) = packet {
        if let Ok(clean) = CleanPath::new(request.filename) {
            assert!(
                clean
                    .components()
                    .all(|c| !c.is_empty() && c != "." && c != "..")
            );
        }
        let negotiation = negotiate(request.options.iter(), &ServerConfig::default(), Some(1));
        assert!(encode_oack(&negotiation.oack).is_ok());
    }
});
