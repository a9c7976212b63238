{{/*
Names, labels and namespaces shared by every Longshore object. Every template here takes
the umbrella chart's root context (`.`), or a dict with `root` (that context) and `svc`
(the service: claimer, scheduler, gc, constraints, vm-scaler, runner-api-sim, logging).
*/}}

{{- define "longshore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 48 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-longshore, or the release name when it already says longshore; short enough
for "-runner-api-sim" to fit in 63 characters. */}}
{{- define "longshore.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a service's objects: <fullname>-<svc>. */}}
{{- define "longshore.svcName" -}}
{{- printf "%s-%s" (include "longshore.fullname" .root) .svc -}}
{{- end -}}

{{- define "longshore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "longshore.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{- define "longshore.labels" -}}
{{ include "longshore.selectorLabels" . }}
app.kubernetes.io/part-of: longshore
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Where task pods and their Secrets live: agent.namespace, else the release's namespace. */}}
{{- define "longshore.taskNamespace" -}}
{{- (.Values.agent | default dict).namespace | default .Release.Namespace -}}
{{- end -}}

{{/* Where the provisioner's VMs live: provisioner.namespace, else the release's namespace. */}}
{{- define "longshore.vmNamespace" -}}
{{- (.Values.provisioner | default dict).namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The Secret holding the resource class tokens: agent.customSecret, else ours. */}}
{{- define "longshore.tokenSecretName" -}}
{{- (.Values.agent | default dict).customSecret | default (printf "%s-tokens" (include "longshore.fullname" .)) -}}
{{- end -}}

{{/* The logging containers' service-account-token Secret (seed 000: "a custom service account
token for logging containers"): logging.serviceAccount.secret.name, else, when the chart
creates the account, <account>-token. Empty: the logging containers get the pod's account. */}}
{{- define "longshore.loggingTokenSecret" -}}
{{- $sa := (.Values.logging | default dict).serviceAccount | default dict -}}
{{- $named := ($sa.secret | default dict).name -}}
{{- if $named -}}{{ $named }}
{{- else if $sa.create -}}{{ printf "%s-token" ($sa.name | default (include "longshore.svcName" (dict "root" . "svc" "logging"))) }}
{{- end -}}
{{- end -}}

{{/* The Secret in seed 002's existingSecret form: provisioner.existingSecret, else ours. */}}
{{- define "longshore.provisionerSecretName" -}}
{{- (.Values.provisioner | default dict).existingSecret | default (printf "%s-provisioner" (include "longshore.fullname" .)) -}}
{{- end -}}

{{/* "true" when the values configure the provisioner (seed 002) and the vm-scaler is on. */}}
{{- define "longshore.provisionerEnabled" -}}
{{- $p := .Values.provisioner | default dict -}}
{{- if and (index .Values "vm-scaler").enabled (or $p.circleToken $p.existingSecret $p.resourceClass $p.resourceClasses) -}}
true
{{- end -}}
{{- end -}}

{{/* The provisioner's resource classes as one list: seed 002's resourceClass and our resourceClasses. */}}
{{- define "longshore.provisionerClasses" -}}
{{- $p := .Values.provisioner | default dict -}}
{{- $all := list -}}
{{- if $p.resourceClass }}{{ $all = append $all $p.resourceClass }}{{ end -}}
{{- range ($p.resourceClasses | default list) }}{{ $all = append $all . }}{{ end -}}
{{- toJson $all -}}
{{- end -}}

{{/*
The vm-scaler's pool name for a resource class, as services/vm-scaler/src/vm-pool.ts
poolNameFor computes it (lowercase, runs of other characters to "-", at most 40, then a
6-hex sha256 of the name as written), so its Role can name the pools and Secrets.
*/}}
{{- define "longshore.poolName" -}}
{{- $readable := regexReplaceAll "[^a-z0-9]+" (lower .) "-" | trimAll "-" | trunc 40 | trimSuffix "-" -}}
{{- $hash := sha256sum . | trunc 6 -}}
{{- if $readable -}}{{ printf "%s-%s" $readable $hash }}{{- else -}}{{ printf "vmpool-%s" $hash }}{{- end -}}
{{- end -}}

{{/* The Longshore image: global.image (one image for every service, chosen by command). */}}
{{- define "longshore.image" -}}
{{- $i := .Values.global.image -}}
{{- $repo := $i.repository -}}
{{- if $i.registry }}{{ $repo = printf "%s/%s" $i.registry $i.repository }}{{ end -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $repo $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo ($i.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* URL of the bundled Runner API simulator's Service. */}}
{{- define "longshore.simUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "longshore.svcName" (dict "root" . "svc" "runner-api-sim")) .Release.Namespace (index .Values "runner-api-sim").port -}}
{{- end -}}
