{{/* Names and labels. */}}
{{- define "steerguard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "steerguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of a component: include "steerguard.selector" (list . "edge") */}}
{{- define "steerguard.selector" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ $ctx.Chart.Name }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "steerguard.image" -}}
{{- $img := index . 1 -}}
{{- printf "%s:%s" $img.repository (default (index . 0).Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "steerguard.validate" -}}
{{- if not (has .Values.topology (list "pod" "pool")) -}}{{ fail (printf "topology must be pod or pool, got %q" .Values.topology) }}{{- end -}}
{{- if and .Values.tls.enabled (eq .Values.topology "pod") -}}{{ fail "tls.enabled needs topology pool (the pod topology talks over loopback)" }}{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) (not .Values.tls.certManager.enabled) -}}{{ fail "tls.enabled needs tls.secretName or tls.certManager.enabled" }}{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}{{ fail "tls.certManager.enabled needs tls.certManager.issuerRef.name" }}{{- end -}}
{{- if and .Values.tls.clientAuth (not .Values.tls.clientSecretName) (not .Values.tls.certManager.enabled) -}}{{ fail "tls.clientAuth needs tls.clientSecretName or tls.certManager.enabled" }}{{- end -}}
{{- if and .Values.autoscaling.sidecar.enabled (eq .Values.topology "pod") -}}{{ fail "autoscaling.sidecar needs topology pool" }}{{- end -}}
{{- end -}}

{{- define "steerguard.sidecarService" -}}{{ include "steerguard.fullname" . }}-sidecar{{- end -}}
{{- define "steerguard.sidecarHost" -}}{{ include "steerguard.sidecarService" . }}.{{ .Release.Namespace }}.svc.cluster.local{{- end -}}
{{- define "steerguard.tlsSecret" -}}{{ default (printf "%s-sidecar-tls" (include "steerguard.fullname" .)) .Values.tls.secretName }}{{- end -}}
{{- define "steerguard.tlsClientSecret" -}}{{ default (printf "%s-edge-tls" (include "steerguard.fullname" .)) .Values.tls.clientSecretName }}{{- end -}}
{{- define "steerguard.keysSecret" -}}{{ default (printf "%s-api-keys" (include "steerguard.fullname" .)) .Values.apiKeys.existingSecret }}{{- end -}}

{{/* The edge's config: the user's, with the topology's sidecars and the chart's sections filled in. */}}
{{- define "steerguard.edgeConfig" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if not (hasKey $cfg "sidecars") -}}
{{- if eq .Values.topology "pod" -}}
{{- $_ := set $cfg "sidecars" (list (printf "127.0.0.1:%v" .Values.sidecar.port)) -}}
{{- else -}}
{{- $_ := set $cfg "sidecars" (list (printf "dns:///%s:%v" (include "steerguard.sidecarHost" .) .Values.sidecar.port)) -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $cfg "steering") -}}{{- $_ := set $cfg "steering" (dict "profile" .Values.steering.profile "strength" .Values.steering.strength) -}}{{- end -}}
{{- if and .Values.experiments (not (hasKey $cfg "experiments")) -}}{{- $_ := set $cfg "experiments" .Values.experiments -}}{{- end -}}
{{- if and .Values.events.enabled (not (hasKey $cfg "events")) -}}{{- $_ := set $cfg "events" (dict "path" .Values.events.path) -}}{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $sc := default (dict) (get $cfg "sidecar") -}}
{{- $tls := dict "ca" "/etc/steerguard/tls/ca.crt" "server_name" (default (include "steerguard.sidecarHost" .) .Values.tls.serverName) -}}
{{- if .Values.tls.clientAuth -}}{{- $_ := set $tls "cert" "/etc/steerguard/tls-client/tls.crt" -}}{{- $_ := set $tls "key" "/etc/steerguard/tls-client/tls.key" -}}{{- end -}}
{{- $_ := set $sc "tls" $tls -}}
{{- $_ := set $cfg "sidecar" $sc -}}
{{- end -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{- define "steerguard.scrapeAnnotations" -}}
{{- if (index . 0).Values.metrics.annotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* The edge container. */}}
{{- define "steerguard.edgeContainer" -}}
- name: edge
  image: {{ include "steerguard.image" (list . .Values.image.edge) }}
  imagePullPolicy: {{ .Values.image.edge.pullPolicy }}
  env:
    - name: HOST
      value: 0.0.0.0
    - name: PORT
      value: {{ .Values.edge.port | quote }}
    - name: STEERGUARD_CONFIG
      value: /etc/steerguard/config/config.json
    - name: STEERGUARD_API_KEYS
      valueFrom:
        secretKeyRef:
          name: {{ include "steerguard.keysSecret" . }}
          key: {{ .Values.apiKeys.secretKey }}
    {{- with .Values.edge.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ .Values.edge.port }}
  readinessProbe:
    httpGet: {path: /readyz, port: http}
    periodSeconds: 5
    failureThreshold: 2
  livenessProbe:
    httpGet: {path: /healthz, port: http}
    periodSeconds: 10
    failureThreshold: 3
  startupProbe:
    httpGet: {path: /healthz, port: http}
    periodSeconds: 2
    failureThreshold: 30
  {{- if gt (int .Values.edge.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      sleep:
        seconds: {{ .Values.edge.preStopSleepSeconds }}
  {{- end }}
  resources:
    {{- toYaml .Values.edge.resources | nindent 4 }}
  securityContext:
    {{- include "steerguard.containerSecurity" . | nindent 4 }}
  volumeMounts:
    - {name: config, mountPath: /etc/steerguard/config, readOnly: true}
    - {name: edge-events, mountPath: /var/lib/steerguard/events}
    - {name: edge-tmp, mountPath: /tmp}
    {{- if .Values.tls.enabled }}
    - {name: sidecar-tls, mountPath: /etc/steerguard/tls, readOnly: true}
    {{- if .Values.tls.clientAuth }}
    - {name: edge-tls, mountPath: /etc/steerguard/tls-client, readOnly: true}
    {{- end }}
    {{- end }}
{{- end -}}

{{/* The sidecar container. */}}
{{- define "steerguard.sidecarContainer" -}}
{{- $grpcPort := ternary .Values.tls.healthPort .Values.sidecar.port .Values.tls.enabled -}}
- name: sidecar
  image: {{ include "steerguard.image" (list . .Values.image.sidecar) }}
  imagePullPolicy: {{ .Values.image.sidecar.pullPolicy }}
  args:
    - --device={{ .Values.sidecar.device }}
    - --max-batch={{ .Values.sidecar.maxBatch }}
    - --max-queue={{ .Values.sidecar.maxQueue }}
    - --grace-ms={{ .Values.sidecar.graceMs }}
    - --threads={{ .Values.sidecar.threads }}
    - --replicas={{ .Values.sidecar.engineReplicas }}
    {{- if .Values.sidecar.model.source }}
    - --cache-dir=/var/cache/steerguard/models
    {{- end }}
    {{- with .Values.sidecar.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: SIDECAR_HOST
      value: {{ .Values.sidecar.host | quote }}
    - name: SIDECAR_PORT
      value: {{ .Values.sidecar.port | quote }}
    - name: SIDECAR_METRICS_PORT
      value: {{ .Values.sidecar.metricsPort | quote }}
    {{- if .Values.sidecar.model.path }}
    - name: STEERGUARD_MODEL
      value: {{ .Values.sidecar.model.path | quote }}
    {{- else if .Values.sidecar.model.source }}
    - name: STEERGUARD_MODEL
      value: ""
    - name: STEERGUARD_MODEL_SOURCE
      value: {{ .Values.sidecar.model.source | quote }}
    {{- end }}
    {{- if .Values.sidecar.profiles.volume }}
    - name: STEERGUARD_PROFILE_DIR
      value: {{ .Values.sidecar.profiles.mountPath | quote }}
    {{- end }}
    {{- if .Values.tls.enabled }}
    - {name: SIDECAR_TLS_CERT, value: /etc/steerguard/tls/tls.crt}
    - {name: SIDECAR_TLS_KEY, value: /etc/steerguard/tls/tls.key}
    {{- if .Values.tls.clientAuth }}
    - {name: SIDECAR_TLS_CLIENT_CA, value: /etc/steerguard/tls/ca.crt}
    {{- end }}
    - name: SIDECAR_HEALTH_PORT
      value: {{ .Values.tls.healthPort | quote }}
    {{- end }}
    {{- with .Values.sidecar.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: grpc
      containerPort: {{ .Values.sidecar.port }}
    - name: sidecar-metrics
      containerPort: {{ .Values.sidecar.metricsPort }}
    {{- if .Values.tls.enabled }}
    - name: grpc-health
      containerPort: {{ .Values.tls.healthPort }}
    {{- end }}
  readinessProbe:
    grpc: {port: {{ $grpcPort }}, service: steerguard.v1.Sidecar}
    periodSeconds: 5
    failureThreshold: 2
  livenessProbe:
    grpc: {port: {{ $grpcPort }}}
    periodSeconds: 10
    failureThreshold: 3
  startupProbe:
    grpc: {port: {{ $grpcPort }}}
    periodSeconds: 2
    failureThreshold: 150
  lifecycle:
    preStop:
      exec:
        command: ["/usr/bin/node", "/app/prestop.mjs", {{ .Values.sidecar.preStopDelaySeconds | quote }}]
  resources:
    {{- $res := deepCopy .Values.sidecar.resources -}}
    {{- if and .Values.sidecar.gpu.enabled (eq .Values.topology "pool") -}}
    {{- $limits := default (dict) (get $res "limits") -}}
    {{- $_ := set $limits .Values.sidecar.gpu.resourceName .Values.sidecar.gpu.count -}}
    {{- $_ := set $res "limits" $limits -}}
    {{- end }}
    {{- toYaml $res | nindent 4 }}
  securityContext:
    {{- include "steerguard.containerSecurity" . | nindent 4 }}
  volumeMounts:
    - {name: sidecar-tmp, mountPath: /tmp}
    {{- if .Values.sidecar.model.source }}
    - {name: model-cache, mountPath: /var/cache/steerguard/models}
    {{- end }}
    {{- if .Values.sidecar.model.volume }}
    - {name: models, mountPath: {{ .Values.sidecar.model.mountPath }}, readOnly: true}
    {{- end }}
    {{- if .Values.sidecar.profiles.volume }}
    - {name: profiles, mountPath: {{ .Values.sidecar.profiles.mountPath }}, readOnly: true}
    {{- end }}
    {{- if .Values.tls.enabled }}
    - {name: sidecar-tls, mountPath: /etc/steerguard/tls, readOnly: true}
    {{- end }}
{{- end -}}

{{- define "steerguard.sidecarVolumes" -}}
- {name: sidecar-tmp, emptyDir: {sizeLimit: 64Mi}}
{{- if .Values.sidecar.model.source }}
- {name: model-cache, emptyDir: {}}
{{- end }}
{{- with .Values.sidecar.model.volume }}
- name: models
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.sidecar.profiles.volume }}
- name: profiles
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "steerguard.edgeVolumes" -}}
- name: config
  configMap:
    name: {{ include "steerguard.fullname" . }}-config
- {name: edge-events, emptyDir: {sizeLimit: 1Gi}}
- {name: edge-tmp, emptyDir: {sizeLimit: 64Mi}}
{{- if .Values.tls.clientAuth }}
- name: edge-tls
  secret:
    secretName: {{ include "steerguard.tlsClientSecret" . }}
{{- end }}
{{- end -}}

{{- define "steerguard.containerSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "steerguard.podSecurity" -}}
runAsNonRoot: true
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
