//! `infrastructure.cluster.x-k8s.io/v1alpha3`: the storage (hub) version of every kind.

mod metalcluster;
mod metalmachine;
mod metalmachinetemplate;
mod serverbinding;

pub use metalcluster::{ApiEndpoint, MetalCluster, MetalClusterSpec, MetalClusterStatus};
pub use metalmachine::{
    ADDRESS_EXTERNAL_DNS, ADDRESS_EXTERNAL_IP, ADDRESS_HOSTNAME, ADDRESS_INTERNAL_DNS,
    ADDRESS_INTERNAL_IP, Initialization, MachineAddress, MetalMachine, MetalMachineSpec,
    MetalMachineStatus,
};
pub use metalmachinetemplate::{
    MetalMachineTemplate, MetalMachineTemplateResource, MetalMachineTemplateSpec,
};
pub use serverbinding::{ServerBinding, ServerBindingSpec, ServerBindingStatus, SideroLinkSpec};

/// Finalizer CAPS puts on every `MetalCluster`.
pub const CLUSTER_FINALIZER: &str = "metalcluster.infrastructure.cluster.x-k8s.io";
/// Finalizer CAPS puts on every `MetalMachine`.
pub const MACHINE_FINALIZER: &str = "metalmachine.infrastructure.cluster.x-k8s.io";

/// Field index on `MetalMachine`: the bound Server's name.
pub const METAL_MACHINE_SERVER_REF_FIELD: &str = "spec.serverRef.name";
/// Field index on `ServerBinding`: the bound MetalMachine's name.
pub const SERVER_BINDING_METAL_MACHINE_REF_FIELD: &str = "spec.metalMachineRef.name";

/// Condition: the workload Node's `spec.providerID` has been set.
pub const PROVIDER_SET_CONDITION: &str = "ProviderSet";
/// Reason (severity Warning): the controller failed to set the Node's providerID.
pub const PROVIDER_UPDATE_FAILED_REASON: &str = "ProviderUpdateFailed";

/// Condition: Talos loaded its machine configuration.
pub const TALOS_CONFIG_LOADED_CONDITION: &str = "TalosConfigLoaded";
/// Reason (severity Error): Talos failed to load the machine configuration.
pub const TALOS_CONFIG_LOAD_FAILED_REASON: &str = "TalosConfigLoadFailed";

/// Condition: Talos validated its machine configuration.
pub const TALOS_CONFIG_VALIDATED_CONDITION: &str = "TalosConfigValidated";
/// Reason (severity Error): the machine configuration failed validation.
pub const TALOS_CONFIG_VALIDATION_FAILED_REASON: &str = "TalosConfigValidationFailed";

/// Condition: Talos is installed on the Server's disk.
pub const TALOS_INSTALLED_CONDITION: &str = "TalosInstalled";
/// Reason (severity Info): the installation is running.
pub const TALOS_INSTALLATION_IN_PROGRESS_REASON: &str = "TalosInstallationInProgress";
/// Reason (severity Error): the installation failed.
pub const TALOS_INSTALLATION_FAILED_REASON: &str = "TalosInstallationFailed";
