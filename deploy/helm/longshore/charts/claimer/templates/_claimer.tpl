{{/*
The claimer: claims tasks per resource class. Its only Kubernetes call is reading the
token Secret (services/claimer/src/main.ts: readNamespacedSecret), so its Role is `get` on
that one Secret. Drains on SIGTERM: agent.terminationGracePeriodSeconds (seed 000, 18300).
agent.replicaCount (seed 000) scales it: replicas share the classes, and a claimer's open
claims are taken over by the others when it dies. agent.pdb (CircleCI's chart: a
PodDisruptionBudget for its one Deployment) covers the claimer's pods.
*/}}
{{- define "longshore.claimer" -}}
{{- $ctx := dict "root" . "svc" "claimer" -}}
{{- $agent := .Values.agent | default dict -}}
{{- $replicas := ternary $agent.replicaCount 1 (and (hasKey $agent "replicaCount") (not (kindIs "invalid" $agent.replicaCount))) | int -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- include "longshore.pdb" (merge (dict "pdb" $agent.pdb "key" "agent.pdb" "replicas" $replicas) $ctx) }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.taskNamespace" .) "rules" (list
  (dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" (list (include "longshore.tokenSecretName" .)) "verbs" (list "get"))
)) $ctx) }}
{{ include "longshore.deployment" (merge (dict
  "agentSide" true
  "replicas" $replicas
  "grace" (include "longshore.grace" .)
  "checksums" (dict "secret" (ternary $agent.customSecret (include "longshore.tokenData" .) (not (empty $agent.customSecret))))
) $ctx) }}
{{- end -}}
