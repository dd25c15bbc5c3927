//! Everything a BMC can send us goes through these parsers; none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_power::ipmi::codec::{
    LanMessage, OpenSessionRequest, OpenSessionResponse, PayloadType, Rakp1, Rakp2, Rakp3, Rakp4,
    SecureChannel, parse_packet,
};
use sidero_power::ipmi::crypto::{CipherSuite, SessionKeys};

/// Fixed session keys, shared with the seed corpus generator (SIK = 20 × 0x42).
fn channel(suite: CipherSuite) -> SecureChannel {
    SecureChannel {
        keys: SessionKeys::derive(suite, &[0x42; 20]),
        peer_session_id: 0x0000_B0B0,
        own_session_id: 0x0000_C0C0,
    }
}

fn payloads(p: &[u8]) {
    let _ = LanMessage::parse(p);
    let _ = OpenSessionRequest::parse(p);
    let _ = OpenSessionResponse::parse(p);
    let _ = Rakp1::parse(p);
    let _ = Rakp2::parse(p);
    let _ = Rakp3::parse(p);
    let _ = Rakp4::parse(p);
}

fuzz_target!(|data: &[u8]| {
    payloads(data);
    for code_len in [0, 12, 16] {
        if let Ok(p) = parse_packet(data, code_len) {
            payloads(p.payload);
        }
    }
    for suite in [CipherSuite::SUITE_3, CipherSuite::SUITE_17] {
        let chan = channel(suite);
        if let Ok(opened) = chan.open(data) {
            payloads(&opened.payload);
        }
        let _ = chan.keys.decrypt(data);
        // Round trip: whatever we seal must open to the same bytes.
        if data.len() < 512 {
            let bmc = SecureChannel {
                peer_session_id: chan.own_session_id,
                own_session_id: chan.peer_session_id,
                ..chan.clone()
            };
            if let Ok(wire) = bmc.seal(PayloadType::Ipmi, 7, data, [3; 16]) {
                let opened = chan.open(&wire).map(|o| o.payload);
                assert_eq!(opened.as_deref(), Ok(data));
            }
        }
    }
});
