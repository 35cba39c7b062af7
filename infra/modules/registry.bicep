// The container registry the three container apps pull from (AcrPull by their identities; no admin user,
// no anonymous pull), with its logins and pushes in Log Analytics.

param name string
param location string
param tags object
param logAnalyticsId string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    // checkov:skip=CKV_AZURE_139: public endpoint (Basic has no private link), pulls need an identitys AcrPull, no anonymous pull
    // checkov:skip=CKV_AZURE_166: quarantine is a Premium feature, images are pushed by azd from this repository only
    name: 'Basic'
    // checkov:skip=CKV_AZURE_233: zone redundancy is a Premium feature (docs/deploying.md)
    // checkov:skip=CKV_AZURE_163: image scanning is Defender for Containers, a subscription plan (docs/deploying.md)
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: registry
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      { category: 'ContainerRegistryLoginEvents', enabled: true }
      { category: 'ContainerRegistryRepositoryEvents', enabled: true }
    ]
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
