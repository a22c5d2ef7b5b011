//! TLS: certificates picked by SNI from the `kubernetes.io/tls` Secrets that served Ingresses
//! name in `spec.tls`, and a generated fallback certificate (like ingress-nginx's "Kubernetes
//! Ingress Controller Fake Certificate") for every other name. TLS 1.2 and 1.3, ALPN h2 and
//! http/1.1.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS Secret that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSecret {
    /// The Ingress that names it.
    pub ingress: (String, String),
    /// The Secret's name.
    pub secret: String,
    /// What is wrong.
    pub reason: String,
}

/// Certificates by host name (lowercase; `*.x` for wildcards).
#[derive(Debug, Default, Clone)]
pub struct Certs {
    by_host: HashMap<String, Arc<CertifiedKey>>,
}

/// A Secret's certificate and key as rustls wants them.
pub fn certified_key(secret: &Secret) -> Result<CertifiedKey, String> {
    let data = secret.data.as_ref().ok_or("the secret has no data")?;
    let crt = data.get("tls.crt").ok_or("no tls.crt")?;
    let key = data.get("tls.key").ok_or("no tls.key")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&crt.0)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.crt: {e}"))?;
    if chain.is_empty() {
        return Err("tls.crt holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key.0).map_err(|e| format!("tls.key: {e}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("tls.key: {e}"))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .map_err(|e| format!("tls.key does not match tls.crt: {e}"))?;
    Ok(ck)
}

/// Whether the leaf certificate of `ck` names `host`: by its DNS subject alternative names,
/// or by its subject CN when it has none (as OpenSSL, and so curl, still accept). A `*.x`
/// name covers exactly one more label; a `*.x` host needs a `*.x` name.
fn covers(ck: &CertifiedKey, host: &str) -> bool {
    let Some(leaf) = ck.cert.first() else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return false;
    };
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    let host = host.to_ascii_lowercase();
    names.iter().any(|n| name_matches(n, &host))
}

/// A certificate name against a host.
fn name_matches(name: &str, host: &str) -> bool {
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(suffix), Some((label, rest))) => label != "*" && rest == suffix,
        _ => false,
    }
}

impl Certs {
    /// The certificates of the served Ingresses' `spec.tls`, from `secrets`; the oldest
    /// Ingress wins a host named twice. Secrets that cannot be used are reported.
    pub fn build<'a>(
        ingresses: impl IntoIterator<Item = &'a Ingress>,
        secrets: &HashMap<(String, String), &'a Secret>,
    ) -> (Certs, Vec<BadSecret>) {
        let mut ings: Vec<&Ingress> = ingresses.into_iter().collect();
        ings.sort_by_key(|i| {
            (
                i.metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or(0, |t| t.0.as_second()),
                i.metadata.namespace.clone(),
                i.metadata.name.clone(),
            )
        });
        let mut certs = Certs::default();
        let mut bad = Vec::new();
        let mut parsed: HashMap<(String, String), Option<Arc<CertifiedKey>>> = HashMap::new();
        for ing in ings {
            let ns = ing.metadata.namespace.clone().unwrap_or_default();
            let name = ing.metadata.name.clone().unwrap_or_default();
            for tls in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
                let Some(secret_name) = &tls.secret_name else {
                    continue;
                };
                let key = (ns.clone(), secret_name.clone());
                let ck = parsed
                    .entry(key.clone())
                    .or_insert_with(|| {
                        let result = match secrets.get(&key) {
                            None => Err("the secret does not exist".to_owned()),
                            Some(s) => certified_key(s),
                        };
                        match result {
                            Ok(ck) => Some(Arc::new(ck)),
                            Err(reason) => {
                                bad.push(BadSecret {
                                    ingress: (ns.clone(), name.clone()),
                                    secret: secret_name.clone(),
                                    reason,
                                });
                                None
                            }
                        }
                    })
                    .clone();
                let Some(ck) = ck else { continue };
                for host in tls.hosts.iter().flatten() {
                    // A certificate that does not name the host is not served for it (the
                    // fallback is), as ingress-nginx does.
                    if !covers(&ck, host) {
                        bad.push(BadSecret {
                            ingress: (ns.clone(), name.clone()),
                            secret: secret_name.clone(),
                            reason: format!("its certificate does not cover host {host}"),
                        });
                        continue;
                    }
                    certs
                        .by_host
                        .entry(host.to_ascii_lowercase())
                        .or_insert_with(|| ck.clone());
                }
            }
        }
        (certs, bad)
    }

    fn find(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        let sni = sni.to_ascii_lowercase();
        self.by_host.get(&sni).cloned().or_else(|| {
            sni.split_once('.')
                .and_then(|(_, rest)| self.by_host.get(&format!("*.{rest}")).cloned())
        })
    }
}

/// Picks a certificate by SNI from the current [`Certs`], else the fallback.
#[derive(Debug)]
pub struct Resolver {
    certs: RwLock<Arc<Certs>>,
    fallback: Arc<CertifiedKey>,
}

impl Resolver {
    /// A resolver with a freshly generated fallback certificate.
    pub fn new() -> Result<Arc<Resolver>, String> {
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::new(vec!["ingress.local".to_owned()])
            .map_err(|e| e.to_string())?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Kubernetes Ingress Controller Fake Certificate",
        );
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme Co");
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let signing =
            rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| e.to_string())?;
        Ok(Arc::new(Resolver {
            certs: RwLock::new(Arc::new(Certs::default())),
            fallback: Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing)),
        }))
    }

    /// Makes `certs` current.
    pub fn swap(&self, certs: Certs) {
        if let Ok(mut g) = self.certs.write() {
            *g = Arc::new(certs);
        }
    }

    /// Whether `host` has a certificate of its own (for ssl-redirect).
    pub fn has(&self, host: &str) -> bool {
        self.certs
            .read()
            .map(|c| c.find(host).is_some())
            .unwrap_or(false)
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = hello
            .server_name()
            .and_then(|sni| self.certs.read().ok().and_then(|c| c.find(sni)));
        Some(found.unwrap_or_else(|| self.fallback.clone()))
    }
}

/// The server configuration: TLS 1.2 and 1.3, ALPN h2 and http/1.1, certificates by SNI.
pub fn server_config(resolver: Arc<Resolver>) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
