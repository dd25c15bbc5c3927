use std::time::Duration;

use sidero_api::metal::v1alpha2::{
    AssetCondition, Environment, EnvironmentSpec, EnvironmentStatus, Initrd, Kernel,
};

use super::*;

const K: &str = "http://127.0.0.1/vmlinuz";
const I: &str = "http://127.0.0.1/initramfs.xz";

fn hash(c: char) -> String {
    std::iter::repeat_n(c, 128).collect()
}

fn spec(
    kernel: Option<(&str, Option<&str>)>,
    initrd: Option<(&str, Option<&str>)>,
) -> EnvironmentSpec {
    EnvironmentSpec {
        kernel: kernel.map(|(url, sha)| Kernel {
            url: Some(url.into()),
            sha512: sha.map(Into::into),
            args: None,
        }),
        initrd: initrd.map(|(url, sha)| Initrd {
            url: Some(url.into()),
            sha512: sha.map(Into::into),
        }),
    }
}

fn status(conditions: Vec<AssetCondition>) -> EnvironmentStatus {
    EnvironmentStatus {
        conditions: Some(conditions),
    }
}

fn kernel(s: &EnvironmentSpec) -> Wanted {
    wanted(s).into_iter().next().unwrap()
}

#[test]
fn wanted_lists_assets_with_urls_kernel_first() {
    let s = spec(Some((K, None)), Some((I, Some("AB"))));
    let w = wanted(&s);
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].asset, w[0].url.as_str()), (Asset::Kernel, K));
    assert_eq!(
        (w[1].asset, w[1].sha512.as_deref()),
        (Asset::Initrd, Some("AB"))
    );
    assert!(missing_urls(&s).is_empty());

    let only_initrd = spec(Some(("", None)), Some((I, None)));
    assert_eq!(wanted(&only_initrd).len(), 1);
    assert_eq!(missing_urls(&only_initrd), vec![Asset::Kernel]);
    assert_eq!(
        missing_urls(&EnvironmentSpec::default()),
        Asset::ALL.to_vec()
    );
    assert_eq!(Asset::Kernel.file_name(), "vmlinuz");
    assert_eq!(Asset::Initrd.file_name(), "initramfs.xz");
}

#[test]
fn missing_file_is_downloaded_even_when_status_says_ready() {
    let s = spec(Some((K, None)), None);
    let st = status(vec![AssetCondition::ready(K, None, true)]);
    assert_eq!(
        decide(&kernel(&s), Some(&st), false),
        Decision::Download(Why::FileMissing)
    );
    assert_eq!(
        decide(&kernel(&s), None, false),
        Decision::Download(Why::FileMissing)
    );
}

#[test]
fn existing_file_with_ready_condition_for_the_url_is_up_to_date() {
    let s = spec(Some((K, None)), None);
    let st = status(vec![AssetCondition::ready(K, None, true)]);
    assert_eq!(decide(&kernel(&s), Some(&st), true), Decision::UpToDate);
}

#[test]
fn existing_file_without_ready_true_is_downloaded_again() {
    // Upstream would treat any condition with the URL as ready; we need Ready=True.
    let s = spec(Some((K, None)), None);
    let failed = status(vec![AssetCondition::ready(K, None, false)]);
    assert_eq!(
        decide(&kernel(&s), Some(&failed), true),
        Decision::Download(Why::NotReady)
    );
    assert_eq!(
        decide(&kernel(&s), None, true),
        Decision::Download(Why::UrlChanged)
    );
    let other_type = status(vec![AssetCondition {
        type_: "Other".into(),
        ..AssetCondition::ready(K, None, true)
    }]);
    assert_eq!(
        decide(&kernel(&s), Some(&other_type), true),
        Decision::Download(Why::NotReady)
    );
}

#[test]
fn url_change_is_downloaded() {
    let s = spec(Some((K, None)), None);
    let st = status(vec![AssetCondition::ready(
        "http://127.0.0.1/old",
        None,
        true,
    )]);
    assert_eq!(
        decide(&kernel(&s), Some(&st), true),
        Decision::Download(Why::UrlChanged)
    );
}

#[test]
fn sha512_change_is_downloaded_and_case_does_not_matter() {
    let lower = hash('a');
    let upper = hash('A');
    let s = spec(Some((K, Some(&upper))), None);
    let same = status(vec![AssetCondition::ready(K, Some(&lower), true)]);
    assert_eq!(decide(&kernel(&s), Some(&same), true), Decision::UpToDate);
    let other = status(vec![AssetCondition::ready(K, Some(&hash('b')), true)]);
    assert_eq!(
        decide(&kernel(&s), Some(&other), true),
        Decision::Download(Why::NotReady)
    );
    let none = status(vec![AssetCondition::ready(K, None, true)]);
    assert_eq!(
        decide(&kernel(&s), Some(&none), true),
        Decision::Download(Why::NotReady)
    );
    // An empty sha512 is no sha512.
    let empty = spec(Some((K, Some(""))), None);
    assert_eq!(
        decide(&kernel(&empty), Some(&none), true),
        Decision::UpToDate
    );
}

#[test]
fn invalid_sha512_is_refused_before_downloading() {
    for bad in ["abc", &hash('g'), &format!("{}0", hash('a'))] {
        let s = spec(Some((K, Some(bad))), None);
        assert!(matches!(
            decide(&kernel(&s), None, false),
            Decision::Invalid(_)
        ));
    }
    assert_eq!(
        normalize_sha512(Some(&format!(" {} ", hash('F')))).unwrap(),
        Some(hash('f'))
    );
    assert_eq!(normalize_sha512(Some("  ")).unwrap(), None);
}

#[test]
fn conditions_echo_url_and_hash_in_asset_order() {
    let s = spec(Some((K, None)), Some((I, Some("X"))));
    let c = conditions(&wanted(&s), |i| i == 0);
    assert_eq!(
        c,
        vec![
            AssetCondition::ready(K, None, true),
            AssetCondition::ready(I, Some("X"), false),
        ]
    );
    // The published conditions make the readiness rule hold exactly when all are true.
    let env = |c| Environment {
        metadata: Default::default(),
        spec: s.clone(),
        status: Some(status(c)),
    };
    assert!(!env(c).is_ready());
    assert!(env(conditions(&wanted(&s), |_| true)).is_ready());
}

#[test]
fn reserved_and_unusable_names() {
    assert!(unusable_name("agent-amd64").is_some());
    assert!(unusable_name("agent-arm64").is_some());
    assert!(unusable_name("..").is_some());
    assert!(unusable_name("a/b").is_some());
    assert!(unusable_name("default").is_none());
    assert!(unusable_name("agent").is_none());
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let (min, max) = (Duration::from_secs(5), Duration::from_secs(300));
    let got: Vec<u64> = (1..=9).map(|a| backoff(a, min, max).as_secs()).collect();
    assert_eq!(got, vec![5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(backoff(0, min, max), min);
    assert_eq!(backoff(u32::MAX, min, max), max);
}

#[test]
fn default_spec_for_talos_1_13_is_exactly_the_documented_list() {
    assert_eq!(
        talos_default_args("v1.13.0"),
        sidero_netboot::args::TALOS_DEFAULT_ARGS.to_vec()
    );
    let s = default_spec("v1.13.0");
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
    assert_eq!(s.kernel_args(), expected);
    assert_eq!(
        s.kernel_url(),
        Some("https://github.com/siderolabs/talos/releases/download/v1.13.0/vmlinuz-amd64")
    );
    assert_eq!(
        s.initrd_url(),
        Some("https://github.com/siderolabs/talos/releases/download/v1.13.0/initramfs-amd64.xz")
    );
}

#[test]
fn talos_default_args_follow_the_release_quirks() {
    let has = |release: &str, arg: &str| talos_default_args(release).contains(&arg);
    assert!(has("v1.9.5", "ima_hash=sha512") && !has("v1.9.5", "selinux=1"));
    assert!(has("v1.10.0", "ima_hash=sha512") && has("v1.10.0", "selinux=1"));
    assert!(!has("v1.11.0", "ima_hash=sha512") && !has("v1.11.0", "module.sig_enforce=1"));
    assert!(has("v1.12.3", "module.sig_enforce=1"));
    assert!(!has("v1.12.3", "proc_mem.force_override=never"));
    assert!(has("1.13.0-beta.1", "proc_mem.force_override=never"));
    assert!(has("v1.14", "proc_mem.force_override=never"));
    // Unparseable releases are taken as the latest.
    assert_eq!(talos_default_args("latest"), talos_default_args("v1.13.0"));
}

#[test]
fn default_spec_from_a_mirror() {
    let spec = default_spec_from("http://mirror.local/talos/", "v1.13.0");
    assert_eq!(
        spec.kernel_url(),
        Some("http://mirror.local/talos/v1.13.0/vmlinuz-amd64")
    );
    assert_eq!(
        spec.initrd_url(),
        Some("http://mirror.local/talos/v1.13.0/initramfs-amd64.xz")
    );
    assert_eq!(spec.kernel_args(), default_spec("v1.13.0").kernel_args());
}
