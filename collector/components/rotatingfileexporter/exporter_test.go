package rotatingfileexporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// statusHost records the component status the exporter reports (the health_check extension reads it).
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []componentstatus.Status
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev.Status())
	h.mu.Unlock()
}

func newTestLogsExporter(t *testing.T, path string) (exporter.Logs, *statusHost) {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Path = path
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(componentType), cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := &statusHost{}
	if err := exp.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	return exp, host
}

// The file holds exactly pdata's OTLP-JSON of each request, one per line, once ConsumeLogs returns.
func TestExporterWritesOTLPJSONLinesBeforeReturning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs.jsonl")
	exp, _ := newTestLogsExporter(t, path)
	defer exp.Shutdown(context.Background())
	want := ""
	for i := range 3 {
		ld := testLogs(1, 1, i+1, func(string) int { return 10 })
		b, _ := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		want += string(b) + "\n"
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != want {
			t.Fatalf("after request %d the file is\n%s\nwant\n%s", i, got, want)
		}
	}
}

// A write error reaches the caller as a retryable error (the OTLP receiver answers 503 and the
// sender retries), and the component reports RecoverableError until a write succeeds again.
func TestExporterReturnsWriteErrorAndReportsStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs.jsonl")
	exp, host := newTestLogsExporter(t, path)
	defer exp.Shutdown(context.Background())

	// The disk fills up: the current file is now /dev/full (ENOSPC on every write).
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test needs /dev/full (Linux) to simulate a full disk: %v", err)
	}
	rf := openFiles.files[mustAbs(t, path)].rotatingFile
	rf.mu.Lock()
	rf.file.Close()
	rf.file, _ = os.OpenFile("/dev/full", os.O_WRONLY, 0)
	rf.mu.Unlock()

	err := exp.ConsumeLogs(context.Background(), testLogs(1, 1, 2, func(string) int { return 10 }))
	if err == nil || consumererror.IsPermanent(err) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("want a retryable ENOSPC error, got %v", err)
	}
	if err := exp.ConsumeLogs(context.Background(), testLogs(1, 1, 2, func(string) int { return 10 })); err != nil {
		t.Fatalf("the write after the disk has space again: %v", err)
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	if len(host.events) != 2 || host.events[0] != componentstatus.StatusRecoverableError || host.events[1] != componentstatus.StatusOK {
		t.Fatalf("status events %v, want [RecoverableError OK]", host.events)
	}
}

// Two signals pointed at one path share one writer; different settings for one path are refused.
func TestExportersShareAFileByPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "all.jsonl")
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Path = path
	set := exportertest.NewNopSettings(componentType)
	logs, _ := f.CreateLogs(context.Background(), set, cfg)
	traces, _ := f.CreateTraces(context.Background(), set, cfg)
	host := &statusHost{}
	if err := logs.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	if err := traces.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	if got := openFiles.files[mustAbs(t, path)].refs; got != 2 {
		t.Fatalf("%d references, want 2", got)
	}
	other := *cfg
	other.MaxMegabytes++
	if _, err := openFiles.acquire(&other, set.Logger); err == nil || !strings.Contains(err.Error(), "different settings") {
		t.Fatalf("a second exporter with other settings for the same file: %v", err)
	}
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("s")
	if err := traces.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if err := logs.ConsumeLogs(context.Background(), testLogs(1, 1, 1, func(string) int { return 1 })); err != nil {
		t.Fatal(err)
	}
	logs.Shutdown(context.Background())
	traces.Shutdown(context.Background())
	if _, open := openFiles.files[mustAbs(t, path)]; open {
		t.Fatal("file still open after both shut down")
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Fatalf("%d lines, want 2", n)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
