// The NLU service's container app, deployed by `azd deploy nlu` once its image is in the registry (azd
// deploys `infra/<service>.bicep` with `<service>.parameters.json`): the first revision runs the real
// image on its port with its probes. Parses need `Authorization: Bearer <key>` (NLU_API_KEYS, from Key
// Vault); /healthz and /readyz answer without it.

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

@minValue(0)
param minReplicas int = 1

@minValue(1)
param maxReplicas int = 10

@description('Concurrent requests per replica before another is added.')
param httpConcurrency int = 50

module shared 'modules/appenv.bicep' = {
  name: 'nlu-env'
  params: {
    clientId: identityClientId
    storageAccountName: storageAccountName
    appInsightsConnectionString: appInsightsConnectionString
    appInsightsLocalAuthDisabled: appInsightsLocalAuthDisabled == 'true'
  }
}

module app 'modules/containerapp.bicep' = {
  name: 'nlu-app'
  params: {
    name: name
    location: location
    tags: {
      'azd-env-name': environmentName
      application: 'switchboard'
    }
    serviceName: 'nlu'
    environmentId: environmentId
    identityId: identityId
    registryServer: registryServer
    image: image
    targetPort: 8080
    args: []
    env: concat(shared.outputs.env, [
      { name: 'NLU_REGISTRY', value: 'azure://models' }
      { name: 'NLU_API_KEYS', secretRef: 'nlu-api-keys' }
    ])
    secrets: [
      { name: 'nlu-api-keys', keyVaultUrl: '${keyVaultUri}secrets/nlu-api-keys' }
    ]
    probes: [
      {
        type: 'Readiness'
        httpGet: {
          path: '/readyz'
          port: 8080
        }
        periodSeconds: 5
        failureThreshold: 3
      }
      {
        type: 'Liveness'
        httpGet: {
          path: '/healthz'
          port: 8080
        }
        periodSeconds: 10
        failureThreshold: 3
      }
    ]
    cpu: '1.0'
    memory: '2Gi'
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    httpConcurrency: httpConcurrency
  }
}

output NLU_FQDN string = app.outputs.fqdn
