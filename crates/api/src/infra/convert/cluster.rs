//! MetalCluster: `spec.apiEndpoints[]` / `status.apiEndpoints[]` ↔ `spec.controlPlaneEndpoint`.

use super::{ConversionError, store_hub, take_hub};
use crate::infra::{v1alpha2 as old, v1alpha3 as hub};

/// Down: a non-zero endpoint becomes the only entry of both `spec.apiEndpoints` and
/// `status.apiEndpoints` (a status is created for it if the hub had none).
impl TryFrom<hub::MetalCluster> for old::MetalCluster {
    type Error = ConversionError;

    fn try_from(src: hub::MetalCluster) -> Result<Self, Self::Error> {
        let mut metadata = src.metadata.clone();
        store_hub(&src, &mut metadata)?;
        let ep = &src.spec.control_plane_endpoint;
        let endpoints = if ep.is_zero() {
            Vec::new()
        } else {
            vec![old::ApiEndpoint {
                host: ep.host.clone(),
                port: ep.port.into(),
            }]
        };
        let status = match src.status {
            Some(s) => Some(old::MetalClusterStatus {
                ready: s.ready,
                api_endpoints: endpoints.clone(),
            }),
            None if !endpoints.is_empty() => Some(old::MetalClusterStatus {
                ready: false,
                api_endpoints: endpoints.clone(),
            }),
            None => None,
        };
        Ok(old::MetalCluster {
            metadata,
            spec: old::MetalClusterSpec {
                api_endpoints: endpoints,
            },
            status,
        })
    }
}

/// Up: the endpoint is the first `spec.apiEndpoints` entry, else the first
/// `status.apiEndpoints` entry, else zero. The port is narrowed to 32 bits the way Go's
/// `int32(...)` does (wrapping).
impl TryFrom<old::MetalCluster> for hub::MetalCluster {
    type Error = ConversionError;

    fn try_from(mut src: old::MetalCluster) -> Result<Self, Self::Error> {
        let restored =
            take_hub::<hub::MetalClusterSpec, hub::MetalClusterStatus>(&mut src.metadata)?;
        let first = src
            .spec
            .api_endpoints
            .first()
            .or_else(|| src.status.as_ref().and_then(|s| s.api_endpoints.first()));
        let control_plane_endpoint = first
            .map(|e| hub::ApiEndpoint {
                host: e.host.clone(),
                port: e.port as i32,
            })
            .unwrap_or_default();
        let initialization = restored
            .as_ref()
            .and_then(|r| r.status.as_ref())
            .and_then(|s| s.initialization.clone());
        let mut status = src.status.map(|s| hub::MetalClusterStatus {
            ready: s.ready,
            initialization,
        });
        // Down-conversion made up a status for the endpoint; drop it again if the hub had none
        // and the v1alpha2 client did not set anything in it.
        let hub_had_no_status = restored.as_ref().is_some_and(|r| r.status.is_none());
        if hub_had_no_status && status.as_ref().is_some_and(|s| !s.ready) {
            status = None;
        }
        Ok(hub::MetalCluster {
            metadata: src.metadata,
            spec: hub::MetalClusterSpec {
                control_plane_endpoint,
            },
            status,
        })
    }
}
