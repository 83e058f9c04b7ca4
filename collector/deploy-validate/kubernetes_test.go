package deployvalidate

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizations are the entry points a user applies with `kubectl apply -k`.
var kustomizations = []string{".", "overlays/example-app", "overlays/scale-out"}

// Every manifest file in deploy/kubernetes (not the config copies, which are collector configs)
// decodes strictly into its Kubernetes API type: an unknown or misspelt field fails here, not in a cluster.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	files := 0
	err := filepath.WalkDir(kubernetesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "config" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return nil
		}
		files++
		rel, _ := filepath.Rel(kubernetesDir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if d.Name() == "kustomization.yaml" {
			var k kustypes.Kustomization
			if err := unmarshalStrict(data, &k); err != nil {
				t.Errorf("%s: %v", rel, err)
			}
			return nil
		}
		docs, err := splitDocuments(data)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		for i, doc := range docs {
			if _, err := decodeStrict(doc); err != nil {
				t.Errorf("%s, document %d: %v", rel, i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 8 {
		t.Fatalf("found only %d manifest files under %s", files, kubernetesDir)
	}
}

// The decoder itself refuses what it should: a misspelt field and an unknown kind.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"misspelt field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n", "clusterIp"},
		{"field at the wrong level", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1, runAsNonRoot: true}\n", "runAsNonRoot"},
		{"unknown kind", "apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n", "Frobnicator"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}

// Each kustomization builds, every object it renders decodes strictly, and every pod passes the
// restricted Pod Security level (as far as the pod spec decides it).
func TestKustomizationsBuildRestrictedPods(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			objs := build(t, filesys.MakeFsOnDisk(), filepath.Join(kubernetesDir, k))
			pods := 0
			for _, o := range objs {
				if o.Pod == nil {
					continue
				}
				pods++
				for _, problem := range restrictedViolations(o.Pod) {
					t.Errorf("%s %s: %s", o.Kind, o.Name, problem)
				}
				if o.Namespace != "ccr-otel" {
					t.Errorf("%s %s: namespace %q, want ccr-otel", o.Kind, o.Name, o.Namespace)
				}
			}
			if pods == 0 {
				t.Fatal("no workloads rendered")
			}
			ns := find(t, objs, "Namespace", "ccr-otel").Obj.(*corev1.Namespace)
			if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace ccr-otel does not enforce the restricted level: %v", ns.Labels)
			}
		})
	}
}

// restrictedViolations lists what the restricted Pod Security Standard refuses in a pod spec
// (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted).
func restrictedViolations(p *corev1.PodSpec) []string {
	var out []string
	psc := p.SecurityContext
	if psc == nil {
		return []string{"no pod securityContext"}
	}
	if p.HostNetwork || p.HostPID || p.HostIPC {
		out = append(out, "host namespaces")
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		out = append(out, "pod runAsUser 0")
	}
	podNonRoot := psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	for _, v := range p.Volumes {
		vs := v.VolumeSource
		if vs.ConfigMap == nil && vs.EmptyDir == nil && vs.PersistentVolumeClaim == nil && vs.Secret == nil &&
			vs.Projected == nil && vs.DownwardAPI == nil && vs.Ephemeral == nil && vs.CSI == nil {
			out = append(out, fmt.Sprintf("volume %s: type not allowed", v.Name))
		}
	}
	containers := append(append([]corev1.Container{}, p.InitContainers...), p.Containers...)
	for _, c := range containers {
		sc := c.SecurityContext
		if sc == nil {
			out = append(out, fmt.Sprintf("container %s: no securityContext", c.Name))
			continue
		}
		if !(podNonRoot || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)) {
			out = append(out, fmt.Sprintf("container %s: runAsNonRoot not true", c.Name))
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			out = append(out, fmt.Sprintf("container %s: runAsUser 0", c.Name))
		}
		if !(podSeccomp || (sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)) {
			out = append(out, fmt.Sprintf("container %s: seccompProfile not RuntimeDefault", c.Name))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			out = append(out, fmt.Sprintf("container %s: allowPrivilegeEscalation not false", c.Name))
		}
		if sc.Privileged != nil && *sc.Privileged {
			out = append(out, fmt.Sprintf("container %s: privileged", c.Name))
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			out = append(out, fmt.Sprintf("container %s: capabilities.drop is not [ALL]", c.Name))
		} else {
			for _, a := range sc.Capabilities.Add {
				if a != "NET_BIND_SERVICE" {
					out = append(out, fmt.Sprintf("container %s: adds capability %s", c.Name, a))
				}
			}
		}
		// Not part of the standard, but ours: nothing writes outside its volumes.
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			out = append(out, fmt.Sprintf("container %s: readOnlyRootFilesystem not true", c.Name))
		}
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				out = append(out, fmt.Sprintf("container %s: hostPort %d", c.Name, port.HostPort))
			}
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() ||
			c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Cpu().IsZero() {
			out = append(out, fmt.Sprintf("container %s: memory/cpu requests and limits must all be set", c.Name))
		}
	}
	return out
}

// The restricted checks above catch each of these.
func TestRestrictedViolationsCatchEachField(t *testing.T) {
	objs := build(t, filesys.MakeFsOnDisk(), kubernetesDir)
	base := find(t, objs, "StatefulSet", "ccr-otelcol").Pod
	f := false
	tr := true
	zero := int64(0)
	cases := []struct {
		name   string
		mutate func(p *corev1.PodSpec)
	}{
		{"runAsNonRoot unset", func(p *corev1.PodSpec) { p.SecurityContext.RunAsNonRoot = nil }},
		{"root user", func(p *corev1.PodSpec) { p.SecurityContext.RunAsUser = &zero }},
		{"no seccomp", func(p *corev1.PodSpec) { p.SecurityContext.SeccompProfile = nil }},
		{"privilege escalation", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.AllowPrivilegeEscalation = &tr }},
		{"capabilities kept", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.Capabilities = nil }},
		{"writable root", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f }},
		{"hostPath", func(p *corev1.PodSpec) {
			p.Volumes = append(p.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}},
		{"hostPort", func(p *corev1.PodSpec) { p.Containers[0].Ports[0].HostPort = 4317 }},
		{"no limits", func(p *corev1.PodSpec) { p.Containers[0].Resources.Limits = nil }},
	}
	if v := restrictedViolations(base); len(v) != 0 {
		t.Fatalf("the shipped pod already violates: %v", v)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base.DeepCopy()
			c.mutate(p)
			if len(restrictedViolations(p)) == 0 {
				t.Fatal("not caught")
			}
		})
	}
}

// Every ccr-otelcol container (single tier, gateways, agents): the guide's resources, GOMEMLIMIT at
// 80-90% of the memory limit, startup/liveness on /health and readiness on /ready of the health port,
// its --config files present in the mounted (hash-named) ConfigMap, and its data on a volume.
func TestCollectorContainers(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			objs := build(t, filesys.MakeFsOnDisk(), filepath.Join(kubernetesDir, k))
			n := 0
			for _, o := range objs {
				if o.Pod == nil {
					continue
				}
				for _, c := range o.Pod.Containers {
					if !strings.HasPrefix(c.Image, "ccr-otelcol:") {
						continue
					}
					n++
					checkCollectorContainer(t, objs, o, c)
				}
			}
			want := map[string]int{".": 1, "overlays/example-app": 1, "overlays/scale-out": 2}[k]
			if n != want {
				t.Fatalf("%d ccr-otelcol containers, want %d", n, want)
			}
		})
	}
}

func checkCollectorContainer(t *testing.T, objs []object, o object, c corev1.Container) {
	t.Helper()
	where := fmt.Sprintf("%s %s container %s", o.Kind, o.Name, c.Name)
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
	}
	for name, list := range map[string][2]corev1.ResourceList{"requests": {want.Requests, c.Resources.Requests}, "limits": {want.Limits, c.Resources.Limits}} {
		for r, q := range list[0] {
			got := list[1][r]
			if got.Cmp(q) != 0 {
				t.Errorf("%s: %s.%s = %s, want %s", where, name, r, got.String(), q.String())
			}
		}
	}
	env := envOf(c)
	limit := c.Resources.Limits.Memory().Value()
	if gml, err := parseGoMemLimit(env["GOMEMLIMIT"]); err != nil {
		t.Errorf("%s: GOMEMLIMIT: %v", where, err)
	} else if r := float64(gml) / float64(limit); r < 0.8 || r > 0.9 {
		t.Errorf("%s: GOMEMLIMIT %s is %.0f%% of the memory limit, want 80-90%%", where, env["GOMEMLIMIT"], r*100)
	}
	// Liveness and readiness are two health_check extensions on two ports (collector/config.yaml).
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["health"] != 13133 || env["CCR_OTEL_HEALTH_PORT"] != "13133" || ports["ready"] != 13135 || env["CCR_OTEL_READY_PORT"] != "13135" {
		t.Errorf("%s: ports %v, CCR_OTEL_HEALTH_PORT %q, CCR_OTEL_READY_PORT %q; want health 13133, ready 13135", where, ports, env["CCR_OTEL_HEALTH_PORT"], env["CCR_OTEL_READY_PORT"])
	}
	for _, pr := range []struct {
		name       string
		p          *corev1.Probe
		path, port string
	}{{"startupProbe", c.StartupProbe, "/health", "health"}, {"livenessProbe", c.LivenessProbe, "/health", "health"}, {"readinessProbe", c.ReadinessProbe, "/ready", "ready"}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", where, pr.name)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port.String() != pr.port {
			t.Errorf("%s: %s GET %s on port %s, want %s on port %s", where, pr.name, pr.p.HTTPGet.Path, pr.p.HTTPGet.Port.String(), pr.path, pr.port)
		}
	}
	// /ready reflects component status only with this feature gate (collector/start.sh sets it too).
	if !contains(c.Args, componentStatusGate) {
		t.Errorf("%s: args %v lack %s", where, c.Args, componentStatusGate)
	}
	// The startup probe covers the compaction of the persisted queue: minutes, not seconds.
	if sp := c.StartupProbe; sp != nil && sp.PeriodSeconds*sp.FailureThreshold < 120 {
		t.Errorf("%s: startupProbe allows only %d s", where, sp.PeriodSeconds*sp.FailureThreshold)
	}

	mounts := map[string]corev1.Volume{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = volumeOf(o, m.Name)
	}
	// --config=/etc/ccr-otelcol/<key>: the key exists in the ConfigMap mounted there, and that
	// ConfigMap's name carries kustomize's content hash (a changed config changes the pod template).
	configs := 0
	for _, a := range c.Args {
		file, ok := strings.CutPrefix(a, "--config=")
		if !ok {
			continue
		}
		configs++
		v, ok := mounts[filepath.Dir(file)]
		if !ok || v.ConfigMap == nil {
			t.Errorf("%s: %s is not on a ConfigMap volume", where, file)
			continue
		}
		cm := find(t, objs, "ConfigMap", v.ConfigMap.Name)
		if _, ok := cm.ConfigMap.Data[filepath.Base(file)]; !ok {
			t.Errorf("%s: ConfigMap %s has no key %s", where, cm.Name, filepath.Base(file))
		}
		if !hashSuffix.MatchString(cm.Name) {
			t.Errorf("%s: ConfigMap %s has no content hash in its name", where, cm.Name)
		}
	}
	if configs == 0 {
		t.Errorf("%s: no --config argument", where)
	}
	for _, key := range []string{"CCR_OTEL_DATA_DIR", "CCR_OTEL_STORAGE_DIR"} {
		dir, ok := env[key]
		if !ok {
			continue // agents keep no files
		}
		v, mountPath := volumeUnder(mounts, dir)
		if mountPath == "" || (v.PersistentVolumeClaim == nil && v.EmptyDir == nil && !isClaimTemplate(o, v.Name)) {
			t.Errorf("%s: %s=%s is not on a writable volume", where, key, dir)
		}
	}
	if _, ok := env["CCR_OTEL_STORAGE_DIR"]; !ok {
		t.Errorf("%s: no CCR_OTEL_STORAGE_DIR (the persisted queue)", where)
	}
}

var hashSuffix = regexp.MustCompile(`-[a-z0-9]{10}$`)

const componentStatusGate = "--feature-gates=+extension.healthcheck.useComponentStatus"

// Jaeger keeps its Badger store on a PVC of its own, and only one replica uses it.
func TestJaegerBadgerOnAVolumeClaim(t *testing.T) {
	objs := build(t, filesys.MakeFsOnDisk(), kubernetesDir)
	j := find(t, objs, "StatefulSet", "jaeger")
	sts := j.Obj.(*appsv1.StatefulSet)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("jaeger replicas %v, want 1 (Badger is a local store)", sts.Spec.Replicas)
	}
	c := j.Pod.Containers[0]
	dir := envOf(c)["JAEGER_DATA_DIR"]
	found := false
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir && isClaimTemplate(j, m.Name) {
			found = true
		}
	}
	if dir == "" || !found {
		t.Errorf("JAEGER_DATA_DIR %q is not a volumeClaimTemplate mount", dir)
	}
	if c.StartupProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Error("jaeger lacks a startup, liveness or readiness probe")
	}
}

// The example app is in its own overlay only: the default kustomization deploys no image that does not exist.
func TestExampleAppOnlyInItsOverlay(t *testing.T) {
	def := build(t, filesys.MakeFsOnDisk(), kubernetesDir)
	for _, o := range def {
		if o.Kind == "Deployment" && o.Name == "claude-code-router" {
			t.Fatal("the default kustomization deploys the example app")
		}
	}
	app := find(t, build(t, filesys.MakeFsOnDisk(), filepath.Join(kubernetesDir, "overlays/example-app")), "Deployment", "claude-code-router")
	env := envOf(app.Pod.Containers[0])
	if !strings.Contains(env["NODE_OPTIONS"], "--require @ccr/otel-setup") || !strings.HasPrefix(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://ccr-otelcol.ccr-otel.svc") {
		t.Errorf("example app env: %v", env)
	}
}

// The scale-out overlay: gateways on gateway.yaml behind a headless Service, agents on agent.yaml with
// the k8s resolver pointed at that Service, allowed to watch its EndpointSlices, and no Service that
// lets apps bypass the agents.
func TestScaleOutTier(t *testing.T) {
	objs := build(t, filesys.MakeFsOnDisk(), filepath.Join(kubernetesDir, "overlays/scale-out"))
	gw := find(t, objs, "StatefulSet", "ccr-otelcol")
	if r := gw.Obj.(*appsv1.StatefulSet).Spec.Replicas; r == nil || *r < 2 {
		t.Errorf("gateway replicas %v, want >= 2", r)
	}
	if got := gw.Pod.Containers[0].Args; len(got) != 2 || got[0] != "--config=/etc/ccr-otelcol/gateway.yaml" {
		t.Errorf("gateway args %v", got)
	}
	headless := find(t, objs, "Service", "ccr-otelcol-headless").Obj.(*corev1.Service)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || headless.Spec.Selector["app.kubernetes.io/name"] != "ccr-otelcol" {
		t.Errorf("headless service: clusterIP %q selector %v", headless.Spec.ClusterIP, headless.Spec.Selector)
	}
	if gw.Obj.(*appsv1.StatefulSet).Spec.ServiceName != headless.Name {
		t.Errorf("gateway serviceName %q, want %q", gw.Obj.(*appsv1.StatefulSet).Spec.ServiceName, headless.Name)
	}
	grpc := false
	for _, p := range headless.Spec.Ports {
		grpc = grpc || p.Port == 4317
	}
	if !grpc {
		t.Error("headless service has no port 4317")
	}
	for _, o := range objs {
		if o.Kind == "Service" && o.Name == "ccr-otelcol" {
			t.Error("the gateways' client Service is still there: apps could bypass the agents")
		}
	}

	agent := find(t, objs, "DaemonSet", "ccr-otel-agent")
	args := agent.Pod.Containers[0].Args
	if len(args) != 3 || args[0] != "--config=/etc/ccr-otelcol/agent.yaml" || args[1] != "--config=/etc/ccr-otelcol/resolver-k8s.yaml" {
		t.Errorf("agent args %v", args)
	}
	cmName := volumeOf(agent, "config").ConfigMap.Name
	var resolver struct {
		Exporters map[string]struct {
			Resolver map[string]*struct {
				Service string  `json:"service"`
				Ports   []int32 `json:"ports"`
			} `json:"resolver"`
		} `json:"exporters"`
	}
	if err := unmarshalStrict([]byte(find(t, objs, "ConfigMap", cmName).ConfigMap.Data["resolver-k8s.yaml"]), &resolver); err != nil {
		t.Fatalf("resolver-k8s.yaml: %v", err)
	}
	if len(resolver.Exporters) != 2 {
		t.Errorf("resolver-k8s.yaml sets %d exporters, want the 2 load_balancing exporters of agent.yaml", len(resolver.Exporters))
	}
	for name, e := range resolver.Exporters {
		if s, ok := e.Resolver["static"]; !ok || s != nil {
			t.Errorf("%s: static resolver not removed (static: null)", name)
		}
		k := e.Resolver["k8s"]
		if k == nil || k.Service != headless.Name+"."+headless.Namespace || len(k.Ports) != 1 || k.Ports[0] != 4317 {
			t.Errorf("%s: k8s resolver %+v, want service %s.%s port 4317", name, k, headless.Name, headless.Namespace)
		}
	}

	sa := agent.Pod.ServiceAccountName
	rb := find(t, objs, "RoleBinding", "ccr-otel-agent-resolver")
	role := find(t, objs, "Role", rb.Obj.(*rbacv1.RoleBinding).RoleRef.Name)
	bound := false
	for _, s := range rbSubjects(rb) {
		bound = bound || (s == sa)
	}
	if !bound || !grants(role, "discovery.k8s.io", "endpointslices", "list", "watch", "get") {
		t.Errorf("service account %q cannot watch EndpointSlices", sa)
	}
	agentSvc := find(t, objs, "Service", "ccr-otel-agent").Obj.(*corev1.Service)
	if agentSvc.Spec.InternalTrafficPolicy == nil || *agentSvc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
		t.Error("agent Service does not keep traffic on the node (internalTrafficPolicy: Local)")
	}
}

// Kubernetes runs exactly the configs the tests validate: the copies kustomize reads are the files
// in collector/, byte for byte, and so is what lands in the generated ConfigMaps.
func TestConfigCopiesMatchSources(t *testing.T) {
	copies := map[string]string{
		"base/config/config.yaml":                "config.yaml",
		"base/config/jaeger.yaml":                "jaeger.yaml",
		"overlays/scale-out/config/agent.yaml":   "agent.yaml",
		"overlays/scale-out/config/gateway.yaml": "gateway.yaml",
	}
	for cp, src := range copies {
		a, err := os.ReadFile(filepath.Join(kubernetesDir, cp))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(collectorDir, src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("collector/deploy/kubernetes/%s differs from collector/%s: run bash collector/deploy/kubernetes/sync-configs.sh", cp, src)
		}
	}
	objs := build(t, filesys.MakeFsOnDisk(), filepath.Join(kubernetesDir, "overlays/scale-out"))
	for _, o := range objs {
		if o.ConfigMap == nil {
			continue
		}
		for key, data := range o.ConfigMap.Data {
			src := key
			if strings.HasPrefix(o.Name, "jaeger-config") {
				src = "jaeger.yaml"
			}
			if key == "resolver-k8s.yaml" {
				continue // exists only in the overlay
			}
			b, err := os.ReadFile(filepath.Join(collectorDir, src))
			if err != nil || string(b) != data {
				t.Errorf("ConfigMap %s key %s is not collector/%s", o.Name, key, src)
			}
		}
	}
}

// A config change renames the generated ConfigMap and so changes the pod template: the pods roll.
func TestConfigChangeRollsPods(t *testing.T) {
	mem := filesys.MakeFsInMemory()
	if err := copyTree(kubernetesDir, mem); err != nil {
		t.Fatal(err)
	}
	before := find(t, build(t, mem, kubernetesDir), "StatefulSet", "ccr-otelcol")
	cfg := filepath.Join(kubernetesDir, "base", "config", "config.yaml")
	data, _ := mem.ReadFile(cfg)
	if err := mem.WriteFile(cfg, append(data, []byte("# changed\n")...)); err != nil {
		t.Fatal(err)
	}
	after := find(t, build(t, mem, kubernetesDir), "StatefulSet", "ccr-otelcol")
	b, a := volumeOf(before, "config").ConfigMap.Name, volumeOf(after, "config").ConfigMap.Name
	if a == b {
		t.Fatalf("ConfigMap name %s unchanged after a config change: the pods would not roll", a)
	}
}

func copyTree(dir string, to filesys.FileSystem) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() {
				return to.MkdirAll(path)
			}
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return to.WriteFile(path, data)
	})
}

func build(t *testing.T, fSys filesys.FileSystem, dir string) []object {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fSys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o, err := decodeStrict(y)
		if err != nil {
			t.Fatalf("kustomize build %s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		out = append(out, o)
	}
	return out
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return object{}
}

func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func volumeOf(o object, name string) corev1.Volume {
	for _, v := range o.Pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	return corev1.Volume{Name: name} // a volumeClaimTemplate
}

func isClaimTemplate(o object, name string) bool {
	if sts, ok := o.Obj.(*appsv1.StatefulSet); ok {
		for _, c := range sts.Spec.VolumeClaimTemplates {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// volumeUnder returns the volume whose mount path is the longest prefix of dir.
func volumeUnder(mounts map[string]corev1.Volume, dir string) (corev1.Volume, string) {
	best := ""
	for mp := range mounts {
		if (dir == mp || strings.HasPrefix(dir, mp+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	return mounts[best], best
}

// parseGoMemLimit reads the runtime's GOMEMLIMIT syntax: a number of bytes with an optional
// B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			var v int64
			if _, err := fmt.Sscanf(n, "%d", &v); err != nil || fmt.Sprint(v) != n {
				return 0, fmt.Errorf("%q is not a GOMEMLIMIT value", s)
			}
			return v * u.mult, nil
		}
	}
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || fmt.Sprint(v) != s {
		return 0, fmt.Errorf("%q is not a GOMEMLIMIT value", s)
	}
	return v, nil
}
