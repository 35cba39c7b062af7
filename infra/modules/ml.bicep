// The Azure ML workspace (with its own storage account and key vault, and the shared Application
// Insights) and the low-priority GPU cluster that scales to zero; the worker's roles on them.

param workspaceName string
param storageAccountName string
param keyVaultName string
param location string
param tags object
param appInsightsId string
param clusterName string
param vmSize string
param maxNodes int

@description('The training worker: submits, follows, cancels and downloads jobs.')
param workerPrincipalId string

var roleIds = {
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
}

// Azure ML's default datastores use this account's key, so unlike the apps' account it keeps shared keys.
resource mlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource mlVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {
  name: workspaceName
  location: location
  tags: tags
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    friendlyName: workspaceName
    storageAccount: mlStorage.id
    keyVault: mlVault.id
    applicationInsights: appInsightsId
    publicNetworkAccess: 'Enabled'
  }
}

// The workspace grants its own identity what it needs on its vault and storage when it is created
// (an explicit assignment of the same role would fail with RoleAssignmentExists).
resource cluster 'Microsoft.MachineLearningServices/workspaces/computes@2024-04-01' = {
  parent: workspace
  name: clusterName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    computeType: 'AmlCompute'
    description: 'Switchboard NLU training: low-priority GPU nodes, scales to zero after 5 idle minutes'
    properties: {
      vmSize: vmSize
      vmPriority: 'LowPriority'
      osType: 'Linux'
      scaleSettings: {
        minNodeCount: 0
        maxNodeCount: maxNodes
        nodeIdleTimeBeforeScaleDown: 'PT5M'
      }
    }
  }
}

resource workerDataScientist 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, workerPrincipalId, roleIds.azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.azureMLDataScientist)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The worker uploads each job's code snapshot and downloads its `model` output through the
// workspace's storage (needed when its datastores use identity-based access).
resource workerMlStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mlStorage.id, workerPrincipalId, roleIds.storageBlobDataContributor)
  scope: mlStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output workspaceName string = workspace.name
output clusterName string = cluster.name
output clusterPrincipalId string = cluster.identity!.principalId
