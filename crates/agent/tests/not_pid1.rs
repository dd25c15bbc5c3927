//! The binary refuses to run anywhere but as PID 1: it would mount over /dev and reboot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[test]
fn refuses_to_run_as_an_ordinary_process() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sidero-agent"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runs only as PID 1"), "{err}");
}
