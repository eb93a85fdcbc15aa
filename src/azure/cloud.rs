//! The Azure clouds and credentials arcfix knows, with every per-cloud fact
//! in one place.

use azure_core::cloud::CloudConfiguration;

/// An Azure cloud, named as `az cloud list` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cloud {
    #[value(name = "AzureCloud")]
    AzureCloud,
    #[value(name = "AzureUSGovernment")]
    AzureUsGovernment,
    #[value(name = "AzureChinaCloud")]
    AzureChinaCloud,
}

impl Cloud {
    /// The Resource Manager host.
    pub fn arm_host(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "management.azure.com",
            Cloud::AzureUsGovernment => "management.usgovcloudapi.net",
            Cloud::AzureChinaCloud => "management.chinacloudapi.cn",
        }
    }

    /// The token scope: the cloud's Resource Manager audience (azure-cli's
    /// `active_directory_resource_id`) with `.default`.
    pub fn scope(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "https://management.core.windows.net//.default",
            Cloud::AzureUsGovernment => "https://management.core.usgovcloudapi.net//.default",
            Cloud::AzureChinaCloud => "https://management.core.chinacloudapi.cn//.default",
        }
    }

    /// Entra's authority host and audiences for azure_identity.
    pub fn authority(self) -> CloudConfiguration {
        match self {
            Cloud::AzureCloud => CloudConfiguration::AzurePublic,
            Cloud::AzureUsGovernment => CloudConfiguration::AzureGovernment,
            Cloud::AzureChinaCloud => CloudConfiguration::AzureChina,
        }
    }
}

/// The credential: the Azure CLI, AZURE_* environment variables, or managed
/// identity; or, for a loopback ARM endpoint only (the simulator of `arcfix
/// demo --serve`), a fixed bearer token from ARCFIX_TOKEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Auth {
    Cli,
    Env,
    ManagedIdentity,
    /// The token in ARCFIX_TOKEN, for a loopback --arm-endpoint only (`arcfix demo --serve`)
    Static,
}

#[cfg(test)]
mod tests {
    use super::Cloud;

    #[test]
    fn each_cloud_has_its_own_resource_manager() {
        for (cloud, host, scope) in [
            (
                Cloud::AzureCloud,
                "management.azure.com",
                "https://management.core.windows.net//.default",
            ),
            (
                Cloud::AzureUsGovernment,
                "management.usgovcloudapi.net",
                "https://management.core.usgovcloudapi.net//.default",
            ),
            (
                Cloud::AzureChinaCloud,
                "management.chinacloudapi.cn",
                "https://management.core.chinacloudapi.cn//.default",
            ),
        ] {
            assert_eq!(cloud.arm_host(), host);
            assert_eq!(cloud.scope(), scope);
        }
    }
}
