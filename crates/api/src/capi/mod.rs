//! The Cluster API types we read, generated with kopium from the CRDs of Cluster API v1.14.0.
//!
//! Both served versions are here: [`v1beta1`] (what CAPI < v1.11 stores, and what older
//! management clusters serve) and [`v1beta2`] (storage version since v1.11). Regenerate with
//! `tools/gen-capi-types.sh`; don't edit the generated files.

pub mod v1beta1;
pub mod v1beta2;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use kube::Resource;
    use kube::core::NamespaceResourceScope;
    use serde_json::{Value, json};

    use super::{v1beta1, v1beta2};

    fn is_namespaced<K: Resource<Scope = NamespaceResourceScope>>() {}

    /// A v1beta1 Machine as CAPI v1.x writes it for a Sidero worker.
    fn machine_v1beta1_json() -> Value {
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Machine",
            "metadata": {
                "name": "workers-7d9f8-x2kqv",
                "namespace": "default",
                "uid": "6f1c7c43-0f55-4c1f-a7a6-8d1d0b0c2c11",
                "resourceVersion": "123456",
                "generation": 2,
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "labels": {
                    "cluster.x-k8s.io/cluster-name": "management",
                    "cluster.x-k8s.io/deployment-name": "workers",
                    "cluster.x-k8s.io/set-name": "workers-7d9f8"
                },
                "annotations": {"controlplane.cluster.x-k8s.io/remediation-for": "{}"},
                "finalizers": ["machine.cluster.x-k8s.io"],
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta1",
                    "kind": "MachineSet",
                    "name": "workers-7d9f8",
                    "uid": "0d4c0c43-1f55-4c1f-a7a6-8d1d0b0c2c22",
                    "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "clusterName": "management",
                "bootstrap": {
                    "configRef": {
                        "apiVersion": "bootstrap.cluster.x-k8s.io/v1alpha3",
                        "kind": "TalosConfig",
                        "name": "workers-7d9f8-x2kqv",
                        "namespace": "default",
                        "uid": "2b1c7c43-0f55-4c1f-a7a6-8d1d0b0c2c33"
                    },
                    "dataSecretName": "workers-7d9f8-x2kqv-bootstrap-data"
                },
                "infrastructureRef": {
                    "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                    "kind": "MetalMachine",
                    "name": "workers-7d9f8-x2kqv",
                    "namespace": "default",
                    "uid": "3c1c7c43-0f55-4c1f-a7a6-8d1d0b0c2c44"
                },
                "providerID": "sidero://4c4c4544-0034-4810-8051-b7c04f4b4e32",
                "version": "v1.33.1",
                "nodeDrainTimeout": "5m0s",
                "nodeDeletionTimeout": "10s"
            },
            "status": {
                "bootstrapReady": true,
                "infrastructureReady": true,
                "phase": "Running",
                "observedGeneration": 2,
                "lastUpdated": "2024-05-01T10:05:00Z",
                "addresses": [
                    {"type": "InternalIP", "address": "172.24.0.10"},
                    {"type": "Hostname", "address": "talos-abc-def"}
                ],
                "nodeRef": {"apiVersion": "v1", "kind": "Node", "name": "talos-abc-def", "uid": "5e1c7c43-0f55-4c1f-a7a6-8d1d0b0c2c55"},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": "b1",
                    "containerRuntimeVersion": "containerd://2.0.5",
                    "kernelVersion": "6.12.25-talos",
                    "kubeProxyVersion": "v1.33.1",
                    "kubeletVersion": "v1.33.1",
                    "machineID": "m1",
                    "operatingSystem": "linux",
                    "osImage": "Talos (v1.10.0)",
                    "systemUUID": "4c4c4544-0034-4810-8051-b7c04f4b4e32"
                },
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:04:00Z"},
                    {
                        "type": "NodeHealthy",
                        "status": "False",
                        "severity": "Warning",
                        "reason": "NodeConditionsFailed",
                        "message": "kubelet not ready",
                        "lastTransitionTime": "2024-05-01T10:03:00Z"
                    }
                ],
                "v1beta2": {
                    "conditions": [{
                        "type": "Available",
                        "status": "True",
                        "reason": "Available",
                        "message": "",
                        "observedGeneration": 2,
                        "lastTransitionTime": "2024-05-01T10:04:00Z"
                    }]
                }
            }
        })
    }

    /// A v1beta2 Machine (CAPI >= v1.11 storage version).
    fn machine_v1beta2_json() -> Value {
        json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Machine",
            "metadata": {
                "name": "workers-7d9f8-x2kqv",
                "namespace": "default",
                "ownerReferences": [{
                    "apiVersion": "cluster.x-k8s.io/v1beta2",
                    "kind": "MachineSet",
                    "name": "workers-7d9f8",
                    "uid": "0d4c0c43-1f55-4c1f-a7a6-8d1d0b0c2c22",
                    "controller": true
                }]
            },
            "spec": {
                "clusterName": "management",
                "bootstrap": {
                    "configRef": {
                        "apiGroup": "bootstrap.cluster.x-k8s.io",
                        "kind": "TalosConfig",
                        "name": "workers-7d9f8-x2kqv"
                    },
                    "dataSecretName": "workers-7d9f8-x2kqv-bootstrap-data"
                },
                "infrastructureRef": {
                    "apiGroup": "infrastructure.cluster.x-k8s.io",
                    "kind": "MetalMachine",
                    "name": "workers-7d9f8-x2kqv"
                },
                "providerID": "sidero://4c4c4544-0034-4810-8051-b7c04f4b4e32",
                "version": "v1.33.1",
                "deletion": {"nodeDrainTimeoutSeconds": 300}
            },
            "status": {
                "initialization": {
                    "bootstrapDataSecretCreated": true,
                    "infrastructureProvisioned": true
                },
                "phase": "Updating",
                "addresses": [{"type": "InternalIP", "address": "172.24.0.10"}],
                "nodeRef": {"name": "talos-abc-def"},
                "conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ready",
                    "message": "",
                    "observedGeneration": 3,
                    "lastTransitionTime": "2024-05-01T10:04:00Z"
                }],
                "deprecated": {
                    "v1beta1": {
                        "conditions": [{
                            "type": "Ready",
                            "status": "False",
                            "severity": "Info",
                            "reason": "Deleting",
                            "lastTransitionTime": "2024-05-01T10:04:00Z"
                        }],
                        "failureReason": "UpdateError"
                    }
                }
            }
        })
    }

    #[test]
    fn machine_v1beta1_fields_we_read() {
        let m: v1beta1::Machine = serde_json::from_value(machine_v1beta1_json()).unwrap();

        assert_eq!(m.metadata.name.as_deref(), Some("workers-7d9f8-x2kqv"));
        let owner = &m.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("MachineSet", Some(true))
        );

        assert_eq!(m.spec.cluster_name, "management");
        assert_eq!(
            m.spec.bootstrap.data_secret_name.as_deref(),
            Some("workers-7d9f8-x2kqv-bootstrap-data")
        );
        let config_ref = m.spec.bootstrap.config_ref.as_ref().unwrap();
        assert_eq!(config_ref.kind.as_deref(), Some("TalosConfig"));
        let infra = &m.spec.infrastructure_ref;
        assert_eq!(infra.kind.as_deref(), Some("MetalMachine"));
        assert_eq!(infra.name.as_deref(), Some("workers-7d9f8-x2kqv"));
        assert_eq!(
            infra.api_version.as_deref(),
            Some("infrastructure.cluster.x-k8s.io/v1alpha3")
        );
        assert_eq!(
            m.spec.provider_id.as_deref(),
            Some("sidero://4c4c4544-0034-4810-8051-b7c04f4b4e32")
        );

        let status = m.status.as_ref().unwrap();
        assert_eq!(status.bootstrap_ready, Some(true));
        assert_eq!(status.infrastructure_ready, Some(true));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let addresses = status.addresses.as_ref().unwrap();
        assert_eq!(addresses[0].r#type, "InternalIP");
        assert_eq!(addresses[0].address, "172.24.0.10");
        assert_eq!(
            status.node_ref.as_ref().unwrap().name.as_deref(),
            Some("talos-abc-def")
        );
        assert_eq!(
            status.node_info.as_ref().unwrap().system_uuid,
            "4c4c4544-0034-4810-8051-b7c04f4b4e32"
        );

        // v1beta1 conditions keep CAPI's own shape: optional reason, and severity.
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!(conditions[0].r#type, "Ready");
        assert_eq!(conditions[0].reason, None);
        assert_eq!(conditions[1].severity.as_deref(), Some("Warning"));
        assert_eq!(
            conditions[1].reason.as_deref(),
            Some("NodeConditionsFailed")
        );
        let v1beta2_conditions = status
            .v1beta2
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap();
        assert_eq!(v1beta2_conditions[0].observed_generation, Some(2));
        assert_eq!(v1beta2_conditions[0].status, "True");
    }

    #[test]
    fn machine_v1beta1_round_trips_losslessly() {
        let input = machine_v1beta1_json();
        let m: v1beta1::Machine = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), input);
    }

    #[test]
    fn machine_v1beta2_fields_we_read() {
        let m: v1beta2::Machine = serde_json::from_value(machine_v1beta2_json()).unwrap();

        assert_eq!(m.spec.cluster_name, "management");
        assert_eq!(
            m.spec.bootstrap.data_secret_name.as_deref(),
            Some("workers-7d9f8-x2kqv-bootstrap-data")
        );
        let config_ref = m.spec.bootstrap.config_ref.as_ref().unwrap();
        assert_eq!(config_ref.api_group, "bootstrap.cluster.x-k8s.io");
        let infra = &m.spec.infrastructure_ref;
        assert_eq!(infra.api_group, "infrastructure.cluster.x-k8s.io");
        assert_eq!(infra.kind, "MetalMachine");
        assert_eq!(infra.name, "workers-7d9f8-x2kqv");
        assert_eq!(
            m.spec.provider_id.as_deref(),
            Some("sidero://4c4c4544-0034-4810-8051-b7c04f4b4e32")
        );
        assert_eq!(
            m.spec.deletion.as_ref().unwrap().node_drain_timeout_seconds,
            Some(300)
        );

        let status = m.status.as_ref().unwrap();
        let init = status.initialization.as_ref().unwrap();
        assert_eq!(init.bootstrap_data_secret_created, Some(true));
        assert_eq!(init.infrastructure_provisioned, Some(true));
        assert_eq!(status.phase.as_deref(), Some("Updating"));
        assert_eq!(status.node_ref.as_ref().unwrap().name, "talos-abc-def");
        assert_eq!(status.addresses.as_ref().unwrap()[0].r#type, "InternalIP");

        let ready = &status.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (
                ready.r#type.as_str(),
                ready.status.as_str(),
                ready.reason.as_str()
            ),
            ("Ready", "True", "Ready")
        );
        assert_eq!(ready.observed_generation, Some(3));
        let old = status
            .deprecated
            .as_ref()
            .unwrap()
            .v1beta1
            .as_ref()
            .unwrap();
        assert_eq!(
            old.conditions.as_ref().unwrap()[0].severity.as_deref(),
            Some("Info")
        );
        assert_eq!(old.failure_reason.as_deref(), Some("UpdateError"));
    }

    #[test]
    fn machine_v1beta2_round_trips_losslessly() {
        let input = machine_v1beta2_json();
        let m: v1beta2::Machine = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), input);
    }

    /// CAPI converts v1beta2 -> v1beta1 by copying strings, so a v1beta2-only value (phase
    /// `Updating`, absent from the v1beta1 CRD's enum) shows up when reading v1beta1. Enums are
    /// generated as plain strings so such objects still deserialize.
    #[test]
    fn enum_values_outside_the_crd_list_still_deserialize() {
        let mut json = machine_v1beta1_json();
        json["status"]["phase"] = json!("Updating");
        json["status"]["addresses"][0]["type"] = json!("SomeFutureAddressType");
        let m: v1beta1::Machine = serde_json::from_value(json).unwrap();
        let status = m.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Updating"));
        assert_eq!(status.addresses.unwrap()[0].r#type, "SomeFutureAddressType");
    }

    #[test]
    fn minimal_machines_deserialize() {
        let m: v1beta1::Machine = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Machine",
            "metadata": {"name": "m", "namespace": "default"},
            "spec": {"clusterName": "c", "bootstrap": {}, "infrastructureRef": {}}
        }))
        .unwrap();
        assert!(m.status.is_none());
        assert!(m.spec.bootstrap.data_secret_name.is_none());

        let m: v1beta2::Machine = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Machine",
            "metadata": {"name": "m", "namespace": "default"},
            "spec": {
                "clusterName": "c",
                "bootstrap": {},
                "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "MetalMachine", "name": "m"}
            },
            "status": {}
        }))
        .unwrap();
        assert!(m.status.unwrap().initialization.is_none());
    }

    #[test]
    fn cluster_v1beta1_fields_we_read() {
        let c: v1beta1::Cluster = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Cluster",
            "metadata": {"name": "management", "namespace": "default"},
            "spec": {
                "clusterNetwork": {
                    "pods": {"cidrBlocks": ["10.244.0.0/16"]},
                    "services": {"cidrBlocks": ["10.96.0.0/12"]}
                },
                "controlPlaneEndpoint": {"host": "172.24.0.2", "port": 6443},
                "controlPlaneRef": {
                    "apiVersion": "controlplane.cluster.x-k8s.io/v1alpha3",
                    "kind": "TalosControlPlane",
                    "name": "management-cp"
                },
                "infrastructureRef": {
                    "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                    "kind": "MetalCluster",
                    "name": "management"
                },
                "paused": false
            },
            "status": {
                "infrastructureReady": true,
                "controlPlaneReady": false,
                "phase": "Provisioned",
                "failureDomains": {"rack-1": {"controlPlane": true, "attributes": {"room": "a"}}},
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:04:00Z"}]
            }
        }))
        .unwrap();

        let infra = c.spec.infrastructure_ref.as_ref().unwrap();
        assert_eq!(
            (infra.kind.as_deref(), infra.name.as_deref()),
            (Some("MetalCluster"), Some("management"))
        );
        let endpoint = c.spec.control_plane_endpoint.as_ref().unwrap();
        assert_eq!(
            (endpoint.host.as_deref(), endpoint.port),
            (Some("172.24.0.2"), Some(6443))
        );
        assert_eq!(c.spec.paused, Some(false));
        let pods = c
            .spec
            .cluster_network
            .as_ref()
            .unwrap()
            .pods
            .as_ref()
            .unwrap();
        assert_eq!(pods.cidr_blocks, vec!["10.244.0.0/16".to_owned()]);

        let status = c.status.as_ref().unwrap();
        assert_eq!(status.infrastructure_ready, Some(true));
        assert_eq!(status.control_plane_ready, Some(false));
        assert_eq!(status.phase.as_deref(), Some("Provisioned"));
        assert_eq!(
            status.failure_domains.as_ref().unwrap()["rack-1"].control_plane,
            Some(true)
        );
    }

    #[test]
    fn cluster_v1beta2_fields_we_read() {
        let c: v1beta2::Cluster = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": "management", "namespace": "default"},
            "spec": {
                "controlPlaneEndpoint": {"host": "172.24.0.2", "port": 6443},
                "controlPlaneRef": {
                    "apiGroup": "controlplane.cluster.x-k8s.io",
                    "kind": "TalosControlPlane",
                    "name": "management-cp"
                },
                "infrastructureRef": {
                    "apiGroup": "infrastructure.cluster.x-k8s.io",
                    "kind": "MetalCluster",
                    "name": "management"
                },
                "paused": true
            },
            "status": {
                "initialization": {"infrastructureProvisioned": true, "controlPlaneInitialized": true},
                "phase": "Provisioned",
                "failureDomains": [{"name": "rack-1", "controlPlane": true}],
                "conditions": [{
                    "type": "Available",
                    "status": "False",
                    "reason": "NotAvailable",
                    "message": "* RemoteConnectionProbe: Remote connection not established yet",
                    "observedGeneration": 1,
                    "lastTransitionTime": "2024-05-01T10:04:00Z"
                }]
            }
        }))
        .unwrap();

        let infra = c.spec.infrastructure_ref.as_ref().unwrap();
        assert_eq!(
            (
                infra.api_group.as_str(),
                infra.kind.as_str(),
                infra.name.as_str()
            ),
            (
                "infrastructure.cluster.x-k8s.io",
                "MetalCluster",
                "management"
            )
        );
        assert_eq!(c.spec.paused, Some(true));
        let status = c.status.as_ref().unwrap();
        let init = status.initialization.as_ref().unwrap();
        assert_eq!(init.infrastructure_provisioned, Some(true));
        assert_eq!(init.control_plane_initialized, Some(true));
        assert_eq!(status.failure_domains.as_ref().unwrap()[0].name, "rack-1");
        assert_eq!(
            status.conditions.as_ref().unwrap()[0].reason,
            "NotAvailable"
        );
    }

    #[test]
    fn machine_deployments_deserialize() {
        let md: v1beta1::MachineDeployment = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "MachineDeployment",
            "metadata": {"name": "workers", "namespace": "default"},
            "spec": {
                "clusterName": "management",
                "replicas": 3,
                "selector": {"matchLabels": {"cluster.x-k8s.io/deployment-name": "workers"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"cluster.x-k8s.io/deployment-name": "workers"}},
                    "spec": {
                        "clusterName": "management",
                        "version": "v1.33.1",
                        "bootstrap": {"configRef": {
                            "apiVersion": "bootstrap.cluster.x-k8s.io/v1alpha3",
                            "kind": "TalosConfigTemplate",
                            "name": "workers"
                        }},
                        "infrastructureRef": {
                            "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
                            "kind": "MetalMachineTemplate",
                            "name": "workers"
                        }
                    }
                }
            },
            "status": {"replicas": 3, "readyReplicas": 2, "phase": "ScalingUp"}
        }))
        .unwrap();
        assert_eq!(md.spec.cluster_name, "management");
        assert_eq!(md.spec.replicas, Some(3));
        let template = md.spec.template.spec.as_ref().unwrap();
        assert_eq!(
            template.infrastructure_ref.kind.as_deref(),
            Some("MetalMachineTemplate")
        );
        let rolling = md
            .spec
            .strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .unwrap();
        assert_eq!(
            rolling.max_unavailable,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into()))
        );
        assert_eq!(md.status.as_ref().unwrap().ready_replicas, Some(2));

        let md: v1beta2::MachineDeployment = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "MachineDeployment",
            "metadata": {"name": "workers", "namespace": "default"},
            "spec": {
                "clusterName": "management",
                "replicas": 3,
                "selector": {"matchLabels": {"cluster.x-k8s.io/deployment-name": "workers"}},
                "template": {
                    "spec": {
                        "clusterName": "management",
                        "bootstrap": {"configRef": {
                            "apiGroup": "bootstrap.cluster.x-k8s.io",
                            "kind": "TalosConfigTemplate",
                            "name": "workers"
                        }},
                        "infrastructureRef": {
                            "apiGroup": "infrastructure.cluster.x-k8s.io",
                            "kind": "MetalMachineTemplate",
                            "name": "workers"
                        }
                    }
                }
            },
            "status": {"replicas": 3, "readyReplicas": 3, "upToDateReplicas": 3, "phase": "Running"}
        }))
        .unwrap();
        assert_eq!(
            md.spec.template.spec.infrastructure_ref.kind,
            "MetalMachineTemplate"
        );
        assert_eq!(md.status.as_ref().unwrap().up_to_date_replicas, Some(3));
    }

    #[test]
    fn resource_metadata() {
        assert_eq!(
            v1beta1::Machine::api_version(&()),
            "cluster.x-k8s.io/v1beta1"
        );
        assert_eq!(
            v1beta2::Machine::api_version(&()),
            "cluster.x-k8s.io/v1beta2"
        );
        assert_eq!(v1beta1::Machine::group(&()), "cluster.x-k8s.io");
        assert_eq!(v1beta1::Machine::kind(&()), "Machine");
        assert_eq!(v1beta1::Machine::plural(&()), "machines");
        assert_eq!(v1beta2::Machine::plural(&()), "machines");
        assert_eq!(
            v1beta1::Cluster::api_version(&()),
            "cluster.x-k8s.io/v1beta1"
        );
        assert_eq!(
            v1beta2::Cluster::api_version(&()),
            "cluster.x-k8s.io/v1beta2"
        );
        assert_eq!(v1beta2::Cluster::plural(&()), "clusters");
        assert_eq!(v1beta1::MachineDeployment::kind(&()), "MachineDeployment");
        assert_eq!(
            v1beta2::MachineDeployment::plural(&()),
            "machinedeployments"
        );
        assert_eq!(
            v1beta1::MachineDeployment::api_version(&()),
            "cluster.x-k8s.io/v1beta1"
        );

        is_namespaced::<v1beta1::Machine>();
        is_namespaced::<v1beta2::Machine>();
        is_namespaced::<v1beta1::Cluster>();
        is_namespaced::<v1beta2::Cluster>();
        is_namespaced::<v1beta1::MachineDeployment>();
        is_namespaced::<v1beta2::MachineDeployment>();

        // The kube-derive `new` constructor gives a typed object with apiVersion/kind set.
        let m = v1beta2::Machine::new("m", v1beta2::MachineSpec::default());
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["apiVersion"], "cluster.x-k8s.io/v1beta2");
        assert_eq!(json["kind"], "Machine");
    }
}
