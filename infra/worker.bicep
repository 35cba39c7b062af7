// The training worker's container app (no ingress), deployed by `azd deploy worker` once its image is
// in the registry. It reads notify-webhook-url only when the vault holds it (infra/hooks/secrets.py).

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

param adminUrl string

@allowed([
  'azureml'
  'local'
])
param trainingBackend string
param amlWorkspace string
param amlCompute string
param amlEnvironment string
param amlProcessesPerInstance string
@description('\'true\' when the vault holds notify-webhook-url (infra/hooks/secrets.py says).')
@allowed([
  'true'
  'false'
])
param notifyWebhookInVault string = 'false'

@description('Worker replicas (0 stops it; more than 1 share the queue).')
@minValue(0)
param replicas int = 1

module shared 'modules/appenv.bicep' = {
  name: 'worker-env'
  params: {
    clientId: identityClientId
    storageAccountName: storageAccountName
    appInsightsConnectionString: appInsightsConnectionString
    appInsightsLocalAuthDisabled: appInsightsLocalAuthDisabled == 'true'
  }
}

module app 'modules/containerapp.bicep' = {
  name: 'worker-app'
  params: {
    name: name
    location: location
    tags: {
      'azd-env-name': environmentName
      application: 'switchboard'
    }
    serviceName: 'worker'
    environmentId: environmentId
    identityId: identityId
    registryServer: registryServer
    image: image
    targetPort: 0
    args: [
      'worker'
    ]
    env: concat(shared.outputs.env, [
      { name: 'TRAINING_BACKEND', value: trainingBackend }
      { name: 'NLU_REGISTRY', value: 'azure://models' }
      { name: 'TRAINING_STORE', value: 'azure://training' }
      { name: 'ADMIN_BASE_URL', value: adminUrl }
      { name: 'AZUREML_SUBSCRIPTION_ID', value: subscription().subscriptionId }
      { name: 'AZUREML_RESOURCE_GROUP', value: resourceGroup().name }
      { name: 'AZUREML_WORKSPACE', value: amlWorkspace }
      { name: 'AZUREML_ENVIRONMENT', value: amlEnvironment }
      { name: 'AZUREML_COMPUTE', value: amlCompute }
      { name: 'AZUREML_PROCESSES_PER_INSTANCE', value: amlProcessesPerInstance }
    ], notifyWebhookInVault == 'true' ? [
      { name: 'NOTIFY_WEBHOOK_URL', secretRef: 'notify-webhook-url' }
    ] : [])
    secrets: notifyWebhookInVault == 'true' ? [
      { name: 'notify-webhook-url', keyVaultUrl: '${keyVaultUri}secrets/notify-webhook-url' }
    ] : []
    probes: []
    cpu: '1.0'
    memory: '2Gi'
    minReplicas: replicas
    maxReplicas: max(replicas, 1)
    httpConcurrency: 0
  }
}
