//! The webhook server both managers run (spec §1.2–1.3, §2.8–2.9).
//!
//! * [`review`]: `ConversionReview` (`/convert`) and `AdmissionReview` handling on raw JSON,
//!   pure: the conversions themselves live in `sidero-api`;
//! * [`validate`]: the validating webhooks' decisions (Server fields, MetalMachineTemplate
//!   immutability), returning Kubernetes `Status` errors shaped as upstream's;
//! * [`status`]: `metav1.Status` and field errors rendered as apimachinery does;
//! * [`tls`]: the serving certificate read from a cert-manager folder (`tls.crt`, `tls.key`),
//!   reloaded when the files change (cert-manager rotates them in place);
//! * [`server`]: the routes of each manager and the TLS listener.
//!
//! Which manager serves what follows upstream: sidero-controller-manager converts the
//! `metal.sidero.dev` kinds and validates Servers; caps-controller-manager converts the
//! `infrastructure.cluster.x-k8s.io` kinds and validates MetalMachineTemplates.

pub mod review;
pub mod server;
pub mod status;
pub mod tls;
pub mod validate;

pub use server::{Role, WebhookServer};

/// Path of the conversion webhook (both managers).
pub const CONVERT_PATH: &str = "/convert";
/// Validating webhook for `metal.sidero.dev/v1alpha2` Servers.
pub const SERVER_V1ALPHA2_PATH: &str = "/validate-metal-sidero-dev-v1alpha2-server";
/// Validating webhook for `metal.sidero.dev/v1alpha1` Servers.
pub const SERVER_V1ALPHA1_PATH: &str = "/validate-metal-sidero-dev-v1alpha1-server";
/// Validating webhook for `infrastructure.cluster.x-k8s.io/v1alpha3` MetalMachineTemplates.
pub const METALMACHINETEMPLATE_PATH: &str =
    "/validate-infrastructure-cluster-x-k8s-io-v1alpha3-metalmachinetemplate";
