{{/*
The scheduler: creates each task's Secret and Pod, follows the pods with an informer (list,
watch) and deletes both when the task has ended (services/scheduler/src/launcher.ts,
pod-tracker.ts). It never reads a Secret: the task token comes from Redis.
CircleCI's chart appends rbac.role.rules to its agent's Role and rbac.clusterRole.rules to
its ClusterRole; the scheduler is the service that acts on task pods, so the extra rules
go to its Role, and to a ClusterRole bound to it (rendered only when there are some).
Replicas (scheduler.replicaCount) share one durable consumer, so each claim reaches one of
them; pod and Secret names come from the task, so a claim launched twice is one pod.
*/}}
{{- define "longshore.scheduler" -}}
{{- $ctx := dict "root" . "svc" "scheduler" -}}
{{- $rbac := .Values.rbac | default dict -}}
{{- $replicas := include "longshore.ownReplicas" $ctx | int -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- include "longshore.pdb" (merge (dict "pdb" .Values.scheduler.pdb "key" "scheduler.pdb" "replicas" $replicas) $ctx) }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.taskNamespace" .) "rules" (concat (list
  (dict "apiGroups" (list "") "resources" (list "pods") "verbs" (list "create" "list" "watch" "delete"))
  (dict "apiGroups" (list "") "resources" (list "secrets") "verbs" (list "create" "delete"))
) (($rbac.role | default dict).rules | default list))) $ctx) }}
{{- with (($rbac.clusterRole | default dict).rules) }}
{{ include "longshore.clusterRole" (merge (dict "rules" .) $ctx) }}
{{- end }}
{{ include "longshore.deployment" (merge (dict "agentSide" true "grace" (include "longshore.grace" .) "replicas" $replicas) $ctx) }}
{{- end -}}
