// The function app on Flex Consumption (Linux, Python 3.11): identity-based AzureWebJobsStorage and
// deployment storage, Key Vault references for its secrets, OpenTelemetry to Application Insights.
// Flex Consumption takes no FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_WORKER_PROCESS_COUNT app settings:
// the runtime is functionAppConfig.runtime.

param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string
param appInsightsLocalAuthDisabled bool
param logAnalyticsId string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Flex Consumption always-ready instances, e.g. [{ name: \'http\', instanceCount: 1 }, { name: \'function:understand\', instanceCount: 1 }].')
param alwaysReady array

@description('Origins allowed to call the HTTP API from a browser (the admin site, web chat pages).')
param corsAllowedOrigins array

param cosmosEndpoint string
param cosmosDatabase string
param nluUrl string
param nluTimeoutSeconds string
param nluMinConfidence string
param shopApiUrl string
param qnaEndpoint string
param qnaProject string
param qnaDeployment string
param qnaMinConfidence string
param sendbirdApiUrl string
param sendbirdBotUserId string
param webchatTrustedProxies string

@description('Secret name -> versionless Key Vault secret URI (sendbirdApiToken, shopApiKey, qnaApiKey, agentApiToken, webchatTokenSecret, nluApiKey).')
param secretUris object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    // checkov:skip=CKV_AZURE_225: one zone: zone-redundant Flex Consumption needs always-ready instances in each zone (docs/deploying.md)
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

var telemetrySettings = union({
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
}, appInsightsLocalAuthDisabled ? {
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
} : {})

var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AZURE_CLIENT_ID: identityClientId
  COSMOS_ENDPOINT: cosmosEndpoint
  COSMOS_DATABASE: cosmosDatabase
  NLU_URL: nluUrl
  NLU_API_KEY: '@Microsoft.KeyVault(SecretUri=${secretUris.nluApiKey})'
  NLU_TIMEOUT_SECONDS: nluTimeoutSeconds
  NLU_MIN_CONFIDENCE: nluMinConfidence
  SHOP_API_URL: shopApiUrl
  SHOP_API_KEY: '@Microsoft.KeyVault(SecretUri=${secretUris.shopApiKey})'
  QNA_ENDPOINT: qnaEndpoint
  QNA_API_KEY: '@Microsoft.KeyVault(SecretUri=${secretUris.qnaApiKey})'
  QNA_PROJECT: qnaProject
  QNA_DEPLOYMENT: qnaDeployment
  QNA_MIN_CONFIDENCE: qnaMinConfidence
  SENDBIRD_API_URL: sendbirdApiUrl
  SENDBIRD_API_TOKEN: '@Microsoft.KeyVault(SecretUri=${secretUris.sendbirdApiToken})'
  SENDBIRD_BOT_USER_ID: sendbirdBotUserId
  AGENT_API_TOKEN: '@Microsoft.KeyVault(SecretUri=${secretUris.agentApiToken})'
  WEBCHAT_TOKEN_SECRET: '@Microsoft.KeyVault(SecretUri=${secretUris.webchatTokenSecret})'
  WEBCHAT_TRUSTED_PROXIES: webchatTrustedProxies
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: public by design: SendBirds webhooks and web chat pages call it from the internet
  // checkov:skip=CKV_AZURE_17: SendBird and browsers present no client certificate, webhooks are signed, web chat tokens signed
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales itself (alwaysReady for warm instances), no instance minimum
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check, the pipelines health is the turn log
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource settings 'config' = {
    // checkov:skip=CKV_AZURE_66: failed request tracing is an IIS feature, Linux Flex logs to Application Insights
    // checkov:skip=CKV_AZURE_63: HTTP logs go to Application Insights (requests) and FunctionAppLogs diagnostics
    // checkov:skip=CKV_AZURE_65: detailed error pages are an IIS feature, errors are JSON with a reason
    // checkov:skip=CKV_AZURE_80: not .NET (Python 3.11)
    name: 'appsettings'
    // checkov:skip=CKV_AZURE_13: App Service Authentication would refuse SendBirds webhooks, each endpoint checks its own credential
    // checkov:skip=CKV_AZURE_88: Flex Consumption runs from its deployment package, no Azure Files
    // checkov:skip=CKV_AZURE_222: public by design: SendBird webhooks and web chat pages call the app from the internet
    properties: union(appSettings, telemetrySettings)
  }
}

// Audit: the function host's own log (FunctionAppLogs) in Log Analytics, beside Application Insights.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: site
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      { category: 'FunctionAppLogs', enabled: true }
    ]
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
