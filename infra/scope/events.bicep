// The subscription's Event Grid system topic (Azure Resource Manager events) and its
// subscription to the vm_changed function: Event Grid schema, only successful VM writes,
// retried for a day, then dead-lettered to the app's storage with the app's identity.
param topicName string
param tags object
param identityId string
param eventsEnabled bool
param functionAppId string
param deadLetterStorageId string
param deadLetterContainerName string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  // Subscription-level (ARM) events are global.
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource vmChanged 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (eventsEnabled) {
  parent: topic
  name: 'diskdr-vm-changed'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/vm_changed'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: ['Microsoft.Resources.ResourceWriteSuccess']
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: ['Microsoft.Compute/virtualMachines/write']
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output topicId string = topic.id
