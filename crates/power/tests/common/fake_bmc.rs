//! An in-process RMCP+ BMC built from the crate's own codec, for what `ipmi_sim` cannot do:
//! cipher suite 17 (HMAC-SHA256), exact boot-flag bytes, dropped packets and hostile noise.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sidero_power::ipmi::codec::{
    LanMessage, OpenSessionRequest, OpenSessionResponse, PayloadType, Rakp1, Rakp2, Rakp3, Rakp4,
    SecureChannel, SessionHeader, encode_v15, encode_v20_unauthenticated, parse_packet,
};
use sidero_power::ipmi::crypto::{CipherSuite, RakpParams, SessionKeys, ct_eq};
use tokio::net::UdpSocket;

/// Behaviour knobs.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Cipher suites accepted.
    pub suites: Vec<u8>,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Drop this many in-session requests before answering (tests retransmission).
    pub drop_first: usize,
    /// Answer "set in progress" with completion code 0x80.
    pub refuse_set_in_progress: bool,
    /// Send a forged (bad AuthCode) and a garbage datagram before each real answer.
    pub noise: bool,
    /// Before each real answer, send a genuine-looking one with an old sequence number (1)
    /// and the first data byte flipped (a replay).
    pub replay: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            suites: vec![17, 3],
            user: "admin".into(),
            password: "pw-17".into(),
            drop_first: 0,
            refuse_set_in_progress: false,
            noise: false,
            replay: false,
        }
    }
}

/// One in-session request the BMC received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Session sequence number of the packet.
    pub seq: u32,
    /// IPMI rqSeq.
    pub rq_seq: u8,
    /// Network function.
    pub netfn: u8,
    /// Command.
    pub cmd: u8,
    /// Request data.
    pub data: Vec<u8>,
}

/// Observable state.
#[derive(Debug, Default)]
pub struct Shared {
    /// In-session requests, in order (including dropped ones).
    pub received: Vec<Received>,
    /// Suites of sessions that completed RAKP.
    pub sessions: Vec<u8>,
    /// Power state.
    pub power: bool,
}

struct Pending {
    console_id: u32,
    suite: CipherSuite,
    rakp1: Option<(Rakp1, [u8; 16])>,
    chan: Option<SecureChannel>,
    privilege: u8,
    seq: u32,
}

/// A running fake BMC; stops on drop.
pub struct FakeBmc {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBmc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const GUID: [u8; 16] = *b"fake-bmc-guid-01";

impl FakeBmc {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start(cfg: FakeConfig) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = sock.local_addr().expect("addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s2 = shared.clone();
        let task = tokio::spawn(async move {
            let mut st = State {
                cfg,
                shared: s2,
                sessions: HashMap::new(),
                next_id: 0x1000,
                dropped: 0,
            };
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                for reply in st.handle(&buf[..n]) {
                    let _ = sock.send_to(&reply, peer).await;
                }
            }
        });
        Self { addr, shared, task }
    }
}

struct State {
    cfg: FakeConfig,
    shared: Arc<Mutex<Shared>>,
    sessions: HashMap<u32, Pending>,
    next_id: u32,
    dropped: usize,
}

impl State {
    fn handle(&mut self, d: &[u8]) -> Vec<Vec<u8>> {
        // Authenticated RMCP+ packet: the session (and so the AuthCode length) comes first.
        if d.len() > 10 && d[4] == 0x06 && d[5] & 0x40 != 0 {
            let id = u32::from_le_bytes([d[6], d[7], d[8], d[9]]);
            return self.in_session(id, d);
        }
        let Ok(p) = parse_packet(d, 0) else {
            return vec![];
        };
        match p.header {
            SessionHeader::V15 { .. } => {
                let Ok(req) = LanMessage::parse(p.payload) else {
                    return vec![];
                };
                // Get Channel Authentication Capabilities: IPMI v2.0 supported.
                let resp =
                    LanMessage::response_to(&req, 0, &[0x01, 0x80 | 0x14, 0x00, 0x02, 0, 0, 0, 0]);
                vec![encode_v15(0, 0, &resp.encode()).expect("v15")]
            }
            SessionHeader::V20 {
                payload_type: PayloadType::OpenSessionRequest,
                ..
            } => self.open_session(p.payload),
            SessionHeader::V20 {
                payload_type: PayloadType::Rakp1,
                ..
            } => self.rakp1(p.payload),
            SessionHeader::V20 {
                payload_type: PayloadType::Rakp3,
                ..
            } => self.rakp3(p.payload),
            SessionHeader::V20 { session_id, .. } => self.in_session(session_id, d),
        }
    }

    fn open_session(&mut self, payload: &[u8]) -> Vec<Vec<u8>> {
        let Ok(req) = OpenSessionRequest::parse(payload) else {
            return vec![];
        };
        let suite = CipherSuite::from_algorithms(req.auth_alg, req.integrity_alg, req.conf_alg)
            .filter(|s| self.cfg.suites.contains(&s.id));
        let mut resp = OpenSessionResponse {
            tag: req.tag,
            status: 0,
            max_privilege: 4,
            console_session_id: req.console_session_id,
            bmc_session_id: 0,
            auth_alg: req.auth_alg,
            integrity_alg: req.integrity_alg,
            conf_alg: req.conf_alg,
        };
        match suite {
            None => {
                resp.status = 0x11;
                let mut b = resp.encode();
                b.truncate(8);
                return vec![
                    encode_v20_unauthenticated(PayloadType::OpenSessionResponse, 0, 0, &b)
                        .expect("enc"),
                ];
            }
            Some(suite) => {
                self.next_id += 1;
                resp.bmc_session_id = self.next_id;
                self.sessions.insert(
                    self.next_id,
                    Pending {
                        console_id: req.console_session_id,
                        suite,
                        rakp1: None,
                        chan: None,
                        privilege: 2,
                        seq: 0,
                    },
                );
            }
        }
        vec![
            encode_v20_unauthenticated(PayloadType::OpenSessionResponse, 0, 0, &resp.encode())
                .expect("enc"),
        ]
    }

    fn rakp1(&mut self, payload: &[u8]) -> Vec<Vec<u8>> {
        let Ok(m) = Rakp1::parse(payload) else {
            return vec![];
        };
        let Some(s) = self.sessions.get_mut(&m.bmc_session_id) else {
            return vec![];
        };
        let bmc_random = [0x5Au8; 16];
        let mut r2 = Rakp2 {
            tag: m.tag,
            status: 0,
            console_session_id: s.console_id,
            bmc_random,
            bmc_guid: GUID,
            auth_code: vec![],
        };
        if m.user != self.cfg.user.as_bytes() {
            r2.status = 0x0D;
        } else {
            let params = RakpParams {
                console_session_id: s.console_id,
                bmc_session_id: m.bmc_session_id,
                console_random: &m.console_random,
                bmc_random: &bmc_random,
                bmc_guid: &GUID,
                role: m.role,
                user: &m.user,
            };
            r2.auth_code = params.rakp2_auth_code(s.suite.auth, self.cfg.password.as_bytes());
            s.rakp1 = Some((m, bmc_random));
        }
        vec![encode_v20_unauthenticated(PayloadType::Rakp2, 0, 0, &r2.encode()).expect("enc")]
    }

    fn rakp3(&mut self, payload: &[u8]) -> Vec<Vec<u8>> {
        let Ok(m) = Rakp3::parse(payload) else {
            return vec![];
        };
        let Some(s) = self.sessions.get_mut(&m.bmc_session_id) else {
            return vec![];
        };
        let Some((r1, bmc_random)) = &s.rakp1 else {
            return vec![];
        };
        let params = RakpParams {
            console_session_id: s.console_id,
            bmc_session_id: m.bmc_session_id,
            console_random: &r1.console_random,
            bmc_random,
            bmc_guid: &GUID,
            role: r1.role,
            user: &r1.user,
        };
        let pw = self.cfg.password.as_bytes();
        let mut r4 = Rakp4 {
            tag: m.tag,
            status: 0,
            console_session_id: s.console_id,
            icv: vec![],
        };
        if ct_eq(&params.rakp3_auth_code(s.suite.auth, pw), &m.auth_code) {
            let sik = params.session_integrity_key(s.suite.auth, pw);
            r4.icv = params.rakp4_icv(s.suite.auth, &sik);
            s.chan = Some(SecureChannel {
                keys: SessionKeys::derive(s.suite, &sik),
                peer_session_id: s.console_id,
                own_session_id: m.bmc_session_id,
            });
            self.shared.lock().expect("lock").sessions.push(s.suite.id);
        } else {
            r4.status = 0x0F;
        }
        vec![encode_v20_unauthenticated(PayloadType::Rakp4, 0, 0, &r4.encode()).expect("enc")]
    }

    fn in_session(&mut self, session_id: u32, d: &[u8]) -> Vec<Vec<u8>> {
        let Some(s) = self.sessions.get_mut(&session_id) else {
            return vec![];
        };
        let Some(chan) = s.chan.clone() else {
            return vec![];
        };
        let Ok(opened) = chan.open(d) else {
            return vec![];
        };
        let Ok(req) = LanMessage::parse(&opened.payload) else {
            return vec![];
        };
        let mut shared = self.shared.lock().expect("lock");
        shared.received.push(Received {
            seq: opened.seq,
            rq_seq: req.seq,
            netfn: req.netfn,
            cmd: req.cmd,
            data: req.body.clone(),
        });
        if self.dropped < self.cfg.drop_first {
            self.dropped += 1;
            return vec![];
        }
        let (cc, data): (u8, Vec<u8>) = match (req.netfn, req.cmd) {
            (0x06, 0x3B) => {
                s.privilege = req.body.first().copied().unwrap_or(0);
                (0, vec![s.privilege])
            }
            (0x06, 0x3C) => (0, vec![]),
            (0x00, 0x01) => (0, vec![u8::from(shared.power), 0, 0, 0]),
            (0x00, _) if s.privilege < 4 => (0xD4, vec![]),
            (0x00, 0x02) => {
                shared.power = req.body.first() != Some(&0);
                (0, vec![])
            }
            (0x00, 0x08) if self.cfg.refuse_set_in_progress && req.body == [0, 1] => (0x80, vec![]),
            (0x00, 0x08) => (0, vec![]),
            _ => (0xC1, vec![]),
        };
        s.seq += 1;
        let resp = LanMessage::response_to(&req, cc, &data).encode();
        let mut out = Vec::new();
        if self.cfg.noise {
            // A forged packet (right session, wrong keys) and plain garbage: both ignored.
            let forged = SecureChannel {
                keys: SessionKeys::derive(s.suite, b"attacker"),
                ..chan.clone()
            };
            out.push(
                forged
                    .seal(PayloadType::Ipmi, s.seq, &resp, [1; 16])
                    .expect("seal"),
            );
            out.push(vec![0x06, 0, 0xFF, 0x07, 0x06, 0xC0, 0xFF, 0xFF]);
        }
        if self.cfg.replay && s.seq > 1 {
            let mut flipped = data.clone();
            if let Some(b) = flipped.first_mut() {
                *b ^= 1;
            }
            let old = LanMessage::response_to(&req, cc, &flipped).encode();
            out.push(
                chan.seal(PayloadType::Ipmi, 1, &old, [2; 16])
                    .expect("seal"),
            );
        }
        out.push(
            chan.seal(PayloadType::Ipmi, s.seq, &resp, [s.seq as u8; 16])
                .expect("seal"),
        );
        if (req.netfn, req.cmd) == (0x06, 0x3C) {
            self.sessions.remove(&session_id);
        }
        out
    }
}
