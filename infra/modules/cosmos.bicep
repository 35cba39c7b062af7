// Cosmos DB for NoSQL, serverless, Entra ID only (no keys): the database, every container the apps use
// (with Entra data-plane auth the apps cannot create them) and the data-plane role assignments.
// TLS 1.2 at least, continuous backup (point-in-time restore over 7 days), no metadata writes with keys,
// and every data-plane request in Log Analytics.

param name string
param location string
param tags object
param databaseName string

@description('[{ name, partitionKey, defaultTtl? }]: every container of the database.')
param containers array

@description('Principal IDs given Cosmos DB Built-in Data Contributor on the account.')
param dataContributorPrincipalIds array

param logAnalyticsId string

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    // checkov:skip=CKV_AZURE_101: public endpoint accepted without a virtual network (docs/deploying.md), Entra ID only
    // checkov:skip=CKV_AZURE_99: no IP rules: Flex Consumptions outbound addresses are not fixed (docs/deploying.md)
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
    publicNetworkAccess: 'Enabled'
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: account
  properties: {
    workspaceId: logAnalyticsId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      { category: 'DataPlaneRequests', enabled: true }
      { category: 'ControlPlaneRequests', enabled: true }
    ]
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for container in containers: {
  parent: database
  name: container.name
  properties: {
    resource: union({
      id: container.name
      partitionKey: {
        paths: [
          container.partitionKey
        ]
        kind: 'Hash'
      }
    }, contains(container, 'defaultTtl') ? { defaultTtl: container.defaultTtl } : {})
  }
}]

// Cosmos DB Built-in Data Contributor: a data-plane role of the account itself, not an Azure RBAC role.
resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-05-15' existing = {
  parent: account
  name: '00000000-0000-0000-0000-000000000002'
}

resource dataContributorAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [for principalId in dataContributorPrincipalIds: {
  parent: account
  name: guid(account.id, principalId, dataContributor.id)
  properties: {
    principalId: principalId
    roleDefinitionId: dataContributor.id
    scope: account.id
  }
}]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
