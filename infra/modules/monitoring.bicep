// Log Analytics, workspace-based Application Insights and the Switchboard workbook (../workbook.json).

param logAnalyticsName string
param appInsightsName string
param location string
param tags object

@description('Entra ID only ingestion: apps then need Monitoring Metrics Publisher and APPLICATIONINSIGHTS_AUTHENTICATION_STRING.')
param disableLocalAuth bool

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: disableLocalAuth
  }
}

// The dashboard's charts over the function app's spans (the `requests` table); see ../workbook.json.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsights.id, 'switchboard-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Switchboard'
    category: 'workbook'
    sourceId: appInsights.id
    // opened from the gallery or directly, the workbook queries this Application Insights resource
    serializedData: replace(loadTextContent('../workbook.json'), '"Azure Monitor"', '"${appInsights.id}"')
  }
}

output logAnalyticsName string = logAnalytics.name
output logAnalyticsId string = logAnalytics.id
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
output appInsightsConnectionString string = appInsights.properties.ConnectionString
