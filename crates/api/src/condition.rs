//! The Cluster API v1beta1 `Condition` shape used by `Server`, `MetalMachine` and
//! `ServerBinding` status, and helpers with CAPI's semantics (spec §2.0).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One CAPI v1beta1 condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition in CamelCase or in foo.example.com/CamelCase.
    #[serde(rename = "type")]
    #[schemars(length(max = 256))]
    pub type_: String,
    /// Status of the condition, one of True, False, Unknown.
    pub status: String,
    /// Severity provides an explicit classification of Reason code; only set when status is False.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub severity: Option<String>,
    /// Last time the condition transitioned from one status to another.
    pub last_transition_time: Time,
    /// The reason for the condition's last transition in CamelCase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub reason: Option<String>,
    /// A human readable message indicating details about the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10240))]
    pub message: Option<String>,
}
