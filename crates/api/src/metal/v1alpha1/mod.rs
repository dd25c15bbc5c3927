//! `metal.sidero.dev/v1alpha1`: the older, still served (not stored) shapes of `Server`,
//! `ServerClass` and `Environment`. Convert to and from the hub with [`crate::metal::convert`].

mod environment;
mod server;
mod serverclass;

pub use crate::metal::common::{
    Bmc, BootFromDiskMethod, ConfigPatch, Credential, CredentialSource, ManagementApi, PxeMode,
    SecretKeyRef,
};
pub use crate::metal::v1alpha2::{
    AssetCondition, EnvironmentStatus, Initrd, Kernel, ServerClassStatus, ServerStatus,
};
pub use environment::{Environment, EnvironmentSpec};
pub use server::{CpuInformation, Server, ServerSpec, SystemInformation};
pub use serverclass::{Qualifiers, ServerClass, ServerClassSpec};
