{{/*
The claimer: claims tasks per resource class. Its only Kubernetes call is reading the
token Secret (services/claimer/src/main.ts: readNamespacedSecret), so its Role is `get` on
that one Secret. Drains on SIGTERM: agent.terminationGracePeriodSeconds (seed 000, 18300).
agent.pdb (CircleCI's chart: a PodDisruptionBudget for its one Deployment) covers the
claimer, the service agent.replicaCount scales.
*/}}
{{- define "longshore.claimer" -}}
{{- $ctx := dict "root" . "svc" "claimer" -}}
{{- $agent := .Values.agent | default dict -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- include "longshore.pdb" $ctx }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.taskNamespace" .) "rules" (list
  (dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" (list (include "longshore.tokenSecretName" .)) "verbs" (list "get"))
)) $ctx) }}
{{ include "longshore.deployment" (merge (dict
  "agentSide" true
  "replicas" (ternary $agent.replicaCount 1 (hasKey $agent "replicaCount"))
  "grace" (include "longshore.grace" .)
  "checksums" (dict "secret" (ternary $agent.customSecret (include "longshore.tokenData" .) (not (empty $agent.customSecret))))
) $ctx) }}
{{- end -}}
