// Azure RBAC role assignments on Storage, the registry and Application Insights, each on the narrowest
// scope that works: one container or one queue where the SDK calls allow it. The secrets' roles are in
// keyvault.bicep (one per secret), Cosmos DB's data-plane roles in cosmos.bicep, Azure ML's in ml.bicep.
// docs/deploying.md ("Identities and roles") says why each is there; tests/infra/test_roles.py holds the
// model these assignments must equal.

param storageAccountName string
param registryName string
param appInsightsName string
param functionsPrincipalId string
param nluPrincipalId string
param adminPrincipalId string
param workerPrincipalId string

@description('The Azure ML cluster identity: reads the data sets in the training container.')
param clusterPrincipalId string

@description('The queues the functions consume, whose `-poison` queues the admin site\'s poison page empties.')
param triggeredQueues array

@description('The queue training requests travel on.')
param trainingQueue string

// Built-in role definition IDs (the same in every tenant); tests/infra/infracheck.py (BUILT_IN_ROLES) holds their
// names and where they were looked up.
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// On the account: the function app is the Functions host (its leases, its poison queues, the deployment
// package it runs from); the admin site lists the queues to find the poison ones (and may peek any).
var accountGrants = [
  { principalId: functionsPrincipalId, role: roleIds.storageBlobDataOwner }
  { principalId: functionsPrincipalId, role: roleIds.storageQueueDataContributor }
  { principalId: adminPrincipalId, role: roleIds.storageQueueDataReader }
]

resource accountRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in accountGrants: {
  name: guid(storage.id, g.principalId, g.role)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', g.role)
    principalId: g.principalId
    principalType: 'ServicePrincipal'
  }
}]

// On one container each: the model registry (`models`) and the training store (`training`).
var containerGrants = [
  { principalId: nluPrincipalId, role: roleIds.storageBlobDataReader, container: 'models' }
  { principalId: adminPrincipalId, role: roleIds.storageBlobDataContributor, container: 'models' }
  { principalId: adminPrincipalId, role: roleIds.storageBlobDataContributor, container: 'training' }
  { principalId: workerPrincipalId, role: roleIds.storageBlobDataContributor, container: 'models' }
  { principalId: workerPrincipalId, role: roleIds.storageBlobDataContributor, container: 'training' }
  { principalId: clusterPrincipalId, role: roleIds.storageBlobDataReader, container: 'training' }
]

resource grantedContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for g in containerGrants: {
  name: '${storageAccountName}/default/${g.container}'
}]

resource containerRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (g, i) in containerGrants: {
  name: guid(grantedContainers[i].id, g.principalId, g.role)
  scope: grantedContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', g.role)
    principalId: g.principalId
    principalType: 'ServicePrincipal'
  }
}]

// On one queue each: the admin site sends training requests and re-queues a parked message onto its
// source queue (Message Sender there: it cannot read or delete the pipeline's messages), and receives
// and deletes on the poison queues; the worker takes training requests.
var poisonGrants = [for q in triggeredQueues: {
  principalId: adminPrincipalId
  role: roleIds.storageQueueDataContributor
  queue: '${q}-poison'
}]
var requeueGrants = [for q in triggeredQueues: {
  principalId: adminPrincipalId
  role: roleIds.storageQueueDataMessageSender
  queue: q
}]
var queueGrants = concat([
  { principalId: adminPrincipalId, role: roleIds.storageQueueDataContributor, queue: trainingQueue }
  { principalId: workerPrincipalId, role: roleIds.storageQueueDataContributor, queue: trainingQueue }
], poisonGrants, requeueGrants)

resource grantedQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for g in queueGrants: {
  name: '${storageAccountName}/default/${g.queue}'
}]

resource queueRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (g, i) in queueGrants: {
  name: guid(grantedQueues[i].id, g.principalId, g.role)
  scope: grantedQueues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', g.role)
    principalId: g.principalId
    principalType: 'ServicePrincipal'
  }
}]

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
