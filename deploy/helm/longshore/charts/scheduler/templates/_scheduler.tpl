{{/*
The scheduler: creates each task's Secret and Pod, follows the pods with an informer (list,
watch) and deletes both when the task has ended (services/scheduler/src/launcher.ts,
pod-tracker.ts). It never reads a Secret: the task token comes from Redis.
*/}}
{{- define "longshore.scheduler" -}}
{{- $ctx := dict "root" . "svc" "scheduler" -}}
{{- include "longshore.serviceAccount" $ctx }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.taskNamespace" .) "rules" (list
  (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "create" "list" "watch" "delete"))
  (dict "apiGroups" (list "") "resources" (list "secrets") "verbs" (list "create" "delete"))
)) $ctx) }}
{{ include "longshore.deployment" (merge (dict "agentSide" true "grace" (include "longshore.grace" .)) $ctx) }}
{{- end -}}
