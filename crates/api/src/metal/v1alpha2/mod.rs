//! `metal.sidero.dev/v1alpha2`: the storage (hub) version of `Server`, `ServerClass` and
//! `Environment`.

mod environment;
mod hardware;
mod server;
mod serverclass;

pub use crate::metal::common::{
    Bmc, BootFromDiskMethod, ConfigPatch, Credential, CredentialSource, ManagementApi, PxeMode,
    SecretKeyRef,
};
pub use environment::{
    AssetCondition, CONDITION_READY, DEFAULT_ENVIRONMENT_EXTRA_ARGS, ENVIRONMENT_DEFAULT,
    Environment, EnvironmentSpec, EnvironmentStatus, Initrd, Kernel,
};
pub use hardware::{
    ComputeInformation, HardwareInformation, MemoryInformation, MemoryModule, NetworkInformation,
    NetworkInterface, Processor, StorageDevice, StorageInformation, SystemInformation,
};
pub use server::{
    CONDITION_POWER_CYCLE, CONDITION_PXE_BOOTED, POWER_OFF, POWER_ON, POWER_UNKNOWN,
    SERVER_FINALIZER, Server, ServerSpec, ServerStatus,
};
pub use serverclass::{
    Qualifiers, SERVER_CLASS_ANY, ServerClass, ServerClassSpec, ServerClassStatus,
};
