//! The RMCP+ client against an in-process fake BMC: cipher suite 17 (which `ipmi_sim`
//! lacks), exact Set System Boot Options bytes, retransmission and hostile noise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::fake_bmc::{FakeBmc, FakeConfig, Received};
use sidero_power::{
    BootMode, IpmiClient, IpmiConfig, PowerError, PowerManager, PowerState, SessionCache, Step,
};

fn client(bmc: &FakeBmc, cfg: &FakeConfig, suites: &[u8]) -> IpmiClient {
    let conf = IpmiConfig {
        timeout: Duration::from_millis(250),
        retries: 2,
        cipher_suites: suites.to_vec(),
        ..IpmiConfig::default()
    };
    IpmiClient::new(
        "127.0.0.1",
        bmc.addr.port(),
        &cfg.user,
        &cfg.password,
        conf,
        SessionCache::new(),
    )
    .unwrap()
}

fn received(bmc: &FakeBmc) -> Vec<Received> {
    bmc.shared.lock().unwrap().received.clone()
}

fn chassis_0x08(bmc: &FakeBmc) -> Vec<Vec<u8>> {
    received(bmc)
        .into_iter()
        .filter(|r| (r.netfn, r.cmd) == (0x00, 0x08))
        .map(|r| r.data)
        .collect()
}

#[tokio::test]
async fn suite17_session_power_operations() {
    let cfg = FakeConfig {
        suites: vec![17],
        ..FakeConfig::default()
    };
    let bmc = FakeBmc::start(cfg.clone()).await;
    let c = client(&bmc, &cfg, &[17, 3]);
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    c.power_on().await.unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
    c.power_off().await.unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    c.power_cycle().await.unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
    assert_eq!(bmc.shared.lock().unwrap().sessions, vec![17]);
    let r = received(&bmc);
    // Privilege raised to Administrator right after activation, before anything else.
    assert_eq!(
        (r[0].netfn, r[0].cmd, r[0].data.clone()),
        (0x06, 0x3B, vec![0x04])
    );
    let controls: Vec<_> = r
        .iter()
        .filter(|x| (x.netfn, x.cmd) == (0, 2))
        .map(|x| x.data.clone())
        .collect();
    assert_eq!(controls, [[0x01], [0x00], [0x02]]);
    // Session sequence numbers increase by one per packet.
    assert!(r.windows(2).all(|w| w[1].seq == w[0].seq + 1), "{r:?}");
    c.cache().close_all().await;
    assert_eq!(
        received(&bmc).last().map(|x| (x.netfn, x.cmd)),
        Some((0x06, 0x3C))
    );
}

#[tokio::test]
async fn boot_options_sequence_bytes_for_bios_uefi_and_disk() {
    let cfg = FakeConfig::default();
    let bmc = FakeBmc::start(cfg.clone()).await;
    let c = client(&bmc, &cfg, &[17]);
    c.set_pxe_once(BootMode::Bios).await.unwrap();
    c.set_pxe_once(BootMode::Uefi).await.unwrap();
    c.set_boot_disk_once(BootMode::Bios).await.unwrap();
    let seq = |flags: u8, dev: u8| {
        vec![
            vec![0, 1],
            vec![4, 1, 1],
            vec![5, flags, dev, 0, 0, 0],
            vec![0, 2],
            vec![0, 0],
        ]
    };
    let want: Vec<Vec<u8>> = [seq(0x80, 0x04), seq(0xA0, 0x04), seq(0x80, 0x08)].concat();
    assert_eq!(chassis_0x08(&bmc), want);
}

#[tokio::test]
async fn refused_set_in_progress_skips_the_handshake() {
    let cfg = FakeConfig {
        refuse_set_in_progress: true,
        ..FakeConfig::default()
    };
    let bmc = FakeBmc::start(cfg.clone()).await;
    let c = client(&bmc, &cfg, &[17]);
    c.set_pxe_once(BootMode::Uefi).await.unwrap();
    assert_eq!(
        chassis_0x08(&bmc),
        [vec![0, 1], vec![4, 1, 1], vec![5, 0xA0, 4, 0, 0, 0]]
    );
}

#[tokio::test]
async fn lost_packets_are_retransmitted_with_new_session_seq_and_same_rq_seq() {
    let cfg = FakeConfig {
        drop_first: 2,
        ..FakeConfig::default()
    };
    let bmc = FakeBmc::start(cfg.clone()).await;
    let c = client(&bmc, &cfg, &[17]);
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    let r = received(&bmc);
    // Set Session Privilege Level sent three times: same rqSeq, seq 1, 2, 3.
    let privs: Vec<_> = r
        .iter()
        .filter(|x| x.cmd == 0x3B)
        .map(|x| (x.seq, x.rq_seq))
        .collect();
    assert_eq!(privs.len(), 3);
    assert!(privs.iter().all(|p| p.1 == privs[0].1));
    assert_eq!(privs.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2, 3]);
}

#[tokio::test]
async fn forged_and_garbage_answers_are_ignored() {
    let cfg = FakeConfig {
        noise: true,
        ..FakeConfig::default()
    };
    let bmc = FakeBmc::start(cfg.clone()).await;
    let c = client(&bmc, &cfg, &[17]);
    c.power_on().await.unwrap();
    c.set_pxe_once(BootMode::Bios).await.unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
}

#[tokio::test]
async fn replayed_answers_with_old_sequence_numbers_are_ignored() {
    let cfg = FakeConfig {
        replay: true,
        ..FakeConfig::default()
    };
    let bmc = FakeBmc::start(cfg.clone()).await;
    let c = client(&bmc, &cfg, &[17]);
    for _ in 0..3 {
        assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    }
    c.power_on().await.unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
}

#[tokio::test]
async fn suite3_only_bmc_gets_suite3_and_wrong_password_fails_for_17() {
    let cfg = FakeConfig {
        suites: vec![3],
        ..FakeConfig::default()
    };
    let bmc = FakeBmc::start(cfg.clone()).await;
    client(&bmc, &cfg, &[17, 3]).power_status().await.unwrap();
    assert_eq!(bmc.shared.lock().unwrap().sessions, vec![3]);

    let cfg17 = FakeConfig::default();
    let bmc17 = FakeBmc::start(cfg17.clone()).await;
    let bad = FakeConfig {
        password: "nope".into(),
        ..cfg17
    };
    let err = client(&bmc17, &bad, &[17]).power_on().await.unwrap_err();
    assert!(
        matches!(
            err,
            PowerError::Auth {
                step: Step::Rakp12,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!bmc17.shared.lock().unwrap().power);
}
