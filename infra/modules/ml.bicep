// The Azure ML workspace (with its own storage account and key vault, and the shared Application
// Insights) and the low-priority GPU cluster that scales to zero; the worker's roles on them.

param workspaceName string
param storageAccountName string
param keyVaultName string
param location string
param tags object
param appInsightsId string
@description('The cluster\'s name: a new one whenever its VM size or priority changes (AmlCompute cannot update them).')
param clusterName string
param vmSize string

@allowed([
  'LowPriority'
  'Dedicated'
])
param vmPriority string
param maxNodes int
param logAnalyticsId string

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
    // checkov:skip=CKV_AZURE_35: Azure MLs compute reaches it without a virtual network (docs/deploying.md)
    // checkov:skip=CKV_AZURE_59: Azure MLs default datastores need the public endpoint without a virtual network
    // checkov:skip=CKV_AZURE_44: TLS 1.2 is set (minimumTlsVersion), the check reads an older property name
    minimumTlsVersion: 'TLS1_2'
    // checkov:skip=CKV_AZURE_206: LRS: job snapshots and outputs are copied to the model registry
    // checkov:skip=CKV_AZURE_43: the name is stml + a unique string: lower-case letters and digits, 3 to 24
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource mlVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_42: soft delete without purge protection, so that `azd down --purge` can purge it
    // checkov:skip=CKV_AZURE_110: Azure MLs own vault holds nothing of ours, `azd down --purge` must be able to purge it
    // checkov:skip=CKV_AZURE_109: Azure ML reaches it without a virtual network (docs/deploying.md)
    // checkov:skip=CKV_AZURE_189: public endpoint accepted without a virtual network (docs/deploying.md)
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
    // checkov:skip=CKV_AZURE_243: no private endpoint without a virtual network (docs/deploying.md)
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
    description: 'Switchboard NLU training: GPU nodes, scales to zero after 5 idle minutes, no SSH'
    properties: {
      vmSize: vmSize
      vmPriority: vmPriority
      osType: 'Linux'
      // without a virtual network an unset value opens SSH (port 22) on every node to the internet
      remoteLoginPortPublicAccess: 'Disabled'
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

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: workspace
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      { category: 'AmlComputeClusterEvent', enabled: true }
      { category: 'AmlComputeJobEvent', enabled: true }
    ]
  }
}

output workspaceName string = workspace.name
output clusterName string = cluster.name
output clusterPrincipalId string = cluster.identity!.principalId
