// The admin site's container app, deployed by `azd deploy admin` once its image is in the registry:
// the first revision runs the real image on its port with its probes. Liveness (/livez) is the process
// alone; readiness (/healthz) reads Cosmos DB, so a Cosmos DB blip takes a replica out of rotation
// without restarting it.

param location string = resourceGroup().location
param environmentName string
param name string
param image string
param environmentId string
param identityId string
param identityClientId string
param registryServer string
param keyVaultUri string
param storageAccountName string
param appInsightsConnectionString string
@description('\'true\': Entra ID authenticated telemetry only (a string: azd passes a service template\'s parameters as text).')
@allowed([
  'true'
  'false'
])
param appInsightsLocalAuthDisabled string

param cosmosEndpoint string
param cosmosDatabase string
param functionsUrl string
param adminUrl string
param qnaEndpoint string
param qnaProject string
param qnaDeployment string
param nluMinConfidence string

@minValue(0)
param minReplicas int = 1

@minValue(1)
param maxReplicas int = 3

module shared 'modules/appenv.bicep' = {
  name: 'admin-env'
  params: {
    clientId: identityClientId
    storageAccountName: storageAccountName
    appInsightsConnectionString: appInsightsConnectionString
    appInsightsLocalAuthDisabled: appInsightsLocalAuthDisabled == 'true'
  }
}

module app 'modules/containerapp.bicep' = {
  name: 'admin-app'
  params: {
    name: name
    location: location
    tags: {
      'azd-env-name': environmentName
      application: 'switchboard'
    }
    serviceName: 'admin'
    environmentId: environmentId
    identityId: identityId
    registryServer: registryServer
    image: image
    targetPort: 7104
    args: []
    env: concat(shared.outputs.env, [
      { name: 'ADMIN_SECRET_KEY', secretRef: 'admin-secret-key' }
      { name: 'ADMIN_BASE_URL', value: adminUrl }
      { name: 'ADMIN_TRUSTED_PROXIES', value: '1' }
      { name: 'COSMOS_ENDPOINT', value: cosmosEndpoint }
      { name: 'COSMOS_DATABASE', value: cosmosDatabase }
      { name: 'FUNCTIONS_URL', value: functionsUrl }
      { name: 'AGENT_API_TOKEN', secretRef: 'agent-api-token' }
      { name: 'QNA_ENDPOINT', value: qnaEndpoint }
      { name: 'QNA_API_KEY', secretRef: 'qna-api-key' }
      { name: 'QNA_PROJECT', value: qnaProject }
      { name: 'QNA_DEPLOYMENT', value: qnaDeployment }
      { name: 'NLU_MIN_CONFIDENCE', value: nluMinConfidence }
      { name: 'NLU_REGISTRY', value: 'azure://models' }
      { name: 'TRAINING_STORE', value: 'azure://training' }
    ])
    secrets: [
      { name: 'admin-secret-key', keyVaultUrl: '${keyVaultUri}secrets/admin-secret-key' }
      { name: 'agent-api-token', keyVaultUrl: '${keyVaultUri}secrets/agent-api-token' }
      { name: 'qna-api-key', keyVaultUrl: '${keyVaultUri}secrets/qna-api-key' }
    ]
    probes: [
      {
        type: 'Liveness'
        httpGet: {
          path: '/livez'
          port: 7104
        }
        periodSeconds: 30
        failureThreshold: 3
      }
      {
        type: 'Readiness'
        httpGet: {
          path: '/healthz'
          port: 7104
        }
        periodSeconds: 10
        failureThreshold: 3
      }
    ]
    cpu: '0.5'
    memory: '1Gi'
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    httpConcurrency: 50
  }
}

output ADMIN_FQDN string = app.outputs.fqdn
