{{/*
The vm-scaler (seed 002's Runner Provisioner): reads the provisioner Secret, creates or
updates each class's cloud-init Secret and VirtualMachinePool, scales the pool through its
scale subresource, and deletes VMs whose VMI has finished (services/vm-scaler/src/
pool-applier.ts, pool-scaler.ts, vm-reaper.ts, vm-scaler.ts). Rendered only when the
values configure a provisioner. Pools and cloud-init Secrets are named by resource class
(longshore.poolName), so `get`/`update` are limited to them when the classes are in the
values; `create` cannot be limited by name in Kubernetes RBAC. Replicas
(vm-scaler.replicaCount) run active-passive: only the holder of the `vm-scaler` lease (NATS
KV) polls and scales; the others stand by, ready, to take over.
*/}}
{{- define "longshore.vm-scaler" -}}
{{- if include "longshore.provisionerEnabled" . -}}
{{- $ctx := dict "root" . "svc" "vm-scaler" -}}
{{- $pools := list -}}
{{- $initSecrets := list -}}
{{- range (include "longshore.provisionerClasses" . | fromJsonArray) -}}
{{- $pool := include "longshore.poolName" .name -}}
{{- $pools = append $pools $pool -}}
{{- $initSecrets = append $initSecrets (printf "%s-cloud-init" $pool) -}}
{{- end -}}
{{- $named := not (empty $pools) -}}
{{- $secret := include "longshore.provisionerSecretName" . -}}
{{- $rules := list
  (dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" (append $initSecrets $secret) "verbs" (list "get"))
  (dict "apiGroups" (list "") "resources" (list "secrets") "verbs" (list "create"))
  (dict "apiGroups" (list "pool.kubevirt.io") "resources" (list "virtualmachinepools") "verbs" (list "create"))
  (dict "apiGroups" (list "kubevirt.io") "resources" (list "virtualmachineinstances") "verbs" (list "list"))
  (dict "apiGroups" (list "kubevirt.io") "resources" (list "virtualmachines") "verbs" (list "delete"))
-}}
{{- if $named -}}
{{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "secrets") "resourceNames" $initSecrets "verbs" (list "update")) -}}
{{- $rules = append $rules (dict "apiGroups" (list "pool.kubevirt.io") "resources" (list "virtualmachinepools") "resourceNames" $pools "verbs" (list "get" "update")) -}}
{{- $rules = append $rules (dict "apiGroups" (list "pool.kubevirt.io") "resources" (list "virtualmachinepools/scale") "resourceNames" $pools "verbs" (list "patch")) -}}
{{- else -}}
{{- /* existingSecret without the classes in the values: their names are unknown here. */ -}}
{{- $rules = append $rules (dict "apiGroups" (list "") "resources" (list "secrets") "verbs" (list "get" "update")) -}}
{{- $rules = append $rules (dict "apiGroups" (list "pool.kubevirt.io") "resources" (list "virtualmachinepools") "verbs" (list "get" "update")) -}}
{{- $rules = append $rules (dict "apiGroups" (list "pool.kubevirt.io") "resources" (list "virtualmachinepools/scale") "verbs" (list "patch")) -}}
{{- end -}}
{{- $replicas := include "longshore.ownReplicas" $ctx | int -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- include "longshore.pdb" (merge (dict "pdb" (index .Values "vm-scaler").pdb "key" "vm-scaler.pdb" "replicas" $replicas) $ctx) }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.vmNamespace" .) "rules" $rules) $ctx) }}
{{ include "longshore.deployment" (merge (dict
  "replicas" $replicas
  "checksums" (dict "secret" (ternary .Values.provisioner.existingSecret (include "longshore.provisionerData" .) (not (empty .Values.provisioner.existingSecret))))
) $ctx) }}
{{- end -}}
{{- end -}}
