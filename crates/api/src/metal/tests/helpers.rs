//! Pure helper methods: Environment readiness, BMC defaults, enums, special names.

use crate::metal::common::{
    Bmc, BootFromDiskMethod, ConfigPatch, Credential, CredentialSource, MissingSecretKeyRef,
    PxeMode, SecretKeyRef,
};
use crate::metal::v1alpha2::{
    AssetCondition, Environment, EnvironmentSpec, EnvironmentStatus, Initrd, Kernel, Qualifiers,
    ServerClass, ServerSpec,
};
use crate::reference::ObjectReference;

const KERNEL: &str = "http://assets/vmlinuz";
const INITRD: &str = "http://assets/initramfs.xz";

fn env(kernel: Option<&str>, initrd: Option<&str>, conditions: Vec<AssetCondition>) -> Environment {
    let mut env = Environment::new(
        "e",
        EnvironmentSpec {
            kernel: Some(Kernel {
                url: kernel.map(str::to_owned),
                ..Default::default()
            }),
            initrd: Some(Initrd {
                url: initrd.map(str::to_owned),
                ..Default::default()
            }),
        },
    );
    env.status = Some(EnvironmentStatus {
        conditions: Some(conditions),
    });
    env
}

#[test]
fn environment_readiness() {
    let ready = |url: &str| AssetCondition::ready(url, None, true);
    assert!(env(None, None, vec![]).is_ready(), "no URLs means ready");
    assert!(
        env(Some(""), Some(""), vec![]).is_ready(),
        "empty URLs are ignored"
    );
    assert!(Environment::new("e", EnvironmentSpec::default()).is_ready());
    assert!(!env(Some(KERNEL), Some(INITRD), vec![]).is_ready());
    assert!(!env(Some(KERNEL), Some(INITRD), vec![ready(KERNEL)]).is_ready());
    assert!(
        env(
            Some(KERNEL),
            Some(INITRD),
            vec![ready(KERNEL), ready(INITRD)]
        )
        .is_ready()
    );
    assert!(env(Some(KERNEL), None, vec![ready(KERNEL)]).is_ready());
    let not_ready = AssetCondition::ready(INITRD, None, false);
    assert!(!env(Some(KERNEL), Some(INITRD), vec![ready(KERNEL), not_ready]).is_ready());
    let other_type = AssetCondition {
        type_: "Downloaded".into(),
        ..ready(INITRD)
    };
    assert!(!env(None, Some(INITRD), vec![other_type]).is_ready());
    // A condition for an old URL does not count for the new one.
    assert!(!env(Some(KERNEL), None, vec![ready("http://assets/old")]).is_ready());
}

#[test]
fn default_environment_for_talos_1_13() {
    let talos_args = [
        "init_on_alloc=1",
        "slab_nomerge=",
        "pti=on",
        "consoleblank=0",
        "nvme_core.io_timeout=4294967295",
        "printk.devkmsg=on",
        "selinux=1",
        "module.sig_enforce=1",
        "proc_mem.force_override=never",
    ];
    let spec = EnvironmentSpec::talos_default("v1.13.0", talos_args);
    assert_eq!(
        spec.kernel_url(),
        Some("https://github.com/siderolabs/talos/releases/download/v1.13.0/vmlinuz-amd64")
    );
    assert_eq!(
        spec.initrd_url(),
        Some("https://github.com/siderolabs/talos/releases/download/v1.13.0/initramfs-amd64.xz")
    );
    let expected = [
        "console=tty0",
        "console=ttyS0",
        "consoleblank=0",
        "earlyprintk=ttyS0",
        "init_on_alloc=1",
        "initrd=initramfs.xz",
        "module.sig_enforce=1",
        "nvme_core.io_timeout=4294967295",
        "printk.devkmsg=on",
        "proc_mem.force_override=never",
        "pti=on",
        "selinux=1",
        "slab_nomerge=",
        "talos.platform=metal",
    ];
    assert_eq!(spec.kernel_args(), expected);
    assert_eq!(Environment::DEFAULT, "default");
}

#[test]
fn bmc_defaults_and_credentials() {
    let mut bmc = Bmc {
        endpoint: "10.0.0.1".into(),
        ..Default::default()
    };
    assert_eq!(bmc.port_or_default(), 623);
    assert_eq!(bmc.interface_or_default(), "lanplus");
    assert_eq!(bmc.user(), Credential::Empty);
    bmc.port = Some(0);
    bmc.interface = Some(String::new());
    assert_eq!(bmc.port_or_default(), 623);
    assert_eq!(bmc.interface_or_default(), "lanplus");
    bmc.port = Some(1623);
    bmc.interface = Some("lan".into());
    assert_eq!(bmc.port_or_default(), 1623);
    assert_eq!(bmc.interface_or_default(), "lan");

    let source = CredentialSource {
        secret_key_ref: Some(SecretKeyRef {
            namespace: "default".into(),
            name: "bmc".into(),
            key: "user".into(),
        }),
    };
    bmc.user_from = Some(source.clone());
    bmc.user = Some(String::new());
    assert_eq!(
        bmc.user(),
        Credential::From(&source),
        "empty inline defers to *From"
    );
    bmc.user = Some("admin".into());
    assert_eq!(bmc.user(), Credential::Inline("admin"), "inline wins");
    bmc.pass_from = Some(CredentialSource::default());
    let Credential::From(pass) = bmc.pass() else {
        panic!("expected a reference");
    };
    assert_eq!(pass.secret_key_ref(), Err(MissingSecretKeyRef));
    assert_eq!(MissingSecretKeyRef.to_string(), "missing secretKeyRef");
    assert_eq!(source.secret_key_ref().unwrap().key, "user");
}

#[test]
fn string_enums() {
    for value in BootFromDiskMethod::ALL {
        assert_eq!(
            value.parse::<BootFromDiskMethod>().unwrap().as_str(),
            *value
        );
    }
    for value in PxeMode::ALL {
        assert_eq!(value.parse::<PxeMode>().unwrap().to_string(), *value);
    }
    assert_eq!(
        BootFromDiskMethod::ALL,
        ["ipxe-exit", "http-404", "ipxe-sanboot"]
    );
    assert!("explode".parse::<BootFromDiskMethod>().is_err());
    assert!("UEFI".parse::<PxeMode>().is_err());

    let mut spec = ServerSpec::default();
    assert_eq!(spec.boot_from_disk_method(), Ok(None));
    spec.boot_from_disk_method = Some(String::new());
    assert_eq!(
        spec.boot_from_disk_method(),
        Ok(None),
        "empty means inherit"
    );
    spec.boot_from_disk_method = Some("http-404".into());
    assert_eq!(
        spec.boot_from_disk_method(),
        Ok(Some(BootFromDiskMethod::Http404))
    );
    spec.pxe_mode = Some("bios".into());
    assert_eq!(spec.pxe_mode(), Ok(Some(PxeMode::Bios)));

    let ops = ConfigPatch::VALID_OPS;
    assert_eq!(ops, ["add", "copy", "move", "remove", "replace", "test"]);
}

#[test]
fn server_spec_flags_and_names() {
    let mut spec = ServerSpec::default();
    assert!(!spec.is_cordoned());
    assert!(!spec.is_pxe_boot_always());
    assert_eq!(spec.environment_name(), None);
    spec.cordoned = Some(true);
    spec.pxe_boot_always = Some(true);
    spec.environment_ref = Some(ObjectReference {
        name: Some("custom".into()),
        ..Default::default()
    });
    assert!(spec.is_cordoned());
    assert!(spec.is_pxe_boot_always());
    assert_eq!(spec.environment_name(), Some("custom"));
}

#[test]
fn serverclass_any_and_empty_qualifiers() {
    assert_eq!(ServerClass::ANY, "any");
    let mut qualifiers = Qualifiers::default();
    assert!(qualifiers.is_empty());
    qualifiers.hardware = Some(vec![]);
    qualifiers.label_selectors = Some(vec![]);
    assert!(qualifiers.is_empty());
    qualifiers.hardware = Some(vec![Default::default()]);
    assert!(!qualifiers.is_empty());
}
