// Key Vault (Azure RBAC) holding the secrets that have no identity route. The apps read them as Key
// Vault references (function app) or Key Vault secrets of the container apps, through their identities.

param name string
param location string
param tags object

@secure()
@description('secret name -> value; empty values are not written (an optional secret left unset).')
param secretValues object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
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
    publicNetworkAccess: 'Enabled'
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in filter(items(secretValues), s => !empty(s.value)): {
  parent: vault
  name: secret.key
  properties: {
    value: secret.value
  }
}]

output name string = vault.name
output uri string = vault.properties.vaultUri
