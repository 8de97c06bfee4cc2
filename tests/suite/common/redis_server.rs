//! A `redis-server` of a test's own: on a free port, in a temp dir, killed when dropped. For what
//! the shared Redis must not be changed for: TLS, a password, an unsafe configuration.
//!
//! [`Pki`] makes the throwaway certificates: a CA, a server certificate for `127.0.0.1` and
//! `localhost`, and a client certificate, all in PEM files under a directory of their own.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use tempfile::TempDir;

/// Whether `redis-server` can be run here.
pub fn available() -> bool {
    Command::new("redis-server").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

impl RedisServer {
    /// A plain-TCP server with `args` on top of Redis's own defaults (`noeviction`, RDB `save`).
    pub fn start(args: &[&str]) -> Self {
        let port = free_port();
        Self::spawn(&["--port", &port.to_string()], args, port)
    }

    /// A TLS-only server presenting `cert` (signed by `pki`'s CA unless the test says otherwise),
    /// trusting `pki`'s CA for client certificates, which it asks for when `client_auth`.
    pub fn start_tls(pki: &Pki, cert: &ServerCert, client_auth: bool, args: &[&str]) -> Self {
        let port = free_port();
        let tls = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            path(&cert.cert),
            "--tls-key-file",
            path(&cert.key),
            "--tls-ca-cert-file",
            path(&pki.ca),
            "--tls-auth-clients",
            if client_auth { "yes" } else { "no" },
        ];
        Self::spawn(&tls, args, port)
    }

    fn spawn(listen: &[&str], args: &[&str], port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("redis.log");
        let mut command = Command::new("redis-server");
        command
            .args(listen)
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--dir", path(dir.path())])
            .args(["--logfile", path(&log)])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("redis-server runs");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = child.try_wait().expect("redis-server status");
            if exited.is_some() || started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("redis-server did not listen on {port} ({exited:?}): {log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child, dir }
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A file in the server's directory (for a password file next to it).
    pub fn file(&self, name: &str, content: &str) -> String {
        let file = self.dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        file.display().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// A throwaway CA, and what it signs, as PEM files.
pub struct Pki {
    pub dir: TempDir,
    /// The CA certificate.
    pub ca: PathBuf,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, as PEM files.
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        Self { dir, ca, ca_cert, ca_key }
    }

    /// A server certificate for `hosts` (names or IP addresses), signed by this CA.
    pub fn server(&self, file: &str, hosts: &[&str]) -> ServerCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, hosts[0]);
        params.subject_alt_names = hosts
            .iter()
            .map(|host| match host.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*host).try_into().unwrap()),
            })
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(file, params)
    }

    /// A client certificate, signed by this CA.
    pub fn client(&self, file: &str) -> ServerCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "idp");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(file, params)
    }

    fn sign(&self, file: &str, params: CertificateParams) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        let (cert_path, key_path) =
            (self.dir.path().join(format!("{file}.pem")), self.dir.path().join(format!("{file}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        ServerCert { cert: cert_path, key: key_path }
    }
}
