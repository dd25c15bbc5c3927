//! The `sidero-controller-manager` image: `tools/images/build.sh` builds it FROM scratch with
//! buildah into an OCI archive; the archive holds `/manager` (this build's binary, byte size
//! equal), the iPXE binaries, the agent environment and CA certificates, with `/manager` as
//! entrypoint. Without buildah the test prints SKIPPED and checks nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use sidero_testenv::oci;

#[test]
fn image_holds_the_manager_ipxe_and_agent_environment() {
    if !oci::buildah_available() {
        println!("SKIPPED: buildah is not installed; the image was not built");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("agent-env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(env.join("initramfs.xz"), b"initramfs").unwrap();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_sidero-controller-manager"));
    let archive = oci::build(
        "sidero-controller-manager",
        binary,
        &env,
        &dir.path().join("out"),
    )
    .unwrap();
    let image = oci::inspect(&archive).unwrap();
    assert_eq!(image.entrypoint, ["/manager"]);
    assert!(
        image
            .env
            .iter()
            .any(|e| e == "GRPC_ENFORCE_ALPN_ENABLED=false"),
        "{:?}",
        image.env
    );
    assert_eq!(
        image.ref_names,
        ["siderolabs/sidero-controller-manager:dev"]
    );
    let size = |p: &str| image.files.iter().find(|(n, _)| n == p).map(|(_, s)| *s);
    assert_eq!(
        size("manager"),
        Some(std::fs::metadata(binary).unwrap().len())
    );
    for (path, src) in [
        ("var/lib/sidero/ipxe/ipxe.efi", "/usr/lib/ipxe/ipxe.efi"),
        (
            "var/lib/sidero/ipxe/snponly.efi",
            "/usr/lib/ipxe/snponly.efi",
        ),
        (
            "var/lib/sidero/ipxe/undionly.kpxe",
            "/usr/lib/ipxe/undionly.kpxe",
        ),
        (
            "etc/ssl/certs/ca-certificates.crt",
            "/etc/ssl/certs/ca-certificates.crt",
        ),
    ] {
        assert_eq!(
            size(path),
            Some(std::fs::metadata(src).unwrap().len()),
            "{path}"
        );
    }
    assert_eq!(size("var/lib/sidero/env/agent-amd64/vmlinuz"), Some(6));
    assert_eq!(size("var/lib/sidero/env/agent-amd64/initramfs.xz"), Some(9));
    // FROM scratch: nothing else (no shell, no libc).
    assert_eq!(image.files.len(), 7, "{:#?}", image.files);
}
