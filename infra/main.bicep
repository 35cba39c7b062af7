// Switchboard on Azure: one resource group holding the function app (Flex Consumption), Cosmos DB
// (serverless), Storage, the container registry, Key Vault, Log Analytics and Application Insights with
// its workbook, Azure ML with a GPU cluster that scales to zero, and the Container Apps environment.
// The three container apps (the NLU service, the admin site, the training worker) are deployed by
// `azd deploy` from nlu.bicep, admin.bicep and worker.bicep once their images exist. Every app signs in
// with its own user-assigned managed identity; docs/deploying.md has the table of identities and roles.
//
//   cd infra && azd up                                                     (main.parameters.json)
//   az deployment group create -g RG -f infra/main.bicep -p infra/az.bicepparam   (see docs/deploying.md)

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('Environment name (azd: AZURE_ENV_NAME): tags every resource and seeds the resource names.')
param environmentName string

@description('Region of every resource (Flex Consumption and GPU quota must exist there).')
param location string = resourceGroup().location

@description('Optional: object ID of the deployer (azd: AZURE_PRINCIPAL_ID), given Key Vault Secrets Officer: infra/hooks/secrets.py lists the secrets\' names, and rotation is theirs.')
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

// ---- secrets: written to Key Vault when given, never into an app setting ----------------------
// infra/hooks/secrets.py (azd preprovision) gives a value only for a secret the vault lacks: generated
// ones (48 random characters) and the outside services' (from the environment or a prompt). An empty
// value writes nothing, so a provision never overwrites a rotated secret.

@secure()
param sendbirdApiToken string = ''

@secure()
param shopApiKey string = ''

@secure()
param qnaApiKey string = ''

@secure()
@description('Signs web chat conversation tokens.')
param webchatTokenSecret string = ''

@secure()
@description('Bearer token of the agent API the admin site calls on the function app.')
param agentApiToken string = ''

@secure()
@description('The admin site session key.')
param adminSecretKey string = ''

@secure()
@description('The key the function app sends to the NLU service (nlu-api-key).')
param nluApiKey string = ''

@secure()
@description('The keys the NLU service accepts, comma-separated (nlu-api-keys: old and new while a key is rotated).')
param nluApiKeys string = ''

@secure()
@description('Optional: the training worker\'s notification webhook (NOTIFY_WEBHOOK_URL); often carries a token.')
param notifyWebhookUrl string = ''

@description('Whether the vault holds notify-webhook-url (the hook says): the worker then reads it.')
param notifyWebhookInVault bool = false

// ---- telemetry and training ------------------------------------------------------------------------

@description('Application Insights accepts Entra ID authenticated telemetry only.')
param appInsightsDisableLocalAuth bool = true

@allowed([
  'azureml'
  'local'
])
param trainingBackend string = 'azureml'

@description('GPU VM size of the cluster (one GPU per node by default).')
param amlVmSize string = 'Standard_NC4as_T4_v3'

@description('Low priority: a third of the price, and a job may be preempted (the worker resubmits it).')
@allowed([
  'LowPriority'
  'Dedicated'
])
param amlVmPriority string = 'LowPriority'

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
// AmlCompute cannot change its VM size or priority in place: a change makes a new cluster (the old one,
// at zero nodes, costs nothing; docs/deploying.md says how to delete it).
var clusterName = 'gpu-${take(uniqueString(amlVmSize, amlVmPriority), 8)}'

// function_app/core/queues.py: the queues the functions consume, one intent-<branch> per branch in
// function_app/branches/; each has its poison queue, made here so that roles can name it.
var triggeredQueues = [
  'turns-incoming'
  'turns-outgoing'
  'intent-greeting'
  'intent-goodbye'
  'intent-order-status'
  'intent-product-search'
  'intent-faq'
  'intent-human-handoff'
  'intent-fallback'
]
// nlu/training.py's REQUEST_QUEUE
var trainingQueue = 'training-requests'
var poisonQueues = [for q in triggeredQueues: '${q}-poison']

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
    queueNames: concat(triggeredQueues, poisonQueues, [trainingQueue])
    blobContainerNames: [
      'models'
      'training'
      deploymentContainerName
    ]
    shortLivedVersionPrefixes: [
      'training/'
      '${deploymentContainerName}/'
      'azure-webjobs-hosts/'
      'azure-webjobs-secrets/'
    ]
    logAnalyticsId: monitoring.outputs.logAnalyticsId
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
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    name: 'cr${token}'
    location: location
    tags: tags
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

// Who reads which secret (Key Vault Secrets User on that secret alone).
var secretReaders = concat([
  { secret: 'sendbird-api-token', principalId: identities.outputs.functionsPrincipalId }
  { secret: 'shop-api-key', principalId: identities.outputs.functionsPrincipalId }
  { secret: 'qna-api-key', principalId: identities.outputs.functionsPrincipalId }
  { secret: 'webchat-token-secret', principalId: identities.outputs.functionsPrincipalId }
  { secret: 'agent-api-token', principalId: identities.outputs.functionsPrincipalId }
  { secret: 'nlu-api-key', principalId: identities.outputs.functionsPrincipalId }
  { secret: 'nlu-api-keys', principalId: identities.outputs.nluPrincipalId }
  { secret: 'admin-secret-key', principalId: identities.outputs.adminPrincipalId }
  { secret: 'agent-api-token', principalId: identities.outputs.adminPrincipalId }
  { secret: 'qna-api-key', principalId: identities.outputs.adminPrincipalId }
], notifyWebhookInVault ? [
  { secret: 'notify-webhook-url', principalId: identities.outputs.workerPrincipalId }
] : [])

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${token}'
    location: location
    tags: tags
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    secretValues: {
      'sendbird-api-token': sendbirdApiToken
      'shop-api-key': shopApiKey
      'qna-api-key': qnaApiKey
      'webchat-token-secret': webchatTokenSecret
      'agent-api-token': agentApiToken
      'admin-secret-key': adminSecretKey
      'nlu-api-key': nluApiKey
      'nlu-api-keys': nluApiKeys
      'notify-webhook-url': notifyWebhookUrl
    }
    secretReaders: secretReaders
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
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
    vmPriority: amlVmPriority
    maxNodes: amlMaxNodes
    workerPrincipalId: identities.outputs.workerPrincipalId
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    storageAccountName: storage.outputs.name
    registryName: registry.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    functionsPrincipalId: identities.outputs.functionsPrincipalId
    nluPrincipalId: identities.outputs.nluPrincipalId
    adminPrincipalId: identities.outputs.adminPrincipalId
    workerPrincipalId: identities.outputs.workerPrincipalId
    clusterPrincipalId: ml.outputs.clusterPrincipalId
    triggeredQueues: triggeredQueues
    trainingQueue: trainingQueue
  }
}

module containerAppsEnv 'modules/containerapps-env.bicep' = {
  name: 'containerapps-env'
  params: {
    name: 'cae-${token}'
    location: location
    tags: tags
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

// ---- the function app -----------------------------------------------------------------------------

var secretUris = {
  sendbirdApiToken: '${keyVault.outputs.uri}secrets/sendbird-api-token'
  shopApiKey: '${keyVault.outputs.uri}secrets/shop-api-key'
  qnaApiKey: '${keyVault.outputs.uri}secrets/qna-api-key'
  webchatTokenSecret: '${keyVault.outputs.uri}secrets/webchat-token-secret'
  agentApiToken: '${keyVault.outputs.uri}secrets/agent-api-token'
  nluApiKey: '${keyVault.outputs.uri}secrets/nlu-api-key'
}
// The container apps' addresses follow from their names and the environment's domain, so the function
// app knows them before `azd deploy` makes the apps.
var adminUrl = 'https://${adminAppName}.${containerAppsEnv.outputs.defaultDomain}'
var nluUrl = 'https://${nluAppName}.${containerAppsEnv.outputs.defaultDomain}'

module functions 'modules/functions.bicep' = {
  name: 'functions'
  dependsOn: [
    roles
    keyVault
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
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    alwaysReady: functionAlwaysReady
    corsAllowedOrigins: concat([adminUrl], corsAllowedOrigins)
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmosDatabase
    nluUrl: nluUrl
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

// ---- outputs (azd writes them to .azure/<env>/.env; nlu/admin/worker.parameters.json read them) -----

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = containerAppsEnv.outputs.id
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.appInsightsConnectionString
output APPLICATIONINSIGHTS_LOCAL_AUTH_DISABLED string = string(appInsightsDisableLocalAuth)
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmosDatabase
output FUNCTION_APP_NAME string = functions.outputs.name
output FUNCTIONS_URL string = 'https://${functions.outputs.defaultHostName}'
output SENDBIRD_WEBHOOK_URL string = 'https://${functions.outputs.defaultHostName}/api/channels/sendbird/webhook'
output NLU_URL string = nluUrl
output NLU_APP_NAME string = nluAppName
output NLU_IDENTITY_ID string = identities.outputs.nluId
output NLU_IDENTITY_CLIENT_ID string = identities.outputs.nluClientId
output ADMIN_BASE_URL string = adminUrl
output ADMIN_APP_NAME string = adminAppName
output ADMIN_IDENTITY_ID string = identities.outputs.adminId
output ADMIN_IDENTITY_CLIENT_ID string = identities.outputs.adminClientId
output WORKER_APP_NAME string = workerAppName
output WORKER_IDENTITY_ID string = identities.outputs.workerId
output WORKER_IDENTITY_CLIENT_ID string = identities.outputs.workerClientId
output TRAINING_BACKEND string = trainingBackend
output AZUREML_WORKSPACE string = ml.outputs.workspaceName
output AZUREML_COMPUTE string = ml.outputs.clusterName
output AZUREML_ENVIRONMENT string = amlEnvironment
output AZUREML_PROCESSES_PER_INSTANCE string = amlProcessesPerInstance
output QNA_ENDPOINT string = qnaEndpoint
output QNA_PROJECT string = qnaProject
output QNA_DEPLOYMENT string = qnaDeployment
output NLU_MIN_CONFIDENCE string = nluMinConfidence
output NOTIFY_WEBHOOK_IN_VAULT string = string(notifyWebhookInVault)
