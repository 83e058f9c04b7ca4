package deployvalidate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// collector/Dockerfile: the builder at the version build.sh uses, a static binary, and a final stage
// that is distroless and runs as a non-root user (what the manifests' runAsUser expects).
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile(filepath.Join(collectorDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	buildSh, err := os.ReadFile(filepath.Join(collectorDir, "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	builder := regexp.MustCompile(`go\.opentelemetry\.io/collector/cmd/builder@v[0-9.]+`)
	if a, b := builder.Find(df), builder.Find(buildSh); a == nil || string(a) != string(b) {
		t.Errorf("Dockerfile runs %s, build.sh %s", a, b)
	}
	text := string(df)
	stages := strings.Split(text, "\nFROM ")
	final := stages[len(stages)-1]
	if len(stages) < 3 || !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.Contains(strings.SplitN(final, "\n", 2)[0], ":nonroot") {
		t.Errorf("final stage is not distroless/static nonroot: FROM %s", strings.SplitN(final, "\n", 2)[0])
	}
	if !regexp.MustCompile(`(?m)^USER 65532:65532$`).MatchString(final) {
		t.Error("final stage does not run as 65532:65532")
	}
	if !strings.Contains(text, "CGO_ENABLED=0") {
		t.Error("the binary must be static for distroless/static (CGO_ENABLED=0)")
	}
	// Every local component of the manifest (`path: ./…`) is in the build context and not ignored.
	manifest, err := os.ReadFile(filepath.Join(collectorDir, "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ignore, _ := os.ReadFile(filepath.Join(collectorDir, ".dockerignore"))
	for _, m := range regexp.MustCompile(`(?m)^\s*path:\s*\./(\S+)`).FindAllSubmatch(manifest, -1) {
		dir := string(m[1])
		if st, err := os.Stat(filepath.Join(collectorDir, dir)); err != nil || !st.IsDir() {
			t.Errorf("builder-config.yaml path ./%s is not a directory of collector/", dir)
		}
		for _, line := range strings.Split(string(ignore), "\n") {
			p := strings.TrimSpace(line)
			if p != "" && !strings.HasPrefix(p, "#") && (p == dir || strings.HasPrefix(dir, p+"/")) {
				t.Errorf(".dockerignore excludes %s, which the image build needs", dir)
			}
		}
	}
	// The manifests run the image as the same user.
	for _, f := range []string{"base/collector.yaml", "overlays/scale-out/agent.yaml"} {
		m, _ := os.ReadFile(filepath.Join(kubernetesDir, f))
		if !strings.Contains(string(m), "runAsUser: 65532") {
			t.Errorf("%s does not run as 65532", f)
		}
	}
}
