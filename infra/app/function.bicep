// The function app on Flex Consumption (Linux, Python 3.11), running as the user-assigned
// identity: host storage and the deployment package through that identity, telemetry to
// Application Insights with Entra ID auth, and every DISKDR_* setting from main.bicep.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param maximumInstanceCount int
@description('Durable task hub: one per environment.')
param taskHub string
@description('Durable Task Scheduler endpoint; empty: the Azure Storage backend.')
param durableTaskSchedulerEndpoint string
@description('The DISKDR_* app settings (main.bicep sets each from a parameter).')
param diskdrSettings object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone-redundant Flex Consumption is not offered in every region; the app is a scheduler, its data is in Compute
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// Host storage through the identity (no connection string): the AzureWebJobsStorage__*
// settings name the services and the credential.
var hostStorage = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
}

var telemetry = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential in diskdr picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
}

// host.json values overridden per environment: the task hub, and the backend when the
// Durable Task Scheduler is chosen.
var durableHub = {
  AzureFunctionsJobHost__extensions__durableTask__hubName: taskHub
}
var durableScheduler = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
}
var durable = empty(durableTaskSchedulerEndpoint) ? durableHub : union(durableHub, durableScheduler)

var appSettings = union(hostStorage, telemetry, durable, diskdrSettings)

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid and operators reach the app over its public endpoint; HTTP functions need a function key
  // checkov:skip=CKV_AZURE_17: Event Grid cannot present a client certificate; function keys and the Event Grid extension key authenticate callers
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero; timers and Durable wake it, no standing instance is needed
  // checkov:skip=CKV_AZURE_213: App Service health check needs an anonymous path; /api/health is function-key protected and the alerts watch failures
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'diskdr' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: 2048
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
