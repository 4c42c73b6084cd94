// Alert rules on what diskdr logs to Application Insights (docs/deploy.md, "Alerts"):
// every finished backup run logs one line `diskdr-run policy=... phase=... rpoSeconds=...`
// (diskdr/report.py run_event), and a function that fails (a bad setting or policy makes
// the scheduler tick fail on every run) shows as a failed request.
param location string
param tags object
param applicationInsightsId string
@description('Existing action group to notify; empty: the alerts fire without notifying.')
param actionGroupId string
param namePrefix string

var actions = empty(actionGroupId) ? { actionGroups: [] } : { actionGroups: [actionGroupId] }
var runLines = 'traces | where message startswith "diskdr-run " | parse message with "diskdr-run policy=" policy " slot=" slot " trigger=" trigger " phase=" phase " rpoSeconds=" rpoSeconds:long " vms=" vms:long " failed=" failed:long'

resource failedRuns 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failed-runs'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: backup runs Failed or PartiallyFailed'
    description: 'A diskdr backup run ended Failed or PartiallyFailed (GET /api/backups/{id} has the report).'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${runLines} | where phase in ("Failed", "PartiallyFailed") | summarize runs = dcount(strcat(slot, trigger)) by policy, phase'
          timeAggregation: 'Total'
          metricMeasureColumn: 'runs'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            { name: 'policy', operator: 'Include', values: ['*'] }
            { name: 'phase', operator: 'Include', values: ['*'] }
          ]
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: false
    actions: actions
  }
}

resource rpoBreaches 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-rpo-breaches'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: RPO breached'
    description: 'A policy with an rpo has had no Completed run for longer than its rpo (runs of the last 2 days).'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: '${runLines} | where rpoSeconds > 0 | summarize lastCompleted = maxif(timestamp, phase == "Completed"), rpoSeconds = max(rpoSeconds) by policy | where isnull(lastCompleted) or now() - lastCompleted > rpoSeconds * 1s'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            { name: 'policy', operator: 'Include', values: ['*'] }
          ]
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource failingFunctions 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failing-functions'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: functions failing'
    description: 'A diskdr function fails (a bad setting or policy fails every scheduler tick; GET /api/health says which).'
    severity: 2
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false | summarize failures = count() by name'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            { name: 'name', operator: 'Include', values: ['*'] }
          ]
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}
