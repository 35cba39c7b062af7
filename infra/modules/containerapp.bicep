// One container app with a user-assigned identity: images from the registry through the identity,
// secrets as Key Vault references through the identity. Deployed by `azd deploy` (infra/nlu.bicep,
// admin.bicep, worker.bicep) once its image is in the registry, so its first revision already has its
// image, port, probes and command.

param name string
param location string
param tags object

@description('azd service name (azure.yaml), also the container name.')
param serviceName string

param environmentId string
param identityId string
param registryServer string
param image string

@description('Ingress target port; 0 for no ingress (the training worker).')
param targetPort int

@description('Arguments after the image ENTRYPOINT (replaces its CMD).')
param args array

@description('[{ name, value } | { name, secretRef }]')
param env array

@description('[{ name, keyVaultUrl }]: secrets read from Key Vault with the app identity.')
param secrets array

param probes array
param cpu string
param memory string
param minReplicas int
param maxReplicas int

@description('Concurrent HTTP requests per replica before the HTTP scale rule adds one; 0 for no rule.')
param httpConcurrency int

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: targetPort > 0 ? {
        external: true
        targetPort: targetPort
        transport: 'auto'
        allowInsecure: false
      } : null
      registries: [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: [for secret in secrets: {
        name: secret.name
        keyVaultUrl: secret.keyVaultUrl
        identity: identityId
      }]
    }
    template: {
      containers: [
        {
          name: serviceName
          image: image
          args: args
          env: env
          probes: probes
          resources: {
            cpu: json(cpu)
            memory: memory
          }
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: httpConcurrency > 0 ? [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(httpConcurrency)
              }
            }
          }
        ] : []
      }
    }
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.?ingress.?fqdn ?? ''
