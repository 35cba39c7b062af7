// Azure RBAC role assignments, each on the narrowest practical scope (the storage account or one of its
// containers, the vault, the registry, the Application Insights resource). Cosmos DB's data-plane roles
// are in cosmos.bicep; Azure ML's in ml.bicep.

param storageAccountName string
param keyVaultName string
param registryName string
param appInsightsName string
param functionsPrincipalId string
param nluPrincipalId string
param adminPrincipalId string
param workerPrincipalId string

@description('The Azure ML cluster identity: reads the data sets in the training container.')
param clusterPrincipalId string

@description('Optional: the deployer (azd sets AZURE_PRINCIPAL_ID), so that azd can read the generated secrets back on the next provision.')
param deployerPrincipalId string

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string

// Built-in role definition IDs (the same in every tenant); tests/infra/test_templates.py holds their
// names and where they were looked up.
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource trainingContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${storageAccountName}/default/training'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var storageAssignments = [
  // functions: AzureWebJobsStorage with an identity (host blobs and leases, queue triggers and outputs,
  // poison queues) and the Flex Consumption deployment package.
  { principalId: functionsPrincipalId, role: roleIds.storageBlobDataOwner }
  { principalId: functionsPrincipalId, role: roleIds.storageQueueDataContributor }
  // nlu: reads the model registry (azure://models).
  { principalId: nluPrincipalId, role: roleIds.storageBlobDataReader }
  // admin: poison queues and training-requests; the registry's pointer (promote, roll back) and the training store.
  { principalId: adminPrincipalId, role: roleIds.storageQueueDataContributor }
  { principalId: adminPrincipalId, role: roleIds.storageBlobDataContributor }
  // worker: training-requests; the training store and the registry it registers models in.
  { principalId: workerPrincipalId, role: roleIds.storageQueueDataContributor }
  { principalId: workerPrincipalId, role: roleIds.storageBlobDataContributor }
]

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for a in storageAssignments: {
  name: guid(storage.id, a.principalId, a.role)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.role)
    principalId: a.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource clusterReadsDatasets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(trainingContainer.id, clusterPrincipalId, roleIds.storageBlobDataReader)
  scope: trainingContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: clusterPrincipalId
    principalType: 'ServicePrincipal'
  }
}

var secretReaders = [
  functionsPrincipalId
  adminPrincipalId
  workerPrincipalId
]

resource vaultRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in secretReaders: {
  name: guid(vault.id, principalId, roleIds.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource deployerVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roleIds.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

var imagePullers = [
  nluPrincipalId
  adminPrincipalId
  workerPrincipalId
]

resource registryRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in imagePullers: {
  name: guid(registry.id, principalId, roleIds.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.acrPull)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// Entra ID authenticated telemetry (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) from every app.
var telemetryPublishers = [
  functionsPrincipalId
  nluPrincipalId
  adminPrincipalId
  workerPrincipalId
]

resource telemetryRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in telemetryPublishers: {
  name: guid(appInsights.id, principalId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]
