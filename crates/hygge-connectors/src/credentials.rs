//! Named credentials (`hygge.yml` `credentials:`), as the original hygge's roadmap designs
//! them: defined once (`type: azure_ad | s3 | gcs`, an explicit `method`) and referenced by
//! name (`credential: <name>`) from the cloud homes and stores (feature `azure`, `s3`,
//! `gcs`). Pure configuration: this leaf names no client. A credential names how to
//! sign in, never where: the container, bucket and path stay on the home or store.

use serde::Deserialize;

use crate::secret::Secret;

/// `credential:` of an `adls` or `onelake` store (the original's four, and ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AzureCredentialKind {
    /// The machine's managed identity (the original's default); `client_id` picks a
    /// user-assigned one.
    #[default]
    ManagedIdentity,
    /// An Entra ID app: `tenant_id`, `client_id`, `client_secret`.
    ServicePrincipal,
    /// The account key: `storage_account_key`.
    StorageKey,
    /// A shared access signature: `sas_token`.
    Sas,
    /// The Azure CLI's login (`az account get-access-token`).
    AzureCli,
    /// Workload identity (AKS): `tenant_id`, `client_id` and the token file
    /// (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// The environment's chain: `AZURE_*` variables (client secret, workload identity),
    /// then the Azure CLI if `az` is installed, then the managed identity.
    Default,
}

impl AzureCredentialKind {
    /// The YAML name.
    pub fn name(self) -> &'static str {
        match self {
            AzureCredentialKind::ManagedIdentity => "managed_identity",
            AzureCredentialKind::ServicePrincipal => "service_principal",
            AzureCredentialKind::StorageKey => "storage_key",
            AzureCredentialKind::Sas => "sas",
            AzureCredentialKind::AzureCli => "azure_cli",
            AzureCredentialKind::WorkloadIdentity => "workload_identity",
            AzureCredentialKind::Default => "default",
        }
    }
}

/// `type: azure_ad`: signing in to Azure Storage (ADLS Gen2, Blob Storage, OneLake).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureAdCredential {
    /// `default` (the default: `AZURE_*` variables, the Azure CLI, the managed identity),
    /// `managed_identity`, `service_principal`, `azure_cli`, `workload_identity`,
    /// `storage_key` or `sas`: an `adls` store's `credential` values.
    #[serde(default = "azure_default")]
    pub method: AzureCredentialKind,
    /// Service principal / workload identity tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Service principal / workload identity app, or a user-assigned managed identity.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Service principal secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Account key (`method: storage_key`).
    #[serde(default)]
    pub storage_account_key: Option<Secret>,
    /// Shared access signature (`method: sas`).
    #[serde(default)]
    pub sas_token: Option<Secret>,
}

fn azure_default() -> AzureCredentialKind {
    AzureCredentialKind::Default
}

/// How an `s3` credential signs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Method {
    /// AWS's standard chain (environment, web identity, ECS, instance profile).
    #[default]
    Default,
    /// `access_key_id` and `secret_access_key` (and `session_token`).
    AccessKey,
}

/// `type: s3`: signing in to S3 or an S3-compatible server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Credential {
    /// `default` (AWS's standard chain) or `access_key`.
    #[serde(default)]
    pub method: S3Method,
    /// The region, unless the home or store gives one.
    #[serde(default)]
    pub region: Option<String>,
    /// An S3-compatible server, unless the home or store gives one.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id (`method: access_key`).
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// Secret access key (`method: access_key`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary keys.
    #[serde(default)]
    pub session_token: Option<Secret>,
}

/// How a `gcs` credential signs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GcsMethod {
    /// A service account's key: `keyfile` or `service_account_key`.
    #[default]
    ServiceAccount,
    /// Google's application default credentials.
    Default,
}

/// `type: gcs`: signing in to Google Cloud Storage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsCredential {
    /// `service_account` (the default, with `keyfile` or `service_account_key`) or
    /// `default` (application default credentials).
    #[serde(default)]
    pub method: GcsMethod,
    /// A service account's JSON key file.
    #[serde(default)]
    pub keyfile: Option<String>,
    /// A service account's JSON key itself.
    #[serde(default)]
    pub service_account_key: Option<Secret>,
    /// The project (accepted; the key names it).
    #[serde(default)]
    pub project: Option<String>,
}

/// A named credential, by `type`.
#[derive(Debug, Clone)]
pub enum CredentialConfig {
    /// `type: azure_ad`.
    AzureAd(AzureAdCredential),
    /// `type: s3`.
    S3(S3Credential),
    /// `type: gcs`.
    Gcs(GcsCredential),
}

impl CredentialConfig {
    /// The YAML `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            CredentialConfig::AzureAd(_) => "azure_ad",
            CredentialConfig::S3(_) => "s3",
            CredentialConfig::Gcs(_) => "gcs",
        }
    }
}

/// Named credentials, by name.
pub type Credentials = std::collections::BTreeMap<String, CredentialConfig>;
