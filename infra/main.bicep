// diskdr: composition and naming only (azd layout). Each resource lives in a module of app/
// (the app's resource group) or scope/ (each subscription diskdr protects). docs/deploy.md
// says what every resource is for.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: part of every name, and of the Durable task hub.')
param environmentName string

@minLength(1)
@description('Region of the app and its resource group (a region with Flex Consumption).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Comma list of the subscriptions diskdr protects (DISKDR_SUBSCRIPTION_IDS); empty: this one. Each gets the custom role assignment and an Event Grid system topic.')
param subscriptionIds string = ''

@description('Value of the diskdr-owner tag (DISKDR_INSTALL_ID): two installs never touch each other\'s points.')
param installId string = ''

@description('The policy (YAML or JSON) as text; empty: the repository\'s policies.yaml, read at build time.')
param policyText string = ''

@description('NCRONTAB of the scheduler tick (DISKDR_TICK_SCHEDULE).')
param tickSchedule string = '0 */5 * * * *'

@description('VMs whose points are taken together (DISKDR_VM_BATCH_SIZE).')
param vmBatchSize int = 10

@description('protect_vm orchestrations at once (DISKDR_MAX_VMS_IN_FLIGHT).')
param maxVmsInFlight int = 100

@description('Cross-region copies in flight per subscription and target region (DISKDR_MAX_COPIES_PER_REGION; Azure allows 100).')
param maxCopiesPerRegion int = 50

@description('Plan pruning but delete nothing (DISKDR_PRUNE_DRY_RUN).')
param pruneDryRun bool = false

@description('How long a group may take to become usable (DISKDR_GROUP_DEADLINE).')
param groupDeadline string = 'PT2H'

@description('How long a cross-region copy may take (DISKDR_COPY_DEADLINE).')
param copyDeadline string = 'P1D'

@description('How far back missed slots are caught up (DISKDR_CATCH_UP_WINDOW).')
param catchUpWindow string = 'P1D'

@description('VM-change debounce window (DISKDR_DEBOUNCE).')
param debounce string = 'PT15M'

@description('Finished orchestration instances older than this are purged; at least the catch-up window (DISKDR_PURGE_AFTER).')
param purgeAfter string = 'P1D'

@description('When the history purge runs, NCRONTAB (DISKDR_PURGE_SCHEDULE).')
param purgeSchedule string = '0 17 3 * * *'

@allowed(['AzureStorage', 'DurableTaskScheduler'])
@description('Durable Functions backend: the app\'s storage account, or a Durable Task Scheduler (large estates; docs/deploy.md).')
param durableBackend string = 'AzureStorage'

@description('Create the Event Grid subscriptions to vm_changed. Needs the code deployed first (azure.yaml\'s postdeploy hook turns it on).')
param eventsEnabled bool = false

@description('Resource id of an existing action group the alerts notify; empty: alerts fire without notifying anyone.')
param actionGroupId string = ''

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var scopeSubscriptions = empty(trim(subscriptionIds)) ? [subscription().subscriptionId] : split(replace(subscriptionIds, ' ', ''), ',')
var install = empty(installId) ? 'diskdr-${environmentName}' : installId
var policy = empty(policyText) ? loadTextContent('../policies.yaml') : policyText
// A task hub per environment: two installs sharing a storage account never share state.
// Letters and digits only, at most 45 characters (Durable's rules).
var taskHub = take('diskdr${replace(replace(replace(environmentName, '-', ''), '_', ''), '.', '')}', 45)
var functionAppName = 'func-diskdr-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-diskdr-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-diskdr-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-diskdr-${resourceToken}'
    applicationInsightsName: 'appi-diskdr-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stdiskdr${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    deploymentContainerName: 'app-package'
    deadLetterContainerName: 'eventgrid-deadletter'
  }
}

module scheduler 'app/durable-task-scheduler.bicep' = if (durableBackend == 'DurableTaskScheduler') {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    name: 'dts-diskdr-${resourceToken}'
    taskHubName: taskHub
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module app 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-diskdr-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: 'app-package'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    taskHub: taskHub
    durableTaskSchedulerEndpoint: durableBackend == 'DurableTaskScheduler' ? scheduler.outputs.endpoint : ''
    diskdrSettings: {
      DISKDR_SUBSCRIPTION_IDS: join(scopeSubscriptions, ',')
      DISKDR_INSTALL_ID: install
      DISKDR_POLICY_FILE: 'policies.yaml'
      DISKDR_POLICY_TEXT: policy
      DISKDR_ARM_ENDPOINT: environment().resourceManager
      DISKDR_TICK_SCHEDULE: tickSchedule
      DISKDR_VM_BATCH_SIZE: string(vmBatchSize)
      DISKDR_MAX_VMS_IN_FLIGHT: string(maxVmsInFlight)
      DISKDR_MAX_COPIES_PER_REGION: string(maxCopiesPerRegion)
      DISKDR_PRUNE_DRY_RUN: string(pruneDryRun)
      DISKDR_GROUP_DEADLINE: groupDeadline
      DISKDR_COPY_DEADLINE: copyDeadline
      DISKDR_CATCH_UP_WINDOW: catchUpWindow
      DISKDR_DEBOUNCE: debounce
      // Throttle-aware pacing of ARM calls, on ARM's documented buckets (docs/operations.md).
      DISKDR_ARM_PACING: 'true'
      DISKDR_ARM_BUCKETS: ''
      DISKDR_PURGE_AFTER: purgeAfter
      DISKDR_PURGE_SCHEDULE: purgeSchedule
    }
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    actionGroupId: actionGroupId
    namePrefix: 'diskdr-${environmentName}'
  }
}

// The custom role is defined once, in this subscription, assignable in every subscription
// in scope; then each subscription gets its assignment and its Event Grid system topic.
module role 'scope/role.bicep' = {
  name: 'diskdr-role'
  params: {
    roleName: 'diskdr operator (${environmentName})'
    assignableSubscriptionIds: scopeSubscriptions
  }
}

module protectedSubscriptions 'scope/subscription.bicep' = [for subscriptionId in scopeSubscriptions: {
  name: 'diskdr-scope-${take(uniqueString(subscriptionId, environmentName), 8)}'
  scope: subscription(subscriptionId)
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    roleDefinitionId: role.outputs.id
    principalId: identity.outputs.principalId
    identityId: identity.outputs.id
    eventsEnabled: eventsEnabled
    functionAppId: app.outputs.id
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: 'eventgrid-deadletter'
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = app.outputs.name
output DISKDR_INSTALL_ID string = install
output DISKDR_SUBSCRIPTION_IDS string = join(scopeSubscriptions, ',')
output DISKDR_TASK_HUB string = taskHub
