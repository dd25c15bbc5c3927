//! The sushy-tools Redfish emulator (fake driver, basic auth) on 127.0.0.1 as a test BMC,
//! killed by PID on drop.
//!
//! Found via `$SIDERO_SUSHY_EMULATOR` (path of the `sushy-emulator` script) or
//! `~/.cache/sidero-rs/venv-sushy/bin/sushy-emulator` (what `tools/sushy/setup.sh`
//! installs). A missing emulator is an error (tests fail, they do not skip).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;

/// Redfish user of the emulator.
pub const USER: &str = "sidero-admin";
/// Password of [`USER`].
pub const PASS: &str = "s3cret-redfish-pw";

/// A running emulator.
pub struct Sushy {
    child: Child,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    tls: bool,
    dir: tempfile::TempDir,
}

impl Drop for Sushy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn emulator_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SIDERO_SUSHY_EMULATOR") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/sidero-rs/venv-sushy/bin/sushy-emulator")
}

fn free_port() -> Result<u16, Error> {
    crate::ports::free_tcp()
}

fn write(path: &std::path::Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

impl Sushy {
    /// Starts the emulator with the given fake systems `(uuid, name)`, all powered off.
    pub async fn start(systems: &[(&str, &str)]) -> Result<Sushy, Error> {
        Self::start_with(systems, None).await
    }

    /// As [`Sushy::start`], serving HTTPS with this `(certificate PEM, key PEM)` if given.
    pub async fn start_with(
        systems: &[(&str, &str)],
        tls: Option<(String, String)>,
    ) -> Result<Sushy, Error> {
        let exe = emulator_path();
        if !exe.is_file() {
            return Err(Error::Peer(format!(
                "sushy-emulator not found at {}: run tools/sushy/setup.sh (or set \
                 SIDERO_SUSHY_EMULATOR to the sushy-emulator script)",
                exe.display()
            )));
        }
        let python = exe.with_file_name("python3");
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        // bcrypt htpasswd entry, made with the venv's own bcrypt.
        let out = Command::new(&python)
            .args([
                "-c",
                "import bcrypt,sys;print(bcrypt.hashpw(sys.argv[1].encode(),bcrypt.gensalt(4)).decode())",
                PASS,
            ])
            .output()
            .map_err(|e| Error::io("running the venv's python3", e))?;
        if !out.status.success() {
            return Err(Error::Process(format!("bcrypt: {out:?}")));
        }
        let hash = String::from_utf8_lossy(&out.stdout).into_owned();
        let htpasswd = dir.path().join("htpasswd");
        write(&htpasswd, &format!("{USER}:{}\n", hash.trim()))?;
        let port = free_port()?;
        let fake: Vec<String> = systems
            .iter()
            .map(|(uuid, name)| {
                format!(
                    "{{'uuid': '{uuid}', 'name': '{name}', 'power_state': 'Off', \
                     'nics': [{{'mac': '00:5c:52:31:3a:9c', 'ip': '172.22.0.100'}}]}}"
                )
            })
            .collect();
        let mut conf_text = String::new();
        if let Some((cert, key)) = &tls {
            let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            write(&c, cert)?;
            write(&k, key)?;
            conf_text = format!(
                "SUSHY_EMULATOR_SSL_CERT = '{}'\nSUSHY_EMULATOR_SSL_KEY = '{}'\n",
                c.display(),
                k.display()
            );
        }
        conf_text += &format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
             SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
             SUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_STATE_DIR = '{state}'\n\
             SUSHY_EMULATOR_AUTH_FILE = '{auth}'\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{systems}]\n",
            state = dir.path().join("state").display(),
            auth = htpasswd.display(),
            systems = fake.join(", "),
        );
        let conf = dir.path().join("emulator.conf");
        write(&conf, &conf_text)?;
        let log = std::fs::File::create(dir.path().join("emulator.log"))
            .map_err(|e| Error::io("emulator log", e))?;
        let log2 = log.try_clone().map_err(|e| Error::io("emulator log", e))?;
        let child = Command::new(&exe)
            .arg("--config")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log2)
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io("starting sushy-emulator", e))?;
        let mut s = Sushy {
            child,
            port,
            tls: tls.is_some(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(Error::Process(format!(
                    "sushy-emulator exited ({st}): {}",
                    s.log()
                )));
            }
            if s.tls {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Ok(s);
                }
            } else if let Ok((200, _)) = s.get("/redfish/v1/").await {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "sushy-emulator not ready in 30 s: {}",
                    s.log()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The emulator's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emulator.log")).unwrap_or_default()
    }

    /// Raw authenticated `GET` (HTTP/1.0, independent of the client under test).
    pub async fn get(&self, path: &str) -> std::io::Result<(u16, serde_json::Value)> {
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nAuthorization: Basic {auth}\r\n\r\n",
            self.port
        );
        c.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        let text = String::from_utf8_lossy(&buf);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((code, serde_json::from_str(body).unwrap_or_default()))
    }
}
