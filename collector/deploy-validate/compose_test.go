package deployvalidate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// load reads a compose file the way `docker compose` does, validating it against the compose-spec
// JSON schema (unknown keys are errors) before interpolation and normalization.
func load(t *testing.T, file string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithName("ccr-otel"),
		// Only what the file itself defaults: the developer's environment must not change the result.
		cli.WithEnv([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	return p
}

func TestComposeFileLoadsStrictly(t *testing.T) {
	p := load(t, filepath.Join(deployDir, "docker-compose.yaml"))

	col, err := p.GetService("collector")
	if err != nil {
		t.Fatal(err)
	}
	// Our image, built from collector/Dockerfile (the contrib image lacks our exporter).
	if col.Build == nil || filepath.Clean(col.Build.Context) != filepath.Clean(collectorDir) || col.Build.Dockerfile != "Dockerfile" {
		t.Errorf("collector build %+v, want context collector/ and its Dockerfile", col.Build)
	}
	if _, err := os.Stat(filepath.Join(collectorDir, "Dockerfile")); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"collector", "jaeger"} {
		svc, err := p.GetService(s)
		if err != nil {
			t.Fatal(err)
		}
		if !svc.ReadOnly || len(svc.CapDrop) != 1 || svc.CapDrop[0] != "ALL" || !contains(svc.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v cap_drop %v security_opt %v", s, svc.ReadOnly, svc.CapDrop, svc.SecurityOpt)
		}
		if svc.User == "" || strings.HasPrefix(svc.User, "0") || strings.HasPrefix(svc.User, "root") {
			t.Errorf("%s: user %q, want a non-root uid", s, svc.User)
		}
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1 only", s, port.Target, port.HostIP)
			}
		}
	}
	mounts := func(svc types.ServiceConfig) map[string]string {
		m := map[string]string{}
		for _, v := range svc.Volumes {
			m[v.Target] = v.Source
		}
		return m
	}
	cm := mounts(col)
	if cm["/etc/ccr-otelcol/config.yaml"] != filepath.Join(collectorDir, "config.yaml") || cm["/data"] != "ccr-otel-data" {
		t.Errorf("collector mounts %v", cm)
	}
	if col.Environment["CCR_OTEL_DATA_DIR"] == nil || *col.Environment["CCR_OTEL_DATA_DIR"] != "/data" {
		t.Error("collector CCR_OTEL_DATA_DIR is not the volume")
	}
	j, _ := p.GetService("jaeger")
	jm := mounts(j)
	badger := j.Environment["JAEGER_DATA_DIR"]
	if jm["/etc/jaeger/config.yaml"] != filepath.Join(collectorDir, "jaeger.yaml") || badger == nil || jm[*badger] != "jaeger-data" {
		t.Errorf("jaeger mounts %v, JAEGER_DATA_DIR %v: the Badger store must be on the jaeger-data volume", jm, badger)
	}
	if len(col.Command) < 2 || col.Command[1] != componentStatusGate {
		t.Errorf("collector command %v lacks %s (readiness from component status)", col.Command, componentStatusGate)
	}
	// The production rotation profile, as documented.
	if v := col.Environment["LOG_ROTATION_SIZE"]; v == nil || *v != "50" {
		t.Errorf("LOG_ROTATION_SIZE %v, want 50", v)
	}
}

// The loader refuses a key the compose specification does not have.
func TestComposeLoaderRefusesUnknownKeys(t *testing.T) {
	f := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(f, []byte("services:\n  a:\n    image: busybox\n    read_olny: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{f}, cli.WithName("x"), cli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "read_olny") {
		t.Fatalf("want an error naming read_olny, got %v", err)
	}
}
