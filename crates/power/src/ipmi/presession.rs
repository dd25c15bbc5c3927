//! Messages exchanged before a session exists: Get Channel Authentication Capabilities
//! (IPMI v1.5 framing) and the checks applied to RMCP+ session-setup answers.

use tokio::net::UdpSocket;

use super::codec::{
    LanMessage, NETFN_APP, OpenSessionResponse, PayloadType, SessionHeader, encode_v15,
    parse_packet,
};
use super::crypto::CipherSuite;
use super::transport::{Exchange, Timing, Verdict, exchange};
use crate::error::{PowerError, Step};

/// Privilege level Administrator.
pub(crate) const PRIV_ADMIN: u8 = 0x04;

/// A pre-session exchange: fixed packet, answer judged by a closure.
pub(crate) struct Plain<F> {
    /// The datagram (re)sent.
    pub packet: Vec<u8>,
    /// Judges each answer.
    pub judge: F,
}

impl<T, F: FnMut(&[u8]) -> Verdict<T>> Exchange for Plain<F> {
    type Output = T;
    fn packet(&mut self, _attempt: u32) -> Result<Vec<u8>, PowerError> {
        Ok(self.packet.clone())
    }
    fn accept(&mut self, datagram: &[u8]) -> Verdict<T> {
        (self.judge)(datagram)
    }
}

/// Decodes an unauthenticated RMCP+ answer of the expected payload type.
pub(crate) fn rmcp_plus(d: &[u8], want: PayloadType) -> Result<&[u8], String> {
    let p = parse_packet(d, 0).map_err(|e| e.to_string())?;
    match p.header {
        SessionHeader::V20 {
            payload_type,
            authenticated: false,
            encrypted: false,
            ..
        } if payload_type == want => Ok(p.payload),
        other => Err(format!("unexpected packet {other:?}")),
    }
}

/// Checks an Open Session Response.
pub(crate) fn open_session_result(
    t: &str,
    suite: CipherSuite,
    console_session_id: u32,
    r: OpenSessionResponse,
) -> Result<OpenSessionResponse, PowerError> {
    if r.status != 0 {
        let context = if matches!(r.status, 0x04 | 0x05 | 0x06 | 0x07 | 0x10 | 0x11) {
            format!("; the BMC does not accept cipher suite {}", suite.id)
        } else {
            String::new()
        };
        return Err(PowerError::RmcpStatus {
            target: t.to_owned(),
            step: Step::OpenSession,
            code: r.status,
            context,
        });
    }
    if r.console_session_id != console_session_id || r.bmc_session_id == 0 {
        return Err(PowerError::Protocol {
            target: t.to_owned(),
            step: Step::OpenSession,
            detail: "session IDs do not match the request".into(),
        });
    }
    if CipherSuite::from_algorithms(r.auth_alg, r.integrity_alg, r.conf_alg) != Some(suite) {
        return Err(PowerError::Protocol {
            target: t.to_owned(),
            step: Step::OpenSession,
            detail: format!(
                "BMC chose algorithms {}/{}/{} instead of cipher suite {}",
                r.auth_alg, r.integrity_alg, r.conf_alg, suite.id
            ),
        });
    }
    Ok(r)
}

pub(crate) fn auth(t: &str, step: Step, reason: String) -> PowerError {
    PowerError::Auth {
        target: t.to_owned(),
        step,
        reason,
    }
}

/// Get Channel Authentication Capabilities (IPMI v1.5 framing, no session): a reachability
/// probe that also checks that the BMC speaks IPMI v2.0.
pub(crate) async fn channel_auth_capabilities(
    sock: &UdpSocket,
    t: &str,
    timing: &Timing,
) -> Result<(), PowerError> {
    let step = Step::GetChannelAuthCapabilities;
    let req = LanMessage::request(NETFN_APP, 0x38, 0, &[0x8E, PRIV_ADMIN]);
    let packet = encode_v15(0, 0, &req.encode()).map_err(|e| PowerError::codec(t, step, &e))?;
    exchange(sock, t, step, timing, &mut Plain {
        packet,
        judge: |d: &[u8]| {
            let msg = match parse_packet(d, 0).and_then(|p| LanMessage::parse(p.payload)) {
                Ok(m) if m.answers(&req) => m,
                Ok(_) => return Verdict::Ignore("not an answer to our request".into()),
                Err(e) => return Verdict::Ignore(e.to_string()),
            };
            let cc = msg.completion_code().unwrap_or(0xFF);
            if cc != 0 {
                return Verdict::Done(Err(PowerError::Completion { target: t.to_owned(), step, code: cc }));
            }
            let data = msg.response_data();
            let v2 = data.get(1).is_some_and(|b| b & 0x80 != 0) && data.get(3).is_some_and(|b| b & 0x02 != 0);
            Verdict::Done(if v2 { Ok(()) } else {
                Err(PowerError::Protocol { target: t.to_owned(), step, detail:
                    "the BMC does not announce IPMI v2.0 (RMCP+) support; interface lanplus needs it".into() })
            })
        },
    })
    .await
}
