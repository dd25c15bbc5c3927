//! Fuzzes the kernel-log stream decoder with untrusted bytes split into arbitrary chunks: no
//! panic, the buffer stays within the record limit, every record renders to a `serverlogs`
//! line that parses back to a JSON object, and the result does not depend on the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_siderolink::annotation::Annotation;
use sidero_siderolink::kmsg::{Decoder, annotate};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split % 64) + 1;
    let max = 256;
    let mut decoder = Decoder::new(max);
    let annotation = Annotation {
        server_uuid: "u".into(),
        ..Default::default()
    };
    let mut chunked = Vec::new();
    let mut check = |r: Result<_, _>| {
        chunked.push(format!("{r:?}"));
        if let Ok(record) = r {
            let line = annotate(record, Some(&annotation));
            assert!(!line.contains('\n'));
            let back: serde_json::Value = serde_json::from_str(&line).expect("line parses");
            assert_eq!(back["server_uuid"], "u");
        }
    };
    for c in rest.chunks(chunk) {
        decoder.push(c, &mut check);
        assert!(decoder.buffered() <= max + 1);
    }
    decoder.finish(&mut check);
    assert_eq!(decoder.buffered(), 0);
    let mut whole = Vec::new();
    let mut d = Decoder::new(max);
    d.push(rest, &mut |r| whole.push(format!("{r:?}")));
    d.finish(&mut |r| whole.push(format!("{r:?}")));
    assert_eq!(chunked, whole);
});
