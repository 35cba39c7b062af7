// Key Vault (Azure RBAC) holding the secrets that have no identity route. Each app reads exactly the
// secrets it needs (a role on each secret, not on the vault). A secret is written only when its value
// is given: infra/hooks/secrets.py gives the value of a secret the vault lacks and nothing for one it
// has, so a provision never overwrites a rotated secret. Purge protection: a deleted vault is kept 7 days
// and cannot be purged (the hook recovers it on the next `azd up`; docs/deploying.md).

param name string
param location string
param tags object
param logAnalyticsId string

@secure()
@description('secret name -> value; an empty value is not written (the vault has it already, or it is optional).')
param secretValues object

@description('[{ secret, principalId }]: Key Vault Secrets User on that one secret.')
param secretReaders array

@description('Optional: the deployer (azd: AZURE_PRINCIPAL_ID), Key Vault Secrets Officer: lists the secrets\' names for the hook, and rotates them.')
param deployerPrincipalId string

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string

var roleIds = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109: no network rules: the apps reach it without a virtual network (docs/deploying.md), RBAC per secret
    // checkov:skip=CKV_AZURE_189: public endpoint accepted without a virtual network (docs/deploying.md)
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in items(secretValues): if (!empty(secret.value)) {
  parent: vault
  name: secret.key
  properties: {
    // checkov:skip=CKV_AZURE_41: no expiry: rotation is by hand (docs/deploying.md), and an expired secret would stop the apps
    // checkov:skip=CKV_AZURE_114: the content type is the secrets names business (tokens and keys, no certificates)
    value: secret.value
  }
}]

resource readable 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for grant in secretReaders: {
  parent: vault
  name: grant.secret
}]

resource readers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (grant, i) in secretReaders: {
  name: guid(readable[i].id, grant.principalId, roleIds.keyVaultSecretsUser)
  scope: readable[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: grant.principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    secrets
  ]
}]

resource deployer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roleIds.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// Audit: every secret read (AuditEvent names the caller), to Log Analytics.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: vault
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      { category: 'AuditEvent', enabled: true }
    ]
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
