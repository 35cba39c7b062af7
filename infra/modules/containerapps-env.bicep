// The Container Apps environment of the NLU service, the admin site and the training worker: their
// console and system logs go to Log Analytics through a diagnostic setting (Azure Monitor), so no
// workspace key is handed to the environment.

param name string
param location string
param tags object
param logAnalyticsId string

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: environment
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      { category: 'ContainerAppConsoleLogs', enabled: true }
      { category: 'ContainerAppSystemLogs', enabled: true }
    ]
  }
}

output id string = environment.id
output defaultDomain string = environment.properties.defaultDomain
