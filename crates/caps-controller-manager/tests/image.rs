//! The `caps-controller-manager` image: FROM scratch with `/manager` (this build's binary) and
//! CA certificates, running as 65532. Without buildah the test prints SKIPPED and checks
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use sidero_testenv::oci;

#[test]
fn image_holds_the_manager() {
    if !oci::buildah_available() {
        println!("SKIPPED: buildah is not installed; the image was not built");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_caps-controller-manager"));
    let archive = oci::build(
        "caps-controller-manager",
        binary,
        dir.path(),
        &dir.path().join("out"),
    )
    .unwrap();
    let image = oci::inspect(&archive).unwrap();
    assert_eq!(image.entrypoint, ["/manager"]);
    assert_eq!(image.user, "65532:65532");
    let mut names: Vec<&str> = image.files.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["etc/ssl/certs/ca-certificates.crt", "manager"]);
    let size = image.files.iter().find(|(n, _)| n == "manager").unwrap().1;
    assert_eq!(size, std::fs::metadata(binary).unwrap().len());
}
