//! Compiles `proto/*.proto` with protox (pure Rust, no `protoc`) and generates prost messages
//! plus tonic clients and servers. The encoded descriptor set is kept in `OUT_DIR` so the crate
//! can export it (descriptor tests, gRPC reflection).

use std::error::Error;
use std::path::PathBuf;

use prost::Message;

/// One entry per proto file; each package becomes one Rust module of the same name.
const PROTOS: &[&str] = &[
    "proto/api.proto",
    "proto/siderolink/provision.proto",
    "proto/events/events.proto",
    "proto/common/common.proto",
    "proto/machine/machine.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // BMCInfo carries a password: its Debug is written by hand and redacts it.
        .skip_debug([".api.BMCInfo"])
        // Talos events arrive packed in `Any`: generated `prost::Name` impls give their type URLs.
        .compile_fds_with_config(fds, {
            let mut config = prost_build::Config::new();
            config
                .enable_type_names()
                .type_name_domain(["."], "type.googleapis.com");
            config
        })?;
    Ok(())
}
