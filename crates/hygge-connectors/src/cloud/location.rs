//! Where a cloud store writes (account, container or bucket) and how it signs in: turned
//! into an `object_store` client when a run opens the store, never during validation.
//!
//! No credential falls through to a cloud's instance-metadata service unless the
//! configuration asks for it (`managed_identity`, `default`, the S3 / GCS standard chains):
//! an emulator URL always uses explicit keys.

use std::sync::Arc;

use object_store::ObjectStore;

use crate::secret::Secret;

/// How an Azure store signs in.
#[derive(Debug, Clone)]
pub enum AzureAuth {
    /// The machine's managed identity (a user-assigned one with `client_id`).
    ManagedIdentity {
        /// A user-assigned identity.
        client_id: Option<String>,
    },
    /// An Entra ID app's secret.
    ServicePrincipal {
        /// Tenant.
        tenant_id: String,
        /// App.
        client_id: String,
        /// Secret.
        client_secret: Secret,
    },
    /// The account key (also an emulator's well-known key).
    Key(Secret),
    /// A shared access signature (the query string, without `?`).
    Sas(Secret),
    /// The Azure CLI's login.
    AzureCli,
    /// Workload identity: `AZURE_FEDERATED_TOKEN_FILE`, with the tenant and client from
    /// the keys or the environment.
    WorkloadIdentity {
        /// Tenant (else `AZURE_TENANT_ID`).
        tenant_id: Option<String>,
        /// App (else `AZURE_CLIENT_ID`).
        client_id: Option<String>,
    },
    /// The environment's chain.
    Default,
}

/// An Azure Blob / ADLS Gen2 / OneLake container.
#[derive(Debug, Clone)]
pub struct AzureLocation {
    /// The account URL as configured (for messages; never holds a secret).
    pub account_url: String,
    /// What the URL names.
    pub(crate) url: super::config::AccountUrl,
    /// The container (file system, OneLake workspace).
    pub container: String,
    /// How to sign in.
    pub auth: AzureAuth,
}

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The region.
    pub region: Option<String>,
    /// An S3-compatible server.
    pub endpoint: Option<String>,
    /// Explicit keys (else the standard chain).
    pub keys: Option<(Secret, Secret)>,
    /// Session token of temporary keys.
    pub session_token: Option<Secret>,
    /// No credential at all: requests go unsigned (a public bucket).
    pub anonymous: bool,
}

/// How a GCS store signs in.
#[derive(Debug, Clone)]
pub enum GcsAuth {
    /// A service account key file.
    KeyFile(String),
    /// A service account key (JSON).
    Key(Secret),
    /// Application default credentials.
    Default,
    /// None: requests go unsigned (a public bucket).
    Anonymous,
}

/// A GCS bucket.
#[derive(Debug, Clone)]
pub struct GcsLocation {
    /// The bucket.
    pub bucket: String,
    /// How to sign in.
    pub auth: GcsAuth,
}

/// A cloud store's container.
#[derive(Debug, Clone)]
pub enum Location {
    /// Azure Blob Storage / ADLS Gen2 / OneLake.
    Azure(AzureLocation),
    /// S3.
    S3(S3Location),
    /// Google Cloud Storage.
    Gcs(GcsLocation),
}

impl Location {
    /// The container's address for messages: `<account_url>/<container>`, `s3://bucket`,
    /// `gs://bucket`. Never holds a secret.
    pub fn describe(&self) -> String {
        match self {
            Location::Azure(a) => format!("{}/{}", a.account_url, a.container),
            Location::S3(s) => match &s.endpoint {
                Some(e) => format!("s3://{} (at {e})", s.bucket),
                None => format!("s3://{}", s.bucket),
            },
            Location::Gcs(g) => format!("gs://{}", g.bucket),
        }
    }

    /// The URL of `key` in the container, for reports and messages.
    pub fn url_of(&self, key: &str) -> String {
        match self {
            Location::Azure(a) => format!("{}/{}/{key}", a.account_url, a.container),
            Location::S3(s) => format!("s3://{}/{key}", s.bucket),
            Location::Gcs(g) => format!("gs://{}/{key}", g.bucket),
        }
    }

    /// Which credential source the store uses, for `hygge debug` and logs (no secret).
    pub fn credential_source(&self) -> &'static str {
        match self {
            Location::Azure(a) => match &a.auth {
                AzureAuth::Key(k) if a.url.emulator && k.0 == super::config::EMULATOR_KEY => {
                    "the emulator's well-known account key"
                }
                AzureAuth::Key(_) => "the storage account key",
                AzureAuth::Sas(_) => "a SAS token",
                AzureAuth::ManagedIdentity { .. } => "the managed identity",
                AzureAuth::ServicePrincipal { .. } => "a service principal (client secret)",
                AzureAuth::AzureCli => "the Azure CLI",
                AzureAuth::WorkloadIdentity { .. } => "workload identity",
                AzureAuth::Default => {
                    "the environment's chain (AZURE_* variables, Azure CLI, managed identity)"
                }
            },
            Location::S3(s) if s.anonymous => "no credential (a public bucket, unsigned requests)",
            Location::S3(s) if s.keys.is_some() => "the access key in the store's keys",
            Location::S3(_) => "AWS's standard chain (environment, web identity, instance profile)",
            Location::Gcs(g) => match g.auth {
                GcsAuth::KeyFile(_) => "the service account key file",
                GcsAuth::Key(_) => "the service account key",
                GcsAuth::Default => "Google's application default credentials",
                GcsAuth::Anonymous => "no credential (a public bucket, unsigned requests)",
            },
        }
    }

    /// The secret values of this location, which no message may show.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![];
        match self {
            Location::Azure(a) => match &a.auth {
                AzureAuth::Key(k) | AzureAuth::Sas(k) => out.push(k.0.clone()),
                AzureAuth::ServicePrincipal { client_secret, .. } => {
                    out.push(client_secret.0.clone())
                }
                _ => {}
            },
            Location::S3(s) => {
                if let Some((id, key)) = &s.keys {
                    out.push(id.0.clone());
                    out.push(key.0.clone());
                }
                if let Some(t) = &s.session_token {
                    out.push(t.0.clone());
                }
            }
            Location::Gcs(g) => {
                if let GcsAuth::Key(k) = &g.auth {
                    out.push(k.0.clone());
                }
            }
        }
        // A SAS's parts each appear in request URLs on their own.
        if let Location::Azure(AzureLocation {
            auth: AzureAuth::Sas(s),
            ..
        }) = self
        {
            for pair in s.0.split('&') {
                if let Some((_, v)) = pair.split_once('=')
                    && v.len() >= 8
                {
                    out.push(v.to_string());
                }
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// Builds the client (no request is made yet).
    pub fn build(&self) -> Result<Arc<dyn ObjectStore>, String> {
        let store: Arc<dyn ObjectStore> = match self {
            #[cfg(feature = "azure")]
            Location::Azure(a) => Arc::new(build_azure(a)?),
            #[cfg(feature = "s3")]
            Location::S3(s) => Arc::new(build_s3(s)?),
            #[cfg(feature = "gcs")]
            Location::Gcs(g) => Arc::new(build_gcs(g)?),
            #[allow(unreachable_patterns)]
            other => {
                return Err(format!(
                    "{}: this build of hygge has no {} support (built without its cargo feature)",
                    other.describe(),
                    match other {
                        Location::Azure(_) => "Azure (`azure`)",
                        Location::S3(_) => "S3 (`s3`)",
                        Location::Gcs(_) => "GCS (`gcs`)",
                    }
                ));
            }
        };
        Ok(store)
    }
}

/// Retries: object_store's backoff, but a bounded total so a run against an unreachable
/// endpoint fails in about a minute instead of three.
#[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 5,
        retry_timeout: std::time::Duration::from_secs(60),
        ..Default::default()
    }
}

#[cfg(feature = "azure")]
fn build_azure(a: &AzureLocation) -> Result<object_store::azure::MicrosoftAzure, String> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    let mut b = match a.auth {
        // The environment's chain reads the AZURE_* variables; every other credential is
        // exactly what the keys say.
        AzureAuth::Default => MicrosoftAzureBuilder::from_env(),
        _ => MicrosoftAzureBuilder::new(),
    };
    b = b
        .with_account(&a.url.account)
        .with_container_name(&a.container)
        .with_retry(retry())
        // Tags need a permission a data writer may not have, and hygge sets none.
        .with_disable_tagging(true);
    if let Some(endpoint) = &a.url.endpoint {
        b = b.with_endpoint(endpoint.clone());
        if endpoint.starts_with("http://") {
            b = b.with_allow_http(true);
        }
    }
    if a.url.fabric {
        b = b.with_use_fabric_endpoint(true);
    }
    b = match &a.auth {
        AzureAuth::Key(k) => b.with_access_key(&k.0),
        AzureAuth::Sas(s) => b.with_config(AzureConfigKey::SasKey, &s.0),
        AzureAuth::ServicePrincipal {
            tenant_id,
            client_id,
            client_secret,
        } => b
            .with_tenant_id(tenant_id)
            .with_client_id(client_id)
            .with_client_secret(&client_secret.0),
        AzureAuth::ManagedIdentity { client_id } => match client_id {
            Some(c) => b.with_client_id(c),
            None => b,
        },
        AzureAuth::AzureCli => b.with_use_azure_cli(true),
        AzureAuth::WorkloadIdentity {
            tenant_id,
            client_id,
        } => {
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let tenant = tenant_id.clone().or_else(|| env("AZURE_TENANT_ID"));
            let client = client_id.clone().or_else(|| env("AZURE_CLIENT_ID"));
            let file = env("AZURE_FEDERATED_TOKEN_FILE");
            match (tenant, client, file) {
                (Some(t), Some(c), Some(f)) => b
                    .with_tenant_id(t)
                    .with_client_id(c)
                    .with_federated_token_file(f),
                _ => {
                    return Err(format!(
                        "{}/{}: credential workload_identity needs tenant_id and client_id (keys or AZURE_TENANT_ID / AZURE_CLIENT_ID) and AZURE_FEDERATED_TOKEN_FILE",
                        a.account_url, a.container
                    ));
                }
            }
        }
        AzureAuth::Default => {
            let env_creds = ["AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"]
                .iter()
                .any(|k| std::env::var_os(k).is_some());
            if !env_creds && which("az") {
                b.with_use_azure_cli(true)
            } else {
                b
            }
        }
    };
    b.build()
        .map_err(|e| format!("{}/{}: {e}", a.account_url, a.container))
}

/// Whether `cmd` is on the PATH.
#[cfg(feature = "azure")]
fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

#[cfg(feature = "s3")]
fn build_s3(s: &S3Location) -> Result<object_store::aws::AmazonS3, String> {
    use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
    let mut b = match s.keys {
        // The standard chain: AWS_* variables, web identity, ECS, instance profile.
        None => AmazonS3Builder::from_env(),
        Some(_) => AmazonS3Builder::new(),
    };
    b = b
        .with_bucket_name(&s.bucket)
        .with_retry(retry())
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_disable_tagging(true);
    if s.anonymous {
        b = b.with_skip_signature(true);
    }
    if let Some((id, key)) = &s.keys {
        b = b.with_access_key_id(&id.0).with_secret_access_key(&key.0);
        if let Some(t) = &s.session_token {
            b = b.with_token(&t.0);
        }
    }
    let region = s
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    b = b.with_region(region);
    if let Some(e) = &s.endpoint {
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
        if e.starts_with("http://") {
            b = b.with_allow_http(true);
        }
    } else if s.keys.is_none()
        && ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|e| e.starts_with("http://")))
    {
        // The standard chain's S3-compatible server (AWS_ENDPOINT_URL), on plain http.
        b = b.with_allow_http(true);
    }
    b.build().map_err(|e| format!("s3://{}: {e}", s.bucket))
}

#[cfg(feature = "gcs")]
fn build_gcs(g: &GcsLocation) -> Result<object_store::gcp::GoogleCloudStorage, String> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let mut b = match g.auth {
        GcsAuth::Default => GoogleCloudStorageBuilder::from_env(),
        _ => GoogleCloudStorageBuilder::new(),
    };
    b = b.with_bucket_name(&g.bucket).with_retry(retry());
    b = match &g.auth {
        GcsAuth::KeyFile(f) => b.with_service_account_path(f),
        GcsAuth::Key(k) => b.with_service_account_key(&k.0),
        GcsAuth::Default => b,
        GcsAuth::Anonymous => b.with_skip_signature(true),
    };
    b.build().map_err(|e| format!("gs://{}: {e}", g.bucket))
}

/// Removes every secret of a location from a message (an HTTP client's error may quote a
/// request URL holding a SAS signature, say); any `sig=` query value too.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() {
            out = out.replace(s.as_str(), "***");
            let enc: String = url_encode(s);
            if enc != *s {
                out = out.replace(enc.as_str(), "***");
            }
        }
    }
    // A signature in any URL (a SAS, a presigned URL).
    let re = regex::Regex::new(r"(?i)((?:sig|signature|x-amz-signature|x-amz-security-token|x-goog-signature)=)[^&\s\x22']+")
        .expect("valid regex");
    re.replace_all(&out, "${1}***").into_owned()
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_and_signatures() {
        let t = redact(
            "GET https://a.blob.core.windows.net/c/x?sv=2021&sig=abc%2Bdef&se=1 failed; key a+b/c==",
            &["a+b/c==".into()],
        );
        assert!(!t.contains("abc%2Bdef") && !t.contains("a+b/c=="), "{t}");
        assert!(t.contains("sig=***"), "{t}");
    }

    #[cfg(feature = "azure")]
    #[test]
    fn builds_an_https_client_without_a_crypto_provider_panic() {
        // object_store's reqwest picks its rustls provider explicitly; building a client
        // for a public https endpoint must not panic however rustls' features are unified.
        let a = AzureLocation {
            account_url: "https://acme.dfs.core.windows.net".into(),
            url: super::super::config::parse_account_url("https://acme.dfs.core.windows.net")
                .unwrap(),
            container: "lake".into(),
            auth: AzureAuth::Key(Secret(super::super::config::EMULATOR_KEY.into())),
        };
        Location::Azure(a).build().expect("builds");
        // OneLake: the Fabric blob endpoint, an Entra credential (nothing is fetched yet).
        let url = "https://onelake.dfs.fabric.microsoft.com";
        let a = AzureLocation {
            account_url: url.into(),
            url: super::super::config::parse_account_url(url).unwrap(),
            container: "MyWorkspace".into(),
            auth: AzureAuth::ServicePrincipal {
                tenant_id: "t".into(),
                client_id: "c".into(),
                client_secret: Secret("s".into()),
            },
        };
        let l = Location::Azure(a);
        l.build().expect("builds");
        assert_eq!(l.credential_source(), "a service principal (client secret)");
        assert_eq!(
            l.url_of("L.Lakehouse/Files/t"),
            "https://onelake.dfs.fabric.microsoft.com/MyWorkspace/L.Lakehouse/Files/t"
        );
    }

    #[cfg(feature = "s3")]
    #[test]
    fn builds_s3_with_explicit_keys_only() {
        let s = Location::S3(S3Location {
            bucket: "b".into(),
            region: Some("eu-west-1".into()),
            endpoint: Some("https://s3.example.com".into()),
            keys: Some((Secret("AKIAEXAMPLE".into()), Secret("SECRETKEY123".into()))),
            session_token: None,
            anonymous: false,
        });
        s.build().expect("builds");
        assert_eq!(s.credential_source(), "the access key in the store's keys");
        assert!(s.secrets().contains(&"SECRETKEY123".to_string()));
        assert!(!s.describe().contains("SECRET"));
    }
}
