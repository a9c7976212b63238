{{/*
The constraint checker: lists and watches nodes cluster-wide (services/constraints/src/
checker.ts, an informer on /api/v1/nodes), hence a ClusterRole, only when
agent.constraintChecker.enable is true. Turned off it only clears its status on NATS.
Replicas (constraints.replicaCount) run active-passive: only the holder of the
`constraints` lease (NATS KV) checks; the others stand by, ready, to take over.
*/}}
{{- define "longshore.constraints" -}}
{{- $ctx := dict "root" . "svc" "constraints" -}}
{{- $replicas := include "longshore.ownReplicas" $ctx | int -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- include "longshore.pdb" (merge (dict "pdb" .Values.constraints.pdb "key" "constraints.pdb" "replicas" $replicas) $ctx) }}
{{- if ((.Values.agent | default dict).constraintChecker | default dict).enable }}
{{ include "longshore.clusterRole" (merge (dict "rules" (list
  (dict "apiGroups" (list "") "resources" (list "nodes") "verbs" (list "list" "watch"))
)) $ctx) }}
{{- end }}
{{ include "longshore.deployment" (merge (dict "agentSide" true "replicas" $replicas) $ctx) }}
{{- end -}}
