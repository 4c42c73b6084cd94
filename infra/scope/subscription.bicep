// One subscription in scope: the diskdr role assigned to the app's identity on the whole
// subscription, and (once the code is deployed) VM writes delivered to vm_changed through
// the subscription's Event Grid system topic.
targetScope = 'subscription'

param environmentName string
param location string
param tags object
param roleDefinitionId string
param principalId string
param identityId string
param eventsEnabled bool
param functionAppId string
param deadLetterStorageId string
param deadLetterContainerName string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// A system topic lives in a resource group of the subscription whose events it carries.
resource eventsGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-diskdr-${environmentName}-events'
  location: location
  tags: tags
}

module events 'events.bicep' = {
  name: 'diskdr-events'
  scope: eventsGroup
  params: {
    topicName: 'evgt-diskdr-${environmentName}'
    tags: tags
    identityId: identityId
    eventsEnabled: eventsEnabled
    functionAppId: functionAppId
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainerName: deadLetterContainerName
  }
}
