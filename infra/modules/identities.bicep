// One user-assigned managed identity per app, created before the apps so that their roles (AcrPull,
// Key Vault Secrets User) exist before the first revision pulls an image or resolves a secret.

param namePrefix string
param location string
param tags object

resource functions 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-functions'
  location: location
  tags: tags
}

resource nlu 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-nlu'
  location: location
  tags: tags
}

resource admin 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-admin'
  location: location
  tags: tags
}

resource worker 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-worker'
  location: location
  tags: tags
}

output functionsId string = functions.id
output functionsClientId string = functions.properties.clientId
output functionsPrincipalId string = functions.properties.principalId
output nluId string = nlu.id
output nluClientId string = nlu.properties.clientId
output nluPrincipalId string = nlu.properties.principalId
output adminId string = admin.id
output adminClientId string = admin.properties.clientId
output adminPrincipalId string = admin.properties.principalId
output workerId string = worker.id
output workerClientId string = worker.properties.clientId
output workerPrincipalId string = worker.properties.principalId
