{{/*
The constraint checker: lists and watches nodes cluster-wide (services/constraints/src/
checker.ts, an informer on /api/v1/nodes), hence a ClusterRole, only when
agent.constraintChecker.enable is true. Turned off it only clears its status on NATS.
*/}}
{{- define "longshore.constraints" -}}
{{- $ctx := dict "root" . "svc" "constraints" -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- if ((.Values.agent | default dict).constraintChecker | default dict).enable }}
{{ include "longshore.clusterRole" (merge (dict "rules" (list
  (dict "apiGroups" (list "") "resources" (list "nodes") "verbs" (list "list" "watch"))
)) $ctx) }}
{{- end }}
{{ include "longshore.deployment" (merge (dict "agentSide" true) $ctx) }}
{{- end -}}
