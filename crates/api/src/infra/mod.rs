//! `infrastructure.cluster.x-k8s.io`: MetalCluster, MetalMachine, MetalMachineTemplate, ServerBinding.
