//! An RMCP+ session with one BMC: establishment (Get Channel Authentication Capabilities,
//! Open Session, RAKP 1–4, key derivation, Set Session Privilege Level to Administrator),
//! IPMI requests inside the session, and Close Session.

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::codec::{
    LanMessage, NETFN_APP, OpenSessionRequest, OpenSessionResponse, PayloadType,
    ROLE_NAME_ONLY_LOOKUP, Rakp1, Rakp2, Rakp3, Rakp4, SecureChannel, encode_v20_unauthenticated,
};
use super::crypto::{CONF_AES_CBC_128, CipherSuite, RakpParams, SessionKeys, ct_eq};
use super::presession::{
    PRIV_ADMIN, Plain, auth, channel_auth_capabilities, open_session_result, rmcp_plus,
};
use super::transport::{Exchange, Timing, Verdict, exchange};
use crate::error::{PowerError, Step, rmcp_status_text};

/// Fills a buffer with OS randomness.
fn random<const N: usize>(target: &str) -> Result<[u8; N], PowerError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| PowerError::Io {
        target: target.to_owned(),
        step: Step::Connect,
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(b)
}

/// What establishing a session needs.
pub(crate) struct Login<'a> {
    /// `BMC host:port`, for errors.
    pub target: &'a str,
    /// Resolved address.
    pub addr: SocketAddr,
    /// Cipher suite to propose.
    pub suite: CipherSuite,
    /// User name.
    pub user: &'a [u8],
    /// Password (Kuid).
    pub password: &'a [u8],
    /// Exchange timing.
    pub timing: &'a Timing,
}

/// An active session. `Debug` shows no key material.
#[derive(Debug)]
pub(crate) struct Session {
    sock: UdpSocket,
    target: String,
    chan: SecureChannel,
    timing: Timing,
    seq: u32,
    /// Highest session sequence number seen from the BMC (replay protection).
    inbound_seq: u32,
    rq_seq: u8,
    /// When the session last carried a successful exchange.
    pub last_used: Instant,
}

impl Session {
    /// Establishes a session and raises its privilege to Administrator.
    pub(crate) async fn establish(l: &Login<'_>) -> Result<Self, PowerError> {
        let t = l.target;
        let io = |step, source| PowerError::Io {
            target: t.to_owned(),
            step,
            source,
        };
        let local: SocketAddr = if l.addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| io(Step::Connect, e))?;
        sock.connect(l.addr)
            .await
            .map_err(|e| io(Step::Connect, e))?;

        channel_auth_capabilities(&sock, t, l.timing).await?;

        // Open Session.
        let console_session_id = loop {
            let id = u32::from_le_bytes(random::<4>(t)?);
            if id != 0 {
                break id;
            }
        };
        let req = OpenSessionRequest {
            tag: 0,
            max_privilege: PRIV_ADMIN,
            console_session_id,
            auth_alg: l.suite.auth.wire(),
            integrity_alg: l.suite.integrity.wire(),
            conf_alg: CONF_AES_CBC_128,
        };
        let packet =
            encode_v20_unauthenticated(PayloadType::OpenSessionRequest, 0, 0, &req.encode())
                .map_err(|e| PowerError::codec(t, Step::OpenSession, &e))?;
        let suite = l.suite;
        let resp = exchange(
            &sock,
            t,
            Step::OpenSession,
            l.timing,
            &mut Plain {
                packet,
                judge: |d: &[u8]| {
                    let r = match rmcp_plus(d, PayloadType::OpenSessionResponse)
                        .and_then(|p| OpenSessionResponse::parse(p).map_err(|e| e.to_string()))
                    {
                        Ok(r) if r.tag == 0 => r,
                        Ok(_) => return Verdict::Ignore("stale message tag".into()),
                        Err(e) => return Verdict::Ignore(e),
                    };
                    Verdict::Done(open_session_result(t, suite, console_session_id, r))
                },
            },
        )
        .await?;

        // RAKP 1 / 2.
        let console_random = random::<16>(t)?;
        let role = ROLE_NAME_ONLY_LOOKUP | PRIV_ADMIN;
        let rakp1 = Rakp1 {
            tag: 1,
            bmc_session_id: resp.bmc_session_id,
            console_random,
            role,
            user: l.user.to_vec(),
        };
        let packet = rakp1
            .encode()
            .and_then(|p| encode_v20_unauthenticated(PayloadType::Rakp1, 0, 0, &p))
            .map_err(|e| PowerError::codec(t, Step::Rakp12, &e))?;
        let rakp2 = exchange(&sock, t, Step::Rakp12, l.timing, &mut Plain {
            packet,
            judge: |d: &[u8]| match rmcp_plus(d, PayloadType::Rakp2)
                .and_then(|p| Rakp2::parse(p).map_err(|e| e.to_string()))
            {
                Ok(r) if r.tag != 1 => Verdict::Ignore("stale message tag".into()),
                Ok(r) if r.status != 0 => Verdict::Done(Err(auth(t, Step::Rakp12, format!(
                    "BMC refused RAKP 1 with RMCP+ status {:#04x} ({}); check the user name",
                    r.status, rmcp_status_text(r.status))))),
                Ok(r) if r.console_session_id != console_session_id => {
                    Verdict::Ignore("RAKP 2 for another session".into())
                }
                Ok(r) => Verdict::Done(Ok(r)),
                Err(e) => Verdict::Ignore(e),
            },
        })
        .await?;
        let params = RakpParams {
            console_session_id,
            bmc_session_id: resp.bmc_session_id,
            console_random: &console_random,
            bmc_random: &rakp2.bmc_random,
            bmc_guid: &rakp2.bmc_guid,
            role,
            user: l.user,
        };
        let alg = l.suite.auth;
        if !ct_eq(&params.rakp2_auth_code(alg, l.password), &rakp2.auth_code) {
            return Err(auth(
                t,
                Step::Rakp12,
                "RAKP 2 key exchange code does not match: wrong password".into(),
            ));
        }

        // RAKP 3 / 4.
        let sik = params.session_integrity_key(alg, l.password);
        let rakp3 = Rakp3 {
            tag: 2,
            status: 0,
            bmc_session_id: resp.bmc_session_id,
            auth_code: params.rakp3_auth_code(alg, l.password),
        };
        let packet = encode_v20_unauthenticated(PayloadType::Rakp3, 0, 0, &rakp3.encode())
            .map_err(|e| PowerError::codec(t, Step::Rakp34, &e))?;
        let expected_icv = params.rakp4_icv(alg, &sik);
        exchange(
            &sock,
            t,
            Step::Rakp34,
            l.timing,
            &mut Plain {
                packet,
                judge: |d: &[u8]| match rmcp_plus(d, PayloadType::Rakp4)
                    .and_then(|p| Rakp4::parse(p).map_err(|e| e.to_string()))
                {
                    Ok(r) if r.tag != 2 => Verdict::Ignore("stale message tag".into()),
                    Ok(r) if r.status != 0 => Verdict::Done(Err(auth(
                        t,
                        Step::Rakp34,
                        format!(
                            "BMC refused RAKP 3 with RMCP+ status {:#04x} ({})",
                            r.status,
                            rmcp_status_text(r.status)
                        ),
                    ))),
                    Ok(r) if r.console_session_id != console_session_id => {
                        Verdict::Ignore("RAKP 4 for another session".into())
                    }
                    Ok(r) if !ct_eq(&expected_icv, &r.icv) => Verdict::Done(Err(auth(
                        t,
                        Step::Rakp34,
                        "RAKP 4 integrity check value does not match".into(),
                    ))),
                    Ok(_) => Verdict::Done(Ok(())),
                    Err(e) => Verdict::Ignore(e),
                },
            },
        )
        .await?;

        let mut session = Self {
            sock,
            target: t.to_owned(),
            chan: SecureChannel {
                keys: SessionKeys::derive(l.suite, &sik),
                peer_session_id: resp.bmc_session_id,
                own_session_id: console_session_id,
            },
            timing: l.timing.clone(),
            seq: 0,
            inbound_seq: 0,
            rq_seq: 0,
            last_used: Instant::now(),
        };
        // Sessions start at User privilege; chassis control needs Administrator.
        session
            .request(Step::SetSessionPrivilege, NETFN_APP, 0x3B, &[PRIV_ADMIN])
            .await?;
        tracing::debug!(
            target_bmc = t,
            suite = l.suite.id,
            "RMCP+ session established"
        );
        Ok(session)
    }

    /// Sends one IPMI request in the session; returns the response data after a zero
    /// completion code.
    pub(crate) async fn request(
        &mut self,
        step: Step,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, PowerError> {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let req = LanMessage::request(netfn, cmd, self.rq_seq, data);
        let mut ex = InSession {
            chan: &self.chan,
            seq: &mut self.seq,
            inbound_seq: &mut self.inbound_seq,
            target: &self.target,
            step,
            msg: req.encode(),
            req,
        };
        let out = exchange(&self.sock, &self.target, step, &self.timing, &mut ex).await?;
        self.last_used = Instant::now();
        Ok(out)
    }

    /// Closes the session (best effort: one attempt).
    pub(crate) async fn close(mut self) {
        self.timing.retries = 0;
        let id = self.chan.peer_session_id.to_le_bytes();
        if let Err(e) = self.request(Step::CloseSession, NETFN_APP, 0x3C, &id).await {
            tracing::debug!(target_bmc = self.target, error = %e, "close session failed");
        }
    }

    /// Sends Close Session without waiting for the answer: for sessions idle so long that
    /// the BMC has probably timed them out already (waiting would only cost a timeout).
    pub(crate) async fn abandon(mut self) {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let id = self.chan.peer_session_id.to_le_bytes();
        let req = LanMessage::request(NETFN_APP, 0x3C, self.rq_seq, &id);
        let mut ex = InSession {
            chan: &self.chan,
            seq: &mut self.seq,
            inbound_seq: &mut self.inbound_seq,
            target: &self.target,
            step: Step::CloseSession,
            msg: req.encode(),
            req,
        };
        if let Ok(pkt) = ex.packet(0) {
            let _ = self.sock.send(&pkt).await;
        }
    }
}

/// An IPMI request inside the session.
struct InSession<'a> {
    chan: &'a SecureChannel,
    seq: &'a mut u32,
    inbound_seq: &'a mut u32,
    target: &'a str,
    step: Step,
    req: LanMessage,
    msg: Vec<u8>,
}

impl Exchange for InSession<'_> {
    type Output = Vec<u8>;

    fn packet(&mut self, _attempt: u32) -> Result<Vec<u8>, PowerError> {
        // Every transmission, retries included, gets the next session sequence number;
        // the IPMI rqSeq stays the same.
        *self.seq = self.seq.wrapping_add(1).max(1);
        let iv = random::<16>(self.target)?;
        self.chan
            .seal(PayloadType::Ipmi, *self.seq, &self.msg, iv)
            .map_err(|e| PowerError::codec(self.target, self.step, &e))
    }

    fn accept(&mut self, datagram: &[u8]) -> Verdict<Vec<u8>> {
        let opened = match self.chan.open(datagram) {
            // The BMC's sequence numbers must increase: an older authenticated packet is a
            // replay (BMCs that always send 0 are tolerated).
            Ok(o) if o.seq != 0 && o.seq <= *self.inbound_seq => {
                return Verdict::Ignore(format!("replayed session sequence number {}", o.seq));
            }
            Ok(o) if o.payload_type == PayloadType::Ipmi => o,
            Ok(o) => return Verdict::Ignore(format!("payload type {:?}", o.payload_type)),
            Err(e) => return Verdict::Ignore(e.to_string()),
        };
        let msg = match LanMessage::parse(&opened.payload) {
            Ok(m) if m.answers(&self.req) => m,
            Ok(_) => return Verdict::Ignore("stale or foreign response".into()),
            Err(e) => return Verdict::Ignore(e.to_string()),
        };
        *self.inbound_seq = (*self.inbound_seq).max(opened.seq);
        match msg.completion_code() {
            Some(0) => Verdict::Done(Ok(msg.response_data().to_vec())),
            code => Verdict::Done(Err(PowerError::Completion {
                target: self.target.to_owned(),
                step: self.step,
                code: code.unwrap_or(0xFF),
            })),
        }
    }
}
