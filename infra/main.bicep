// Switchboard on Azure: one resource group holding the function app (Flex Consumption), the NLU
// service, the admin site and the training worker (Container Apps), Cosmos DB (serverless), Storage,
// the container registry, Key Vault, Application Insights with its workbook, and Azure ML with a
// low-priority GPU cluster. Every app signs in with its own user-assigned managed identity.
//
//   cd infra && azd up                                                     (main.parameters.json)
//   az deployment group create -g RG -f infra/main.bicep -p infra/az.bicepparam   (see docs/deploying.md)

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('Environment name (azd: AZURE_ENV_NAME): tags every resource and seeds the resource names.')
param environmentName string

@description('Region of every resource (Flex Consumption and low-priority GPU quota must exist there).')
param location string = resourceGroup().location

@description('Optional: object ID of the deployer (azd: AZURE_PRINCIPAL_ID), given Key Vault Secrets Officer so that azd reads the generated secrets back on the next provision.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// ---- the function app -------------------------------------------------------------------------

@description('Flex Consumption always-ready instances, e.g. [{"name": "http", "instanceCount": 1}, {"name": "function:understand", "instanceCount": 1}].')
param functionAlwaysReady array = []

@allowed([
  512
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
param functionMaximumInstanceCount int = 100

@description('Browser origins (web chat pages) allowed to call the function app, besides the admin site.')
param corsAllowedOrigins array = []

@description('SendBird application ID: SENDBIRD_API_URL is https://api-<id>.sendbird.com.')
param sendbirdAppId string

@description('The bot user (SENDBIRD_BOT_USER_ID) that answers in SendBird channels.')
param sendbirdBotUserId string

@description('The shop API base URL (SHOP_API_URL).')
param shopApiUrl string

@description('Azure AI Language endpoint of the question answering project (QNA_ENDPOINT).')
param qnaEndpoint string

@description('Question answering project name (QNA_PROJECT).')
param qnaProject string

param qnaDeployment string = 'production'
param qnaMinConfidence string = '0.3'
param nluTimeoutSeconds string = '2'
param nluMinConfidence string = '0.5'

@description('X-Forwarded-For hops the web chat rate limits trust (1: the Functions front end).')
param webchatTrustedProxies string = '1'

// ---- secrets: written to Key Vault, never into an app setting --------------------------------

@secure()
param sendbirdApiToken string

@secure()
param shopApiKey string

@secure()
param qnaApiKey string

@secure()
@minLength(32)
@description('Signs web chat conversation tokens (32 or more random characters); azd generates it once and keeps it in the environment.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param webchatTokenSecret string

@secure()
@minLength(15)
@description('Bearer token of the agent API the admin site calls on the function app.')
param agentApiToken string

@secure()
@minLength(32)
@description('The admin site session key (32 or more random characters); azd generates it once and keeps it in the environment.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param adminSecretKey string

@secure()
@description('Optional: the training worker\'s notification webhook (NOTIFY_WEBHOOK_URL); often carries a token.')
param notifyWebhookUrl string = ''

// ---- container apps -----------------------------------------------------------------------------

@description('NLU service image; the public placeholder until `azd deploy` (azd: SERVICE_NLU_IMAGE_NAME).')
param nluImage string = 'mcr.microsoft.com/k8se/quickstart:latest'

@description('Admin site image (azd: SERVICE_ADMIN_IMAGE_NAME).')
param adminImage string = 'mcr.microsoft.com/k8se/quickstart:latest'

@description('Training worker image (azd: SERVICE_WORKER_IMAGE_NAME).')
param workerImage string = 'mcr.microsoft.com/k8se/quickstart:latest'

@minValue(0)
param nluMinReplicas int = 1

@minValue(1)
param nluMaxReplicas int = 10

@description('Concurrent requests per NLU replica before another is added.')
param nluHttpConcurrency int = 50

@minValue(0)
param adminMinReplicas int = 1

@minValue(1)
param adminMaxReplicas int = 3

@description('Training worker replicas (0 stops it; more than 1 share the queue).')
@minValue(0)
param workerReplicas int = 1

// ---- telemetry and training ------------------------------------------------------------------------

@description('Application Insights accepts Entra ID authenticated telemetry only.')
param appInsightsDisableLocalAuth bool = true

@allowed([
  'azureml'
  'local'
])
param trainingBackend string = 'azureml'

@description('GPU VM size of the low-priority cluster (one GPU per node by default).')
param amlVmSize string = 'Standard_NC4as_T4_v3'

@minValue(1)
param amlMaxNodes int = 4

@description('MPI ranks per node: one per GPU of amlVmSize.')
param amlProcessesPerInstance string = '1'

@description('The Azure ML environment built from training_jobs/Dockerfile.azureml (see docs/retraining.md).')
param amlEnvironment string = 'switchboard-training@latest'

// ---- names ----------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'switchboard'
}
var cosmosDatabase = 'switchboard'
var functionAppName = 'func-${token}'
var nluAppName = 'ca-nlu-${token}'
var adminAppName = 'ca-admin-${token}'
var workerAppName = 'ca-worker-${token}'
var deploymentContainerName = 'app-package-${token}'
var clusterName = 'gpu-low-priority'

// function_app/core/queues.py: the pipeline's queues, one intent-<branch> per branch in
// function_app/branches/, and nlu/training.py's REQUEST_QUEUE.
var queueNames = [
  'turns-incoming'
  'turns-outgoing'
  'intent-greeting'
  'intent-goodbye'
  'intent-order-status'
  'intent-product-search'
  'intent-faq'
  'intent-human-handoff'
  'intent-fallback'
  'training-requests'
]

// function_app/core/cosmos.py, cosmos_counters.py and admin_site/services.py: name -> partition key.
var cosmosContainers = [
  { name: 'conversations', partitionKey: '/id' }
  { name: 'turns', partitionKey: '/conversation_id' }
  { name: 'outbox', partitionKey: '/conversation_id' }
  { name: 'catalogue', partitionKey: '/kind' }
  { name: 'ratelimits', partitionKey: '/id', defaultTtl: -1 }
  { name: 'users', partitionKey: '/id' }
  { name: 'throttle', partitionKey: '/id' }
  { name: 'audit', partitionKey: '/day' }
  { name: 'rollups', partitionKey: '/kind' }
]

// ---- shared resources -----------------------------------------------------------------------------

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    namePrefix: 'id-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${token}'
    appInsightsName: 'appi-${token}'
    location: location
    tags: tags
    disableLocalAuth: appInsightsDisableLocalAuth
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    queueNames: queueNames
    blobContainerNames: [
      'models'
      'training'
      deploymentContainerName
    ]
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: 'cosmos-${token}'
    location: location
    tags: tags
    databaseName: cosmosDatabase
    containers: cosmosContainers
    dataContributorPrincipalIds: [
      identities.outputs.functionsPrincipalId
      identities.outputs.adminPrincipalId
    ]
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    name: 'cr${token}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${token}'
    location: location
    tags: tags
    secretValues: {
      'sendbird-api-token': sendbirdApiToken
      'shop-api-key': shopApiKey
      'qna-api-key': qnaApiKey
      'webchat-token-secret': webchatTokenSecret
      'agent-api-token': agentApiToken
      'admin-secret-key': adminSecretKey
      'notify-webhook-url': notifyWebhookUrl
    }
  }
}

module ml 'modules/ml.bicep' = {
  name: 'ml'
  params: {
    workspaceName: 'mlw-${token}'
    storageAccountName: 'stml${token}'
    keyVaultName: 'kvml-${token}'
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    clusterName: clusterName
    vmSize: amlVmSize
    maxNodes: amlMaxNodes
    workerPrincipalId: identities.outputs.workerPrincipalId
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    registryName: registry.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    functionsPrincipalId: identities.outputs.functionsPrincipalId
    nluPrincipalId: identities.outputs.nluPrincipalId
    adminPrincipalId: identities.outputs.adminPrincipalId
    workerPrincipalId: identities.outputs.workerPrincipalId
    clusterPrincipalId: ml.outputs.clusterPrincipalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module containerAppsEnv 'modules/containerapps-env.bicep' = {
  name: 'containerapps-env'
  params: {
    name: 'cae-${token}'
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
  }
}

// ---- settings every app shares --------------------------------------------------------------------

var secretUris = {
  sendbirdApiToken: '${keyVault.outputs.uri}secrets/sendbird-api-token'
  shopApiKey: '${keyVault.outputs.uri}secrets/shop-api-key'
  qnaApiKey: '${keyVault.outputs.uri}secrets/qna-api-key'
  webchatTokenSecret: '${keyVault.outputs.uri}secrets/webchat-token-secret'
  agentApiToken: '${keyVault.outputs.uri}secrets/agent-api-token'
  adminSecretKey: '${keyVault.outputs.uri}secrets/admin-secret-key'
  notifyWebhookUrl: '${keyVault.outputs.uri}secrets/notify-webhook-url'
}
var adminUrl = 'https://${adminAppName}.${containerAppsEnv.outputs.defaultDomain}'
var functionsUrl = 'https://${functionAppName}.azurewebsites.net'

// Identity-based Storage (the Functions convention every app reads), DefaultAzureCredential's client
// ID, and Entra ID authenticated telemetry.
func identityEnv(clientId string, storageAccount string, connectionString string, aadTelemetry bool) array => concat([
  { name: 'AzureWebJobsStorage__accountName', value: storageAccount }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: clientId }
  { name: 'AZURE_CLIENT_ID', value: clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: connectionString }
], aadTelemetry ? [
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD;ClientId=${clientId}' }
] : [])

// ---- the apps -------------------------------------------------------------------------------------

var nluEnv = concat(identityEnv(identities.outputs.nluClientId, storage.outputs.name, monitoring.outputs.appInsightsConnectionString, appInsightsDisableLocalAuth), [
  { name: 'NLU_REGISTRY', value: 'azure://models' }
])

module nlu 'modules/containerapp.bicep' = {
  name: 'nlu'
  dependsOn: [
    roles
  ]
  params: {
    name: nluAppName
    location: location
    tags: tags
    serviceName: 'nlu'
    environmentId: containerAppsEnv.outputs.id
    identityId: identities.outputs.nluId
    registryServer: registry.outputs.loginServer
    image: nluImage
    targetPort: 8080
    args: []
    env: nluEnv
    secrets: []
    probes: [
      {
        type: 'Readiness'
        httpGet: {
          path: '/readyz'
          port: 8080
        }
        periodSeconds: 5
        failureThreshold: 3
      }
      {
        type: 'Liveness'
        httpGet: {
          path: '/healthz'
          port: 8080
        }
        periodSeconds: 10
        failureThreshold: 3
      }
    ]
    cpu: '1.0'
    memory: '2Gi'
    minReplicas: nluMinReplicas
    maxReplicas: nluMaxReplicas
    httpConcurrency: nluHttpConcurrency
  }
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  dependsOn: [
    roles
  ]
  params: {
    name: functionAppName
    planName: 'plan-${token}'
    location: location
    tags: tags
    identityId: identities.outputs.functionsId
    identityClientId: identities.outputs.functionsClientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    appInsightsLocalAuthDisabled: appInsightsDisableLocalAuth
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    alwaysReady: functionAlwaysReady
    corsAllowedOrigins: concat([adminUrl], corsAllowedOrigins)
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmosDatabase
    nluUrl: 'https://${nlu.outputs.fqdn}'
    nluTimeoutSeconds: nluTimeoutSeconds
    nluMinConfidence: nluMinConfidence
    shopApiUrl: shopApiUrl
    qnaEndpoint: qnaEndpoint
    qnaProject: qnaProject
    qnaDeployment: qnaDeployment
    qnaMinConfidence: qnaMinConfidence
    sendbirdApiUrl: 'https://api-${sendbirdAppId}.sendbird.com'
    sendbirdBotUserId: sendbirdBotUserId
    webchatTrustedProxies: webchatTrustedProxies
    secretUris: secretUris
  }
}

var adminEnv = concat(identityEnv(identities.outputs.adminClientId, storage.outputs.name, monitoring.outputs.appInsightsConnectionString, appInsightsDisableLocalAuth), [
  { name: 'ADMIN_SECRET_KEY', secretRef: 'admin-secret-key' }
  { name: 'ADMIN_BASE_URL', value: adminUrl }
  { name: 'ADMIN_TRUSTED_PROXIES', value: '1' }
  { name: 'COSMOS_ENDPOINT', value: cosmos.outputs.endpoint }
  { name: 'COSMOS_DATABASE', value: cosmosDatabase }
  { name: 'FUNCTIONS_URL', value: functionsUrl }
  { name: 'AGENT_API_TOKEN', secretRef: 'agent-api-token' }
  { name: 'QNA_ENDPOINT', value: qnaEndpoint }
  { name: 'QNA_API_KEY', secretRef: 'qna-api-key' }
  { name: 'QNA_PROJECT', value: qnaProject }
  { name: 'QNA_DEPLOYMENT', value: qnaDeployment }
  { name: 'NLU_MIN_CONFIDENCE', value: nluMinConfidence }
  { name: 'NLU_REGISTRY', value: 'azure://models' }
  { name: 'TRAINING_STORE', value: 'azure://training' }
])

module admin 'modules/containerapp.bicep' = {
  name: 'admin'
  dependsOn: [
    roles
  ]
  params: {
    name: adminAppName
    location: location
    tags: tags
    serviceName: 'admin'
    environmentId: containerAppsEnv.outputs.id
    identityId: identities.outputs.adminId
    registryServer: registry.outputs.loginServer
    image: adminImage
    targetPort: 7104
    args: []
    env: adminEnv
    secrets: [
      { name: 'admin-secret-key', keyVaultUrl: secretUris.adminSecretKey }
      { name: 'agent-api-token', keyVaultUrl: secretUris.agentApiToken }
      { name: 'qna-api-key', keyVaultUrl: secretUris.qnaApiKey }
    ]
    probes: [
      {
        type: 'Liveness'
        httpGet: {
          path: '/healthz'
          port: 7104
        }
        periodSeconds: 30
        failureThreshold: 3
      }
    ]
    cpu: '0.5'
    memory: '1Gi'
    minReplicas: adminMinReplicas
    maxReplicas: adminMaxReplicas
    httpConcurrency: 50
  }
}

var workerEnv = concat(identityEnv(identities.outputs.workerClientId, storage.outputs.name, monitoring.outputs.appInsightsConnectionString, appInsightsDisableLocalAuth), [
  { name: 'TRAINING_BACKEND', value: trainingBackend }
  { name: 'NLU_REGISTRY', value: 'azure://models' }
  { name: 'TRAINING_STORE', value: 'azure://training' }
  { name: 'ADMIN_BASE_URL', value: adminUrl }
  { name: 'AZUREML_SUBSCRIPTION_ID', value: subscription().subscriptionId }
  { name: 'AZUREML_RESOURCE_GROUP', value: resourceGroup().name }
  { name: 'AZUREML_WORKSPACE', value: ml.outputs.workspaceName }
  { name: 'AZUREML_ENVIRONMENT', value: amlEnvironment }
  { name: 'AZUREML_COMPUTE', value: ml.outputs.clusterName }
  { name: 'AZUREML_PROCESSES_PER_INSTANCE', value: amlProcessesPerInstance }
], empty(notifyWebhookUrl) ? [] : [
  { name: 'NOTIFY_WEBHOOK_URL', secretRef: 'notify-webhook-url' }
])

module worker 'modules/containerapp.bicep' = {
  name: 'worker'
  dependsOn: [
    roles
  ]
  params: {
    name: workerAppName
    location: location
    tags: tags
    serviceName: 'worker'
    environmentId: containerAppsEnv.outputs.id
    identityId: identities.outputs.workerId
    registryServer: registry.outputs.loginServer
    image: workerImage
    targetPort: 0
    args: [
      'worker'
    ]
    env: workerEnv
    secrets: empty(notifyWebhookUrl) ? [] : [
      { name: 'notify-webhook-url', keyVaultUrl: secretUris.notifyWebhookUrl }
    ]
    probes: []
    cpu: '1.0'
    memory: '2Gi'
    minReplicas: workerReplicas
    maxReplicas: max(workerReplicas, 1)
    httpConcurrency: 0
  }
}

// ---- outputs (azd writes them to .azure/<env>/.env) -------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmosDatabase
output FUNCTION_APP_NAME string = functions.outputs.name
output FUNCTIONS_URL string = 'https://${functions.outputs.defaultHostName}'
output SENDBIRD_WEBHOOK_URL string = 'https://${functions.outputs.defaultHostName}/api/channels/sendbird/webhook'
output NLU_URL string = 'https://${nlu.outputs.fqdn}'
output ADMIN_BASE_URL string = adminUrl
output WORKER_APP_NAME string = worker.outputs.name
output ADMIN_APP_NAME string = admin.outputs.name
output AZUREML_WORKSPACE string = ml.outputs.workspaceName
output AZUREML_COMPUTE string = ml.outputs.clusterName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
