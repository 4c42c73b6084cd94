// The diskdr custom role: exactly the ARM actions diskdr's code performs (diskdr-role.json,
// checked against the code by tests/infra/test_role.py), assignable in every subscription
// in scope. Defined in the deployment's subscription.
targetScope = 'subscription'

param roleName string
param assignableSubscriptionIds array

var permissions = loadJsonContent('diskdr-role.json')

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  // A stable id per install: re-provisioning updates the role in place.
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'diskdr: incremental snapshots and VM restore points of managed disks, their cross-region copies, pruning and restores (the actions its code performs).'
    type: 'customRole'
    permissions: [
      {
        actions: permissions.actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [for id in assignableSubscriptionIds: '/subscriptions/${id}']
  }
}

output id string = role.id
