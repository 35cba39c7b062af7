// The settings every container app shares: identity-based Storage (the Functions convention every app
// reads), DefaultAzureCredential's client ID, and Entra ID authenticated telemetry. No resources: its
// output is the list the app templates start their env from.

param clientId string
param storageAccountName string
param appInsightsConnectionString string
param appInsightsLocalAuthDisabled bool

output env array = concat([
  { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: clientId }
  { name: 'AZURE_CLIENT_ID', value: clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
], appInsightsLocalAuthDisabled ? [
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD;ClientId=${clientId}' }
] : [])
