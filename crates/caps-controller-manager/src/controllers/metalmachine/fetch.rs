//! Gathers what one decision needs: the owner Machine and its Cluster, this machine's
//! bindings (consistently, by label, plus the cache for bindings made by others), the server
//! named by `serverRef`, and the class's free servers.

use std::collections::BTreeMap;

use kube::api::{DynamicObject, ListParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::{Server, ServerClass};
use sidero_caps::CLUSTER_NAME_LABEL;
use sidero_caps::allocation::{candidates, spread};
use sidero_caps::metalmachine::{
    ClassLookup, METAL_MACHINE_UID_LABEL, MachineView, Snapshot, is_own,
};

use super::Context;
use crate::capi::{GROUP, cluster_infra_ready, machine_view};
use crate::controllers::ReconcileError;

/// The fetched facts; [`Facts::snapshot`] lends them to the decision.
pub struct Facts {
    pub machine: Option<MachineView>,
    pub cluster_name: Option<String>,
    pub cluster_infra_ready: Option<bool>,
    pub own_bindings: Vec<ServerBinding>,
    pub ref_binding: Option<ServerBinding>,
    pub ref_server: Option<Server>,
    pub class: ClassLookup,
    pub class_obj: Option<ServerClass>,
}

impl Facts {
    /// Reads everything for `mm`.
    pub async fn gather(ctx: &Context, mm: &MetalMachine) -> Result<Facts, ReconcileError> {
        let ns = mm.namespace().unwrap_or_default();
        let machine = owner_machine(ctx, mm, &ns).await?;
        let cluster_name = machine
            .as_ref()
            .and_then(|m| m.labels().get(CLUSTER_NAME_LABEL).cloned());
        let cluster_infra_ready = match &cluster_name {
            Some(c) => {
                Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ns, &ctx.capi.cluster)
                    .get_opt(c)
                    .await?
                    .map(|c| cluster_infra_ready(&c))
            }
            None => None,
        };
        let own_bindings = own_bindings(ctx, mm).await?;
        let server_ref = mm
            .spec
            .server_ref
            .as_ref()
            .and_then(|r| r.name.clone())
            .filter(|n| !n.is_empty());
        let (mut ref_binding, mut ref_server) = (None, None);
        if let Some(name) = &server_ref {
            ref_binding = Api::<ServerBinding>::all(ctx.client.clone())
                .get_opt(name)
                .await?;
            ref_server = Api::<Server>::all(ctx.client.clone()).get_opt(name).await?;
        }
        let (class, class_obj) = match (&server_ref, &mm.spec.server_class_ref) {
            (None, Some(r)) => {
                let name = r.name.clone().unwrap_or_default();
                match Api::<ServerClass>::all(ctx.client.clone())
                    .get_opt(&name)
                    .await?
                {
                    Some(c) => {
                        let available = c
                            .status
                            .as_ref()
                            .map(|s| s.servers_available.clone())
                            .unwrap_or_default();
                        let free = candidates(
                            &available,
                            |n| ctx.servers.get(&ObjectRef::new(n)).map(|s| (*s).clone()),
                            |n| ctx.bindings.get(&ObjectRef::new(n)).is_some(),
                        );
                        let free = spread(&free, mm.uid().as_deref().unwrap_or_default());
                        let lookup = ClassLookup::Found {
                            name,
                            candidates: free.iter().map(|s| s.to_string()).collect(),
                        };
                        (lookup, Some(c))
                    }
                    None => (ClassLookup::NotFound(name), None),
                }
            }
            (None, None) => (ClassLookup::NoRef, None),
            (Some(_), _) => (ClassLookup::NoRef, None),
        };
        Ok(Facts {
            machine: machine.as_ref().map(machine_view),
            cluster_name,
            cluster_infra_ready,
            own_bindings,
            ref_binding,
            ref_server,
            class,
            class_obj,
        })
    }

    /// The decision's view of these facts.
    pub fn snapshot<'a>(&'a self, mm: &'a MetalMachine) -> Snapshot<'a> {
        Snapshot {
            metal_machine: mm,
            machine: self.machine.clone(),
            cluster_infra_ready: self.cluster_infra_ready,
            own_bindings: self.own_bindings.iter().collect(),
            ref_binding: self.ref_binding.as_ref(),
            ref_server: self.ref_server.as_ref(),
            class: self.class.clone(),
        }
    }
}

async fn owner_machine(
    ctx: &Context,
    mm: &MetalMachine,
    ns: &str,
) -> Result<Option<DynamicObject>, ReconcileError> {
    let owner = mm
        .owner_references()
        .iter()
        .find(|o| o.kind == "Machine" && o.api_version.split('/').next() == Some(GROUP));
    match owner {
        Some(o) => {
            Ok(
                Api::<DynamicObject>::namespaced_with(ctx.client.clone(), ns, &ctx.capi.machine)
                    .get_opt(&o.name)
                    .await?,
            )
        }
        None => Ok(None),
    }
}

/// Bindings naming this machine: a consistent list by our uid label (so a binding created a
/// moment ago is never missed, which would allocate a second server), plus cached bindings
/// without the label (created before us or by upstream).
async fn own_bindings(
    ctx: &Context,
    mm: &MetalMachine,
) -> Result<Vec<ServerBinding>, ReconcileError> {
    let mut found = BTreeMap::new();
    if let Some(uid) = mm.uid() {
        let lp = ListParams::default().labels(&format!("{METAL_MACHINE_UID_LABEL}={uid}"));
        for b in Api::<ServerBinding>::all(ctx.client.clone())
            .list(&lp)
            .await?
            .items
        {
            if is_own(&b, mm) {
                found.insert(b.name_any(), b);
            }
        }
    }
    for b in ctx.bindings.state() {
        if is_own(&b, mm) && !b.labels().contains_key(METAL_MACHINE_UID_LABEL) {
            found.insert(b.name_any(), (*b).clone());
        }
    }
    Ok(found.into_values().collect())
}
