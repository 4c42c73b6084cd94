// The app's user-assigned managed identity: it reads and writes the app's storage, sends
// telemetry, holds the diskdr custom role in every subscription in scope, and writes
// Event Grid dead letters.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
