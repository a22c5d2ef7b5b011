//! The cluster's certificates and credentials: a CA made at first start, a serving certificate
//! signed by it, a bearer token, and the kubeconfig that ties them together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Errors while making or loading credentials.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file under `DIR/pki` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Generating or parsing a key or certificate failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused the generated key or certificate.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
}

/// Credentials ready for serving.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// TLS configuration for the API server (h2 and http/1.1 by ALPN).
    pub server_config: Arc<rustls::ServerConfig>,
    /// The bearer token every client must present.
    pub token: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(contents).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "knet-ca");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    params
}

fn random_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Pki {
    /// Loads the CA and token from `dir` (making them at first start), and signs a fresh
    /// serving certificate for `sans` (IPs and DNS names). The serving certificate is
    /// re-signed on every start so a changed `--api-addr` is always covered.
    pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let ca_key_path = dir.join("ca.key");
        let ca_crt_path = dir.join("ca.crt");
        let token_path = dir.join("token");

        let (ca_key, ca_pem) = if ca_key_path.exists() && ca_crt_path.exists() {
            let key_pem = std::fs::read_to_string(&ca_key_path).map_err(io(&ca_key_path))?;
            let ca_pem = std::fs::read_to_string(&ca_crt_path).map_err(io(&ca_crt_path))?;
            (KeyPair::from_pem(&key_pem)?, ca_pem)
        } else {
            let key = KeyPair::generate()?;
            let cert = ca_params().self_signed(&key)?;
            write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            write_private(&ca_crt_path, cert.pem().as_bytes())?;
            (key, cert.pem())
        };
        let token = if token_path.exists() {
            std::fs::read_to_string(&token_path)
                .map_err(io(&token_path))?
                .trim()
                .to_owned()
        } else {
            let token = random_token();
            write_private(&token_path, token.as_bytes())?;
            token
        };

        // The CA's distinguished name and key identifier are functions of fixed parameters and
        // of its key, so an issuer rebuilt from them signs certificates the stored CA verifies.
        let issuer = Issuer::new(ca_params(), &ca_key);
        let mut params = CertificateParams::new(sans.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        params.distinguished_name = dn;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2125, 1, 1);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        let crt_path = dir.join("apiserver.crt");
        let key_path = dir.join("apiserver.key");
        write_private(&crt_path, cert.pem().as_bytes())?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;

        let chain = vec![cert.der().clone()];
        let private = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, private)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Pki {
            ca_pem,
            server_config: Arc::new(config),
            token,
        })
    }

    /// A kubeconfig for `addr`, with the CA inline and the bearer token.
    pub fn kubeconfig(&self, addr: SocketAddr) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: knet
  cluster:
    server: https://{addr}
    certificate-authority-data: {ca}
users:
- name: knet-admin
  user:
    token: {token}
contexts:
- name: knet
  context:
    cluster: knet
    user: knet-admin
    namespace: default
current-context: knet
preferences: {{}}
",
            token = self.token
        )
    }

    /// Writes the kubeconfig for `addr` to `path`, atomically and readable only by its owner.
    pub fn write_kubeconfig(&self, path: &Path, addr: SocketAddr) -> Result<(), PkiError> {
        write_private(path, self.kubeconfig(addr).as_bytes())
    }
}
