//! Arbitrary bytes as a DHCP server's reply to the agent: never a panic, and a parsed lease
//! stays within what the bytes can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_dhcpc::reply::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse(data) {
        let l = &r.lease;
        assert!(l.prefix <= 32);
        assert!(l.dns.len() * 4 <= data.len());
        assert!(l.classless_routes.len() * 5 <= data.len());
        for route in l.routes() {
            assert!(route.prefix <= 32);
        }
    }
});
